//! The benchmark peers: the echo and HTTP servers of `protocols.rs`, written the idiomatic
//! way on tokio (current_thread) and monoio, sharing the HTTP parser so every server does
//! the same work per request.
#![allow(dead_code)]

use crate::http::answer;
use std::io;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum App {
    Echo,
    Http,
}

impl std::str::FromStr for App {
    type Err = io::Error;
    fn from_str(s: &str) -> io::Result<App> {
        match s {
            "echo" => Ok(App::Echo),
            "http" => Ok(App::Http),
            other => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("--app must be echo or http, not {other:?}"),
            )),
        }
    }
}

/// What every peer does with bytes it read: appends the replies to `out`; `true` when
/// the connection must close.
fn respond(app: App, pending: &mut Vec<u8>, data: &[u8], out: &mut Vec<u8>) -> bool {
    match app {
        App::Echo => {
            out.extend_from_slice(data);
            false
        }
        App::Http => answer(pending, data, |response| out.extend_from_slice(response)),
    }
}

/// Serves `app` on tokio's current_thread runtime until the process is killed.
pub fn serve_tokio(app: App, listener: std::net::TcpListener) -> io::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    listener.set_nonblocking(true)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::from_std(listener)?;
        loop {
            let (mut stream, _) = listener.accept().await?;
            stream.set_nodelay(true)?;
            tokio::spawn(async move {
                let mut buf = vec![0u8; 64 * 1024];
                let mut pending = Vec::new();
                let mut out = Vec::new();
                loop {
                    let n = match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    let close = respond(app, &mut pending, &buf[..n], &mut out);
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

/// Serves `app` on monoio (io_uring, falling back to epoll) until the process is killed.
pub fn serve_monoio(app: App, listener: std::net::TcpListener) -> io::Result<()> {
    use monoio::io::{AsyncReadRent, AsyncWriteRentExt};
    let mut rt = monoio::RuntimeBuilder::<monoio::FusionDriver>::new()
        .enable_timer()
        .build()?;
    rt.block_on(async move {
        let listener = monoio::net::TcpListener::from_std(listener)?;
        loop {
            let (mut stream, _) = listener.accept().await?;
            stream.set_nodelay(true)?;
            monoio::spawn(async move {
                let mut buf = vec![0u8; 64 * 1024];
                let mut pending = Vec::new();
                let mut out = Vec::new();
                loop {
                    let (res, back) = stream.read(buf).await;
                    buf = back;
                    let n = match res {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    let close = respond(app, &mut pending, &buf[..n], &mut out);
                    if !out.is_empty() {
                        let (res, back) = stream.write_all(out).await;
                        out = back;
                        if res.is_err() {
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
