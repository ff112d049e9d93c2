//! A minimal HTTP/1.1 keep-alive server: every request gets `200 OK` and `Hello, World!`.
//! Pipelined requests are answered in order; a malformed request gets `400` and a close.
//!
//! ```text
//! cargo run --release --example http_hello -- --port 8080 --backend uring
//! curl -v http://127.0.0.1:8080/
//! wrk -t1 -c64 -d10s http://127.0.0.1:8080/
//! ```

#[path = "common/args.rs"]
mod args;
#[path = "common/http.rs"]
mod http;

#[path = "common/protocols.rs"]
mod protocols;

use protocols::Http;
use ringloop::transport::create_server;

fn main() -> std::io::Result<()> {
    let args = args::parse(8080)?;
    let rt = args::runtime(&args, "http_hello")?;
    rt.block_on(async {
        let server = create_server(Http::default, ("127.0.0.1", args.port)).await?;
        args::serve_then_close(&args, server).await;
        std::io::Result::Ok(())
    })?
}
