//! `cargo bench --bench net_bench`: TCP echo (64 connections × 128 B and × 4 KiB) and HTTP
//! (64 keep-alive connections) on loopback. Each server runs in its own process pinned to
//! CPU 0: ringloop on io_uring and on epoll, tokio (current_thread) and monoio, all serving
//! the code of `examples/common/`. The load generator (`examples/common/loadgen.rs`, the
//! engine of `examples/loadgen`) runs here, pinned to CPU 1.
//!
//! Per server: round trips per second, server CPU per round trip (every server thread's
//! CPU time over the timed window, from `/proc/<pid>/task/*/schedstat`), p50/p99 latency,
//! and syscalls per round trip (`strace -c -f` attached for a fixed number of round trips,
//! in a separate window so tracing never slows the timed one).

#[path = "common/mod.rs"]
mod common;
#[path = "../src/bin/ringloop-soak/histogram.rs"]
mod histogram;
#[path = "../examples/common/http.rs"]
mod http;
#[path = "../examples/common/kv.rs"]
mod kv;
#[path = "../examples/common/loadgen.rs"]
mod loadgen;
#[path = "net/kv_vs_redis.rs"]
mod net_kv;
#[path = "../examples/common/peers.rs"]
mod peers;
#[path = "../examples/common/protocols.rs"]
mod protocols;
#[path = "../examples/common/resp.rs"]
mod resp;

use common::{median, pin_to_cpu, process_cpu_ns, scaled, scaled_secs, Row};
use loadgen::{Config, Proto};
use peers::App;
use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const SERVERS: [&str; 4] = ["ringloop-uring", "ringloop-epoll", "tokio", "monoio"];

/// A server in a child process; killed when dropped.
struct ChildServer {
    child: Child,
    addr: SocketAddr,
}

impl ChildServer {
    fn start(server: &str, app: App) -> std::io::Result<ChildServer> {
        let app = match app {
            App::Echo => "echo",
            App::Http => "http",
        };
        Self::start_own(server, app)
    }

