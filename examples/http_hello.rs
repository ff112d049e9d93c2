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

use ringloop::transport::{create_server, Protocol, Transport};

const OK: &[u8] = b"HTTP/1.1 200 OK\r\nServer: ringloop\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, World!";
const BAD: &[u8] = b"HTTP/1.1 400 Bad Request\r\nServer: ringloop\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
/// Longest request head accepted; longer is malformed.
const MAX_HEAD: usize = 16 * 1024;

#[derive(Default)]
struct Http {
    transport: Option<Transport>,
    pending: Vec<u8>,
}

enum Parsed {
    /// A complete request of this many bytes (head + body); `true` if the client asked to close.
    Request(usize, bool),
    Incomplete,
    Malformed,
}

fn parse(buf: &[u8]) -> Parsed {
    let Some(head_end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        return if buf.len() > MAX_HEAD {
            Parsed::Malformed
        } else {
            Parsed::Incomplete
        };
    };
    let Ok(head) = std::str::from_utf8(&buf[..head_end]) else {
        return Parsed::Malformed;
    };
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or("");
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Parsed::Malformed;
    };
    if method.is_empty()
        || !method.bytes().all(|b| b.is_ascii_uppercase())
        || !target.starts_with('/')
    {
        return Parsed::Malformed;
    }
    let mut close = match version {
        "HTTP/1.1" => false,
        "HTTP/1.0" => true,
        _ => return Parsed::Malformed,
    };
    let mut body = 0usize;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            return Parsed::Malformed;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            match value.parse() {
                Ok(n) => body = n,
                Err(_) => return Parsed::Malformed,
            }
        } else if name.eq_ignore_ascii_case("connection") {
            close = value.eq_ignore_ascii_case("close")
                || (close && !value.eq_ignore_ascii_case("keep-alive"));
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            // Chunked request bodies are out of this demo's scope.
            return Parsed::Malformed;
        }
    }
    let total = head_end + 4 + body;
    if buf.len() < total {
        return Parsed::Incomplete;
    }
    Parsed::Request(total, close)
}

impl Protocol for Http {
    fn connection_made(&mut self, transport: &Transport) {
        self.transport = Some(transport.clone());
    }

    fn data_received(&mut self, data: &[u8]) {
        let Some(t) = self.transport.clone() else {
            return;
        };
        self.pending.extend_from_slice(data);
        let mut consumed = 0;
        loop {
            match parse(&self.pending[consumed..]) {
                Parsed::Request(len, close) => {
                    consumed += len;
                    let _ = t.write(OK);
                    if close {
                        t.close();
                        break;
                    }
                }
                Parsed::Incomplete => break,
                Parsed::Malformed => {
                    let _ = t.write(BAD);
                    t.close();
                    break;
                }
            }
        }
        self.pending.drain(..consumed);
    }
}

fn main() -> std::io::Result<()> {
    let args = args::parse(8080)?;
    let rt = args::runtime(&args, "http_hello")?;
    rt.block_on(async {
        let server = create_server(Http::default, ("127.0.0.1", args.port)).await?;
        args::serve_for(&args).await;
        server.close();
        server.close_clients();
        ringloop::time::timeout(std::time::Duration::from_secs(5), server.wait_closed())
            .await
            .ok();
        std::io::Result::Ok(())
    })?
}
