//! The flags every example server takes: `--port N`, `--backend auto|uring|epoll`,
//! `--seconds N` and `--spin-us N` (`Builder::spin_before_park`).
#![allow(dead_code)] // each example uses part of it

use ringloop::{Backend, Runtime};
use std::io;

pub struct Args {
    pub port: u16,
    pub backend: Backend,
    /// Stop after this many seconds (0: run until killed).
    pub seconds: u64,
    /// Microseconds to spin for work before parking (0: park at once).
    pub spin_us: u64,
}

pub fn parse(default_port: u16) -> io::Result<Args> {
    parse_with_spin(default_port, 0)
}

/// [`parse`] for a server that spins `default_spin_us` before parking unless told otherwise.
pub fn parse_with_spin(default_port: u16, default_spin_us: u64) -> io::Result<Args> {
    let mut args = Args {
        port: default_port,
        backend: Backend::Auto,
        seconds: 0,
        spin_us: default_spin_us,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || {
            it.next().ok_or_else(|| {
                io::Error::new(io::ErrorKind::InvalidInput, format!("{flag} needs a value"))
            })
        };
        match flag.as_str() {
            "--port" => {
                args.port = value()?.parse().map_err(|e| {
                    io::Error::new(io::ErrorKind::InvalidInput, format!("--port: {e}"))
                })?
            }
            "--backend" => args.backend = value()?.parse()?,
            "--seconds" => args.seconds = number(&flag, value()?)?,
            "--spin-us" => args.spin_us = number(&flag, value()?)?,
            "-h" | "--help" => {
                println!(
                    "flags: --port N (default {default_port}), --backend auto|uring|epoll, \
                     --seconds N (0 = forever), --spin-us N (spin before parking, \
                     default {default_spin_us})"
                );
                std::process::exit(0);
            }
            other => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("unknown flag {other}; try --help"),
                ))
            }
        }
    }
    Ok(args)
}

fn number(flag: &str, value: String) -> io::Result<u64> {
    value.parse().map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{flag} {value:?}: {e}"),
        )
    })
}

pub fn runtime(args: &Args, name: &str) -> io::Result<Runtime> {
    let rt = Runtime::builder()
        .backend(args.backend)
        .spin_before_park(std::time::Duration::from_micros(args.spin_us))
        .build()?;
    println!(
        "{name}: backend = {} ({}), listening on 127.0.0.1:{}",
        rt.backend(),
        rt.describe(),
        args.port
    );
    Ok(rt)
}

/// Runs until `--seconds` pass (or forever), or until Ctrl-C / SIGTERM: then the caller
/// shuts down gracefully.
pub async fn serve_for(args: &Args) {
    use ringloop::future::{race, Either};
    use ringloop::signal::{signal, SignalKind};
    let duration = async {
        if args.seconds == 0 {
            std::future::pending::<()>().await
        } else {
            ringloop::time::sleep(std::time::Duration::from_secs(args.seconds)).await
        }
    };
    let stop = async {
        let (Ok(mut int), Ok(mut term)) =
            (signal(SignalKind::INTERRUPT), signal(SignalKind::TERMINATE))
        else {
            return std::future::pending().await;
        };
        race(int.recv(), term.recv()).await
    };
    if let Either::Right(_) = race(duration, stop).await {
        println!("signal received: shutting down");
    }
}

/// Serves until `--seconds` pass or a signal comes (see [`serve_for`]), then stops
/// listening, closes every connection and waits (up to 5 s) for them to finish.
pub async fn serve_then_close(args: &Args, server: ringloop::transport::Server) {
    serve_for(args).await;
    server.close();
    server.close_clients();
    ringloop::time::timeout(std::time::Duration::from_secs(5), server.wait_closed())
        .await
        .ok();
}
