//! The benchmark peer for `http_hello`: the same tiny HTTP/1.1 keep-alive server on tokio's
//! current_thread runtime (a dev-dependency; used by `benches/http_cpu.sh`).
//!
//! ```text
//! cargo run --release --example peer_http_tokio -- --port 8081
//! ```

#[path = "common/http.rs"]
mod http;

use http::{parse, Parsed, BAD, OK};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let port: u16 = args
        .iter()
        .position(|a| a == "--port")
        .and_then(|i| args.get(i + 1))
        .and_then(|p| p.parse().ok())
        .unwrap_or(8081);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    println!("peer_http_tokio: tokio current_thread, listening on 127.0.0.1:{port}");
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
        loop {
            let (mut stream, _) = listener.accept().await?;
            stream.set_nodelay(true)?;
            tokio::spawn(async move {
                let mut buf = vec![0u8; 65536];
                let mut pending: Vec<u8> = Vec::new();
                let mut out = Vec::new();
                loop {
                    let n = match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    pending.extend_from_slice(&buf[..n]);
                    let mut consumed = 0;
                    let mut close = false;
                    loop {
                        match parse(&pending[consumed..]) {
                            Parsed::Request(len, wants_close) => {
                                consumed += len;
                                out.extend_from_slice(OK);
                                if wants_close {
                                    close = true;
                                    break;
                                }
                            }
                            Parsed::Incomplete => break,
                            Parsed::Malformed => {
                                out.extend_from_slice(BAD);
                                close = true;
                                break;
                            }
                        }
                    }
                    pending.drain(..consumed);
                    if !out.is_empty() {
                        if stream.write_all(&out).await.is_err() {
                            return;
                        }
                        out.clear();
                    }
                    if close {
                        return;
                    }
                }
            });
        }
    })
}
