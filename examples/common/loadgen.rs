//! The load generator's engine, shared by `examples/loadgen.rs` and the benches: `conns`
//! connections, each sending `pipeline` requests at a time and waiting for every reply
//! before the next batch (a closed loop), until a duration passes or a request budget is
//! spent. Echo replies are checked byte for byte; HTTP replies are framed by
//! `Content-Length`.
#![allow(dead_code)]

use crate::histogram::Histogram;
use ringloop::buf::IoBuf;
use ringloop::net::TcpStream;
use std::cell::{Cell, RefCell};
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// What the server speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Proto {
    /// Every byte comes back: a request is `size` bytes, its reply the same bytes.
    Echo,
    /// `GET / HTTP/1.1` keep-alive requests; a reply is a response with `Content-Length`.
    Http,
}

impl std::str::FromStr for Proto {
    type Err = io::Error;
    fn from_str(s: &str) -> io::Result<Proto> {
        match s {
            "echo" => Ok(Proto::Echo),
            "http" => Ok(Proto::Http),
            other => Err(invalid(format!(
                "--proto must be echo or http, not {other:?}"
            ))),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Config {
    pub addr: SocketAddr,
    pub proto: Proto,
    pub conns: usize,
    /// Bytes per echo request (ignored for HTTP).
    pub size: usize,
    /// Requests in flight per connection.
    pub pipeline: usize,
    /// Stop after this long...
    pub duration: Duration,
    /// ...or after this many requests in all, whichever comes first.
    pub requests: Option<u64>,
}

impl Config {
    pub fn validate(&self) -> io::Result<()> {
        if self.conns == 0 || self.pipeline == 0 {
            return Err(invalid("--conns and --pipeline must be at least 1".into()));
        }
        if self.proto == Proto::Echo && self.size == 0 {
            return Err(invalid("--size must be at least 1 byte".into()));
        }
        if self.size.saturating_mul(self.pipeline) > 64 << 20 {
            return Err(invalid("--size × --pipeline is capped at 64 MiB".into()));
        }
        Ok(())
    }
}

/// What a run measured.
pub struct Outcome {
    pub requests: u64,
    pub bytes: u64,
    pub elapsed: Duration,
    pub latency_us: Histogram,
}

impl Outcome {
    pub fn per_second(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// One human-readable line: throughput and p50/p90/p99/p99.9/max latency.
    pub fn summary(&self) -> String {
        let h = &self.latency_us;
        format!(
            "{} requests in {:.2} s: {:.0} req/s, {:.1} MB/s; latency µs p50 {:.0}  p90 {:.0}  p99 {:.0}  p99.9 {:.0}  max {:.0}",
            self.requests,
            self.elapsed.as_secs_f64(),
            self.per_second(),
            self.bytes as f64 / self.elapsed.as_secs_f64().max(1e-9) / 1e6,
            h.quantile(0.5),
            h.quantile(0.9),
            h.quantile(0.99),
            h.quantile(0.999),
            h.quantile(1.0),
        )
    }
}

struct Budget {
    deadline: Instant,
    left: Cell<u64>,
    done: Cell<u64>,
    bytes: Cell<u64>,
    latency_us: RefCell<Histogram>,
}

impl Budget {
    /// Claims up to `want` requests for the next batch; 0 means stop.
    fn claim(&self, want: usize) -> usize {
        if Instant::now() >= self.deadline {
            return 0;
        }
        let n = self.left.get().min(want as u64);
        self.left.set(self.left.get() - n);
        n as usize
    }

    fn record(&self, started: Instant, requests: usize, bytes: usize) {
        let us = started.elapsed().as_secs_f64() * 1e6;
        self.latency_us.borrow_mut().record_n(us, requests as u64);
        self.done.set(self.done.get() + requests as u64);
        self.bytes.set(self.bytes.get() + bytes as u64);
    }
}

/// Runs the load on the current ringloop runtime. Every connection is opened before the
/// clock starts; any connection error ends the run with that error.
pub async fn run(cfg: &Config) -> io::Result<Outcome> {
    cfg.validate()?;
    let mut streams = Vec::with_capacity(cfg.conns);
    for _ in 0..cfg.conns {
        let stream = TcpStream::connect_addr(cfg.addr).await?;
        stream.set_nodelay(true)?;
        streams.push(stream);
    }
    let started = Instant::now();
    let budget = Rc::new(Budget {
        deadline: started + cfg.duration,
        left: Cell::new(cfg.requests.unwrap_or(u64::MAX)),
        done: Cell::new(0),
        bytes: Cell::new(0),
        latency_us: RefCell::new(Histogram::default()),
    });
    let workers: Vec<_> = streams
        .into_iter()
        .enumerate()
        .map(|(i, stream)| {
            let (budget, cfg) = (budget.clone(), cfg.clone());
            ringloop::spawn(async move {
                match cfg.proto {
                    Proto::Echo => echo_connection(stream, &cfg, i, &budget).await,
                    Proto::Http => http_connection(stream, &cfg, &budget).await,
                }
            })
        })
        .collect();
    let mut first_error = None;
    for worker in workers {
        let result = worker.await.map_err(|e| io::Error::other(e.to_string()))?;
        if let Err(e) = result {
            first_error.get_or_insert(e);
        }
    }
    if let Some(e) = first_error {
        return Err(e);
    }
    let elapsed = started.elapsed();
    let budget = Rc::try_unwrap(budget).map_err(|_| io::Error::other("a worker outlived run"))?;
    Ok(Outcome {
        requests: budget.done.get(),
        bytes: budget.bytes.get(),
        elapsed,
        latency_us: budget.latency_us.into_inner(),
    })
}

async fn echo_connection(
    stream: TcpStream,
    cfg: &Config,
    index: usize,
    budget: &Budget,
) -> io::Result<()> {
    // Each connection sends its own byte pattern, so a reply crossing connections shows.
    let mut pattern: Vec<u8> = (0..cfg.size * cfg.pipeline)
        .map(|i| (i * 31 + index * 7) as u8)
        .collect();
    let mut reply = Vec::with_capacity(pattern.len());
    loop {
        let batch = budget.claim(cfg.pipeline);
        if batch == 0 {
            return Ok(());
        }
        let len = batch * cfg.size;
        let started = Instant::now();
        let (sent, out) = stream.write_all(pattern.slice(..len)).await;
        pattern = out.into_inner();
        sent?;
        reply.clear();
        reply.reserve(len);
        let (received, buf) = stream.read_exact(reply.slice(..len)).await;
        reply = buf.into_inner();
        received?;
        if reply[..len] != pattern[..len] {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "the echo differs from what was sent",
            ));
        }
        budget.record(started, batch, 2 * len);
    }
}

const HTTP_REQUEST: &[u8] = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";

async fn http_connection(stream: TcpStream, cfg: &Config, budget: &Budget) -> io::Result<()> {
    let mut requests = HTTP_REQUEST.repeat(cfg.pipeline);
    let mut pending: Vec<u8> = Vec::new();
    let mut chunk = Vec::with_capacity(64 * 1024);
    loop {
        let batch = budget.claim(cfg.pipeline);
        if batch == 0 {
            return Ok(());
        }
        let started = Instant::now();
        let (sent, out) = stream
            .write_all(requests.slice(..batch * HTTP_REQUEST.len()))
            .await;
        requests = out.into_inner();
        sent?;
        let mut answered = 0;
        let mut bytes = 0;
        while answered < batch {
            match response_len(&pending)? {
                Some(len) => {
                    pending.drain(..len);
                    bytes += len;
                    answered += 1;
                }
                None => {
                    chunk.clear();
                    let (n, buf) = stream.read(chunk).await;
                    chunk = buf;
                    if n? == 0 {
                        return Err(io::ErrorKind::UnexpectedEof.into());
                    }
                    pending.extend_from_slice(&chunk);
                }
            }
        }
        budget.record(started, batch, bytes);
    }
}

/// The length of the first complete HTTP response in `buf`, if there is one.
fn response_len(buf: &[u8]) -> io::Result<Option<usize>> {
    let Some(head_end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Ok(None);
    };
    let head = std::str::from_utf8(&buf[..head_end])
        .map_err(|_| invalid("response head is not UTF-8".into()))?;
    if !head.starts_with("HTTP/1.") {
        return Err(invalid(format!("not an HTTP response: {head:.40?}")));
    }
    let body = head
        .lines()
        .filter_map(|line| line.split_once(':'))
        .find(|(name, _)| name.eq_ignore_ascii_case("content-length"))
        .map(|(_, value)| value.trim().parse::<usize>())
        .transpose()
        .map_err(|_| invalid("bad Content-Length".into()))?
        .ok_or_else(|| invalid("a response without Content-Length".into()))?;
    let total = head_end + 4 + body;
    Ok((buf.len() >= total).then_some(total))
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, message)
}
