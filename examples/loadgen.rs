//! A closed-loop load generator for any echo or HTTP/1.1 server: prints throughput and
//! latency percentiles. The benches use the same engine (`examples/common/loadgen.rs`).
//!
//! ```text
//! cargo run --release --example echo_server -- --port 7000 &
//! cargo run --release --example loadgen -- --port 7000 --conns 64 --size 128 --duration 10
//! cargo run --release --example loadgen -- --proto http --port 8080 --conns 64 --pipeline 16
//! ```
//!
//! Flags: `--host` (default 127.0.0.1), `--port` (7000), `--proto echo|http` (echo),
//! `--conns` (64), `--size` bytes per echo request (128), `--pipeline` requests in flight
//! per connection (1), `--duration` seconds (10), `--requests` total (no limit),
//! `--backend auto|uring|epoll` for the generator's own loop.

#[path = "../src/bin/ringloop-soak/histogram.rs"]
mod histogram;
#[path = "common/loadgen.rs"]
mod loadgen;

use loadgen::{Config, Proto};
use ringloop::{Backend, Runtime};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

fn parse() -> io::Result<(Config, Backend)> {
    let mut host: IpAddr = [127, 0, 0, 1].into();
    let mut port = 7000u16;
    let mut backend = Backend::Auto;
    let mut cfg = Config {
        addr: SocketAddr::new(host, port),
        proto: Proto::Echo,
        conns: 64,
        size: 128,
        pipeline: 1,
        duration: Duration::from_secs(10),
        requests: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "-h" || flag == "--help" {
            println!("flags: --host IP --port N --proto echo|http --conns N --size BYTES --pipeline N --duration SECS --requests N --backend auto|uring|epoll");
            std::process::exit(0);
        }
        let value = it
            .next()
            .ok_or_else(|| bad(format!("{flag} needs a value")))?;
        let number = |v: &str| -> io::Result<u64> {
            v.parse().map_err(|e| bad(format!("{flag} {v:?}: {e}")))
        };
        match flag.as_str() {
            "--host" => host = value.parse().map_err(|e| bad(format!("--host: {e}")))?,
            "--port" => {
                port = number(&value)?
                    .try_into()
                    .map_err(|_| bad("--port".into()))?
            }
            "--proto" => cfg.proto = value.parse()?,
            "--conns" => cfg.conns = number(&value)? as usize,
            "--size" => cfg.size = number(&value)? as usize,
            "--pipeline" => cfg.pipeline = number(&value)? as usize,
            "--duration" => {
                let secs: f64 = value.parse().map_err(|e| bad(format!("--duration: {e}")))?;
                cfg.duration = Duration::try_from_secs_f64(secs)
                    .map_err(|e| bad(format!("--duration: {e}")))?;
            }
            "--requests" => cfg.requests = Some(number(&value)?),
            "--backend" => backend = value.parse()?,
            other => return Err(bad(format!("unknown flag {other}; try --help"))),
        }
    }
    cfg.addr = SocketAddr::new(host, port);
    cfg.validate()?;
    Ok((cfg, backend))
}

fn bad(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, message)
}

fn main() -> std::process::ExitCode {
    match generate() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("loadgen: {e}");
            std::process::ExitCode::from(2)
        }
    }
}

fn generate() -> io::Result<()> {
    let (cfg, backend) = parse()?;
    let rt = Runtime::builder().backend(backend).build()?;
    println!(
        "loadgen ({}): {:?} to {}, {} connections × {} in flight{}",
        rt.backend(),
        cfg.proto,
        cfg.addr,
        cfg.conns,
        cfg.pipeline,
        match cfg.proto {
            Proto::Echo => format!(", {} B per request", cfg.size),
            Proto::Http => String::new(),
        }
    );
    let outcome = rt.block_on(async { loadgen::run(&cfg).await })??;
    println!("{}", outcome.summary());
    Ok(())
}
