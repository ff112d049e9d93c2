//! The benchmark peers for `echo_server` and `http_hello`: the same servers on tokio
//! (current_thread) or monoio, for `benches/` and for reproducing the figures by hand.
//!
//! ```text
//! cargo run --release --example peer_server -- --runtime tokio --app http --port 8081
//! cargo run --release --example peer_server -- --runtime monoio --app echo --port 7001
//! ```

#[path = "common/http.rs"]
mod http;
#[path = "common/peers.rs"]
mod peers;

use std::io;

fn main() -> io::Result<()> {
    let mut runtime = String::from("tokio");
    let mut app = peers::App::Http;
    let mut port = 8081u16;
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().unwrap_or_default();
        match flag.as_str() {
            "--runtime" => runtime = value,
            "--app" => app = value.parse()?,
            "--port" => {
                port = value.parse().map_err(|e| {
                    io::Error::new(io::ErrorKind::InvalidInput, format!("--port: {e}"))
                })?
            }
            other => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "unknown flag {other}: use --runtime tokio|monoio --app echo|http --port N"
                    ),
                ))
            }
        }
    }
    let listener = std::net::TcpListener::bind(("127.0.0.1", port))?;
    println!("peer_server: {runtime} {app:?} on 127.0.0.1:{port}");
    match runtime.as_str() {
        "tokio" => peers::serve_tokio(app, listener),
        "monoio" => peers::serve_monoio(app, listener),
        other => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("--runtime must be tokio or monoio, not {other:?}"),
        )),
    }
}
