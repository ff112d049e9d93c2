//! A concurrent crawler: fetches pages from a local HTTP server it starts itself, reusing
//! keep-alive connections, with a semaphore bounding concurrency; prints the speed-up over
//! fetching one by one.
//!
//! ```text
//! cargo run --release --example crawler -- --pages 200 --concurrency 16
//! ```

use ringloop::net::TcpStream;
use ringloop::sync::{Mutex, Semaphore};
use ringloop::time::sleep;
use ringloop::transport::open_connection;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// Each page takes the server this long, like a slow backend.
const SERVER_DELAY: Duration = Duration::from_millis(10);

/// A tiny keep-alive server: answers `GET /page/N` after SERVER_DELAY.
async fn serve(listener: ringloop::net::TcpListener) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            return;
        };
        ringloop::spawn(async move {
            let stream = Rc::new(stream);
            let mut pending = Vec::new();
            loop {
                let (res, buf) = stream.read(Vec::with_capacity(4096)).await;
                match res {
                    Ok(0) | Err(_) => return,
                    Ok(_) => pending.extend_from_slice(&buf),
                }
                while let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
                    let head = String::from_utf8_lossy(&pending[..end]).into_owned();
                    pending.drain(..end + 4);
                    let path = head.split(' ').nth(1).unwrap_or("/").to_string();
                    sleep(SERVER_DELAY).await;
                    let body = format!("page {path}");
                    let reply = format!(
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
                        body.len()
                    );
                    if stream.write_all(reply.into_bytes()).await.0.is_err() {
                        return;
                    }
                }
            }
        });
    }
}

/// One keep-alive client connection.
struct Connection {
    reader: ringloop::transport::StreamReader,
    writer: ringloop::transport::StreamWriter,
}

impl Connection {
    async fn get(&mut self, path: &str) -> io::Result<Vec<u8>> {
        self.writer
            .write_all(format!("GET {path} HTTP/1.1\r\nHost: local\r\n\r\n").as_bytes())
            .await?;
        let mut length = 0;
        loop {
            let line = self.reader.read_line().await?;
            if line == b"\r\n" {
                break;
            }
            let line = String::from_utf8_lossy(&line).to_ascii_lowercase();
            if let Some(v) = line.strip_prefix("content-length:") {
                length = v.trim().parse().map_err(|_| {
                    io::Error::new(io::ErrorKind::InvalidData, "bad Content-Length")
                })?;
            }
        }
        self.reader.read_exact(length).await
    }
}

/// Fetches `pages` pages with at most `concurrency` in flight, reusing connections.
async fn crawl(addr: SocketAddr, pages: usize, concurrency: usize) -> io::Result<usize> {
    let limit = Rc::new(Semaphore::new(concurrency));
    let pool: Rc<Mutex<Vec<Connection>>> = Rc::new(Mutex::new(Vec::new()));
    let fetches = (0..pages).map(|n| {
        let (limit, pool) = (limit.clone(), pool.clone());
        async move {
            let _permit = limit.acquire().await;
            let reused = pool.lock().await.pop();
            let mut conn = match reused {
                Some(c) => c,
                None => {
                    let (reader, writer) = open_connection(addr).await?;
                    Connection { reader, writer }
                }
            };
            let body = conn.get(&format!("/page/{n}")).await?;
            pool.lock().await.push(conn);
            io::Result::Ok(body.len())
        }
    });
    let sizes = ringloop::future::try_join_all(fetches).await?;
    Ok(sizes.iter().sum())
}

fn flag(name: &str, default: usize) -> io::Result<usize> {
    let args: Vec<String> = std::env::args().collect();
    match args.iter().position(|a| a == name) {
        Some(i) => args
            .get(i + 1)
            .and_then(|v| v.parse().ok())
            .filter(|v| *v > 0)
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("{name} needs a positive number"),
                )
            }),
        None => Ok(default),
    }
}

fn main() -> io::Result<()> {
    let pages = flag("--pages", 200)?;
    let concurrency = flag("--concurrency", 16)?;
    ringloop::run(async move {
        let listener = ringloop::net::TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        ringloop::spawn(serve(listener));
        let _ = TcpStream::connect(addr).await?; // the server is up

        let start = Instant::now();
        let bytes = crawl(addr, pages, 1).await?;
        let sequential = start.elapsed();
        let start = Instant::now();
        let bytes_concurrent = crawl(addr, pages, concurrency).await?;
        let concurrent = start.elapsed();
        assert_eq!(bytes, bytes_concurrent);
        println!("{pages} pages ({bytes} bytes of bodies), server delay {SERVER_DELAY:?} per page");
        println!(
            "  one by one:          {:>8.1} ms",
            sequential.as_secs_f64() * 1e3
        );
        println!(
            "  {concurrency:>3} at a time:      {:>8.1} ms",
            concurrent.as_secs_f64() * 1e3
        );
        println!(
            "  speed-up:            {:>8.1}x",
            sequential.as_secs_f64() / concurrent.as_secs_f64()
        );
        io::Result::Ok(())
    })?
}