    /// Starts this binary as `--child-server <server> <app>` and reads the port it prints.
    fn start_own(server: &str, app: &str) -> std::io::Result<ChildServer> {
        let mut child = Command::new(std::env::current_exe()?)
            .args(["--child-server", server, app])
            .stdout(Stdio::piped())
            .spawn()?;
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().expect("piped")).read_line(&mut line)?;
        let port: u16 = line
            .trim()
            .parse()
            .map_err(|_| std::io::Error::other(format!("{server} did not start: {line:?}")))?;
        Ok(ChildServer {
            child,
            addr: ([127, 0, 0, 1], port).into(),
        })
    }

    /// Adopts a server started some other way, once it accepts connections on `port`.
    fn adopt(mut child: Child, port: u16) -> std::io::Result<ChildServer> {
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(addr).is_err() {
            if Instant::now() > deadline || child.try_wait()?.is_some() {
                let _ = child.kill();
                return Err(std::io::Error::other("the server never listened"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(ChildServer { child, addr })
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for ChildServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The child side: serve `app` on 127.0.0.1 (a free port, printed first) until killed.
fn child_server(server: &str, app: &str) -> std::io::Result<()> {
    pin_to_cpu(0);
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    println!("{}", listener.local_addr()?.port());
    match (server, app) {
        // kv_server spins before parking, as the example does; the echo and HTTP servers
        // (measured by CPU per request) park at once, as the peers do.
        (_, "kv") => serve_ringloop(server, listener, net_kv::spin_for(server), kv::factory()),
        ("tokio", app) => peers::serve_tokio(app.parse()?, listener),
        ("monoio", app) => peers::serve_monoio(app.parse()?, listener),
        (_, "echo") => serve_ringloop(server, listener, Duration::ZERO, protocols::Echo::default),
        (_, _) => serve_ringloop(server, listener, Duration::ZERO, protocols::Http::default),
    }
}

/// Serves protocol `P` with ringloop on the backend `server` names, spinning `spin` before
/// parking, until killed.
fn serve_ringloop<P: ringloop::transport::Protocol>(
    server: &str,
    listener: std::net::TcpListener,
    spin: Duration,
    factory: impl Fn() -> P + 'static,
) -> std::io::Result<()> {
    let backend = if server == "ringloop-epoll" {
        ringloop::Backend::Epoll
    } else {
        ringloop::Backend::Uring
    };
    let rt = ringloop::Runtime::builder()
        .backend(backend)
        .spin_before_park(spin)
        .build()?;
    rt.block_on(async move {
        let addr = listener.local_addr()?;
        drop(listener); // create_server binds it again, with its own options
        let _server = ringloop::transport::create_server(factory, addr).await?;
        std::future::pending::<std::io::Result<()>>().await
    })?
}

struct Measured {
    per_second: f64,
    cpu_us: f64,
    p50_us: f64,
    p99_us: f64,
    syscalls: f64,
}

fn load(cfg: &Config) -> loadgen::Outcome {
    let rt = ringloop::Runtime::builder()
        .backend(ringloop::Backend::Uring)
        .build()
        .expect("load generator runtime");
    rt.block_on(loadgen::run(cfg))
        .expect("runtime")
        .expect("load run")
}

const NOT_MEASURED: Measured = Measured {
    per_second: f64::NAN,
    cpu_us: f64::NAN,
    p50_us: f64::NAN,
    p99_us: f64::NAN,
    syscalls: f64::NAN,
};

/// One timed window against one server: throughput, server CPU and latency.
fn window(child: &ChildServer, cfg: &Config) -> Measured {
    let cpu_before = process_cpu_ns(child.pid());
    let outcome = load(cfg);
    let cpu_ns = process_cpu_ns(child.pid()) - cpu_before;
    Measured {
        per_second: outcome.per_second(),
        cpu_us: cpu_ns as f64 / 1e3 / outcome.requests as f64,
        p50_us: outcome.latency_us.quantile(0.5),
        p99_us: outcome.latency_us.quantile(0.99),
        syscalls: f64::NAN,
    }
}

/// Every server of one workload, measured in `ROUNDS` interleaved rounds so that drift in
/// the machine's speed hits all of them alike; each figure is the median of its rounds.
/// Every round starts each server afresh: one server process can run 10-20% slower than
/// the next for its whole life (measured for tokio and ringloop alike: where the kernel
/// places its memory), and a single process per server made that luck decide a row.
/// Syscalls are counted once per server (in the last round), in a separate window.
fn measure_all(app: App, proto: Proto, size: usize) -> Vec<Measured> {
    const ROUNDS: usize = 5;
    let config = |child: &ChildServer, duration| Config {
        addr: child.addr,
        proto,
        conns: 64,
        size,
        pipeline: 1,
        duration,
        requests: None,
    };
    let mut windows: Vec<Vec<Measured>> = SERVERS.iter().map(|_| Vec::new()).collect();
    let mut syscalls = vec![f64::NAN; SERVERS.len()];
    for round in 0..ROUNDS {
        let children: Vec<Option<ChildServer>> = SERVERS
            .iter()
            .map(|server| {
                ChildServer::start(server, app)
                    .map_err(|e| eprintln!("{server}: {e}"))
                    .ok()
            })
            .collect();
        for child in children.iter().flatten() {
            load(&config(child, Duration::from_millis(500))); // warm-up: connections, page faults, buffer rings
        }
        // Which server goes first rotates from round to round.
        for i in (0..SERVERS.len()).map(|i| (i + round) % SERVERS.len()) {
            if let Some(child) = &children[i] {
                windows[i].push(window(child, &config(child, scaled_secs(1.5))));
                if round == ROUNDS - 1 {
                    syscalls[i] = count_syscalls(child, &config(child, Duration::from_secs(120)));
                }
            }
        }
    }
    windows
        .into_iter()
        .zip(syscalls)
        .map(|(results, syscalls)| {
            if results.is_empty() {
                return NOT_MEASURED;
            }
            let pick = |f: fn(&Measured) -> f64| median(results.iter().map(f).collect());
            Measured {
                per_second: pick(|m| m.per_second),
                cpu_us: pick(|m| m.cpu_us),
                p50_us: pick(|m| m.p50_us),
                p99_us: pick(|m| m.p99_us),
                syscalls,
            }
        })
        .collect()
}

/// Syscalls per round trip: `strace -c -f` attached to the server for a fixed number of
/// round trips (connection setup included, so slightly pessimistic). NaN without strace.
fn count_syscalls(child: &ChildServer, cfg: &Config) -> f64 {
    let out = std::env::temp_dir().join(format!("ringloop-strace-{}", child.pid()));
    let Ok(mut strace) = Command::new("strace")
        .args(["-c", "-f", "-o"])
        .arg(&out)
        .args(["-p", &child.pid().to_string()])
        .stderr(Stdio::piped())
        .spawn()
    else {
        return f64::NAN;
    };
    // strace reports each thread it attaches to on stderr; wait for the first.
    let mut stderr = BufReader::new(strace.stderr.take().expect("piped"));
    let mut line = String::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !line.contains("attached") && Instant::now() < deadline {
        line.clear();
        if stderr.read_line(&mut line).unwrap_or(0) == 0 {
            return f64::NAN;
        }
    }
    std::thread::sleep(Duration::from_millis(200)); // let every thread be attached
    let requests = scaled(64_000) as u64;
    let traced = Config {
        requests: Some(requests),
        duration: Duration::from_secs(120),
        ..cfg.clone()
    };
    let done = load(&traced).requests;
    // SIGINT makes strace detach and write its summary.
    let _ = Command::new("kill")
        .args(["-INT", &strace.id().to_string()])
        .status();
    let _ = strace.wait();
    let mut rest = String::new();
    let _ = stderr.read_to_string(&mut rest);
    let summary = std::fs::read_to_string(&out).unwrap_or_default();
    let _ = std::fs::remove_file(&out);
    total_calls(&summary).map_or(f64::NAN, |calls| calls as f64 / done as f64)
}

/// The call count on the `total` line of an `strace -c` summary.
fn total_calls(summary: &str) -> Option<u64> {
    let line = summary.lines().find(|l| l.trim_end().ends_with("total"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--child-server") {
        if let Err(e) = child_server(&args[2], &args[3]) {
            eprintln!("child server {}: {e}", args[2]);
            std::process::exit(1);
        }
        return;
    }
    if args.iter().any(|a| a == "--list") {
        return;
    }
    pin_to_cpu(1);
    if Command::new("strace").arg("-V").output().is_err() {
        eprintln!("NOTE: strace is not installed (apt-get install strace): syscall rows show n/a");
    }
    println!("net benchmarks: each server alone on CPU 0, the load generator on CPU 1; 64 connections, 1 request in flight each");
    let workloads = [
        ("echo 128 B", App::Echo, Proto::Echo, 128),
        ("echo 4 KiB", App::Echo, Proto::Echo, 4096),
        ("http GET", App::Http, Proto::Http, 0),
    ];
    let mut rows = Vec::new();
    for (name, app, proto, size) in workloads {
        let results = measure_all(app, proto, size);
        let row = |what: &str, unit, value: fn(&Measured) -> f64, target: &str| Row {
            name: format!("{name}: {what}"),
            unit,
            values: results.iter().map(value).collect(),
            target: target.into(),
        };
        let cpu_target = if app == App::Http {
            "uring ≤ 0.8× tokio"
        } else {
            "uring ≤ 0.8× tokio, ≤ 0.85× monoio; epoll ≤ 1.0× tokio"
        };
        rows.push(row(
            "throughput",
            "req/s",
            |m| m.per_second,
            "≥ 1.0× best peer",
        ));
        rows.push(row("server CPU", "µs/req", |m| m.cpu_us, cpu_target));
        rows.push(row("latency p50", "µs", |m| m.p50_us, ""));
        rows.push(row("latency p99", "µs", |m| m.p99_us, "≤ tokio"));
        rows.push(row("syscalls", "per req", |m| m.syscalls, "uring ≤ 0.05"));
    }
    let columns = ["ringloop-uring", "ringloop-epoll", "tokio", "monoio"];
    common::print_table(
        "ringloop-uring ÷ each (the ratio columns divide the first column by the others)",
        &columns,
        1,
        &rows,
    );
    common::record(&rows, &columns);
    net_kv::compare_with_redis();
}
