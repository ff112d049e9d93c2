//! The `kv_server` rows of `net_bench`: ringloop's RESP2 server (both backends) against a
//! real `redis-server`, each pinned alone to CPU 0, driven by the real `redis-benchmark`
//! on CPU 1: GET and SET from 50 clients, without and with `-P 16` pipelining. The kv
//! servers spin `kv::SPIN_US` before parking, as the `kv_server` example does; a fourth
//! contender, `ringloop-uring-nospin`, parks at once and gets a table of its own.

use super::common::{median, process_cpu_ns, scaled, Row};
use super::ChildServer;
use std::process::{Command, Stdio};

struct Run {
    per_second: f64,
    cpu_us: f64,
    p99_us: f64,
}

/// `redis-benchmark --csv` for one test; (requests/s, p99 µs).
fn redis_benchmark(port: u16, test: &str, pipeline: usize, requests: usize) -> Option<(f64, f64)> {
    let out = Command::new("redis-benchmark")
        .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-c", "50"])
        .args(["-n", &requests.to_string(), "-t", test])
        .args(["-P", &pipeline.to_string(), "--csv"])
        .stderr(Stdio::null())
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    // "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms",…
    let line = text.lines().find(|l| !l.starts_with("\"test\""))?;
    let fields: Vec<f64> = line
        .split(',')
        .skip(1)
        .map(|f| f.trim_matches('"').parse().unwrap_or(f64::NAN))
        .collect();
    Some((*fields.first()?, fields.get(5)? * 1e3))
}

fn start_redis() -> std::io::Result<ChildServer> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let child = Command::new("taskset")
        .args(["-c", "0", "redis-server", "--bind", "127.0.0.1"])
        .args([
            "--port",
            &port.to_string(),
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .stdout(Stdio::null())
        .spawn()?;
    ChildServer::adopt(child, port)
}

fn measure(server: &ChildServer, test: &str, pipeline: usize) -> Run {
    let port = server.addr.port();
    let requests = scaled(if pipeline > 1 { 2_000_000 } else { 200_000 });
    redis_benchmark(port, test, pipeline, requests / 10); // warm-up
    let before = process_cpu_ns(server.pid());
    let measured = redis_benchmark(port, test, pipeline, requests);
    let cpu_ns = process_cpu_ns(server.pid()) - before;
    match measured {
        Some((per_second, p99_us)) => Run {
            per_second,
            cpu_us: cpu_ns as f64 / 1e3 / requests as f64,
            p99_us,
        },
        None => Run {
            per_second: f64::NAN,
            cpu_us: f64::NAN,
            p99_us: f64::NAN,
        },
    }
}

pub fn compare_with_redis() {
    let has = |tool: &str| Command::new(tool).arg("--version").output().is_ok();
    if !has("redis-server") || !has("redis-benchmark") {
        println!(
            "\nNOTE: kv_server vs redis-server NOT MEASURED: install redis-server and redis-tools (apt-get install redis-server redis-tools)"
        );
        return;
    }
    let contenders = ["ringloop-uring", "ringloop-epoll", "redis-server", NO_SPIN];
    let servers: Vec<std::io::Result<ChildServer>> = contenders
        .iter()
        .map(|c| match *c {
            "redis-server" => start_redis(),
            backend => ChildServer::start_own(backend, "kv"),
        })
        .collect();
    let mut rows = Vec::new();
    let mut no_spin_rows = Vec::new();
    for (test, pipeline) in [("get", 1), ("set", 1), ("get", 16), ("set", 16)] {
        // Three interleaved rounds, medians: the machine's drift hits every server alike.
        let mut rounds: Vec<Vec<Run>> = servers.iter().map(|_| Vec::new()).collect();
        for _ in 0..3 {
            for (server, runs) in servers.iter().zip(&mut rounds) {
                match server {
                    Ok(server) => runs.push(measure(server, test, pipeline)),
                    Err(e) => eprintln!("kv server did not start: {e}"),
                }
            }
        }
        let runs: Vec<Run> = rounds
            .into_iter()
            .map(|runs| {
                let pick = |f: fn(&Run) -> f64| median(runs.iter().map(f).collect());
                Run {
                    per_second: pick(|r| r.per_second),
                    cpu_us: pick(|r| r.cpu_us),
                    p99_us: pick(|r| r.p99_us),
                }
            })
            .collect();
        let name = format!("kv {} -c 50 -P {pipeline}", test.to_uppercase());
        // The default table: both backends and redis; the server that parks at once
        // against redis.
        let default = [&runs[0], &runs[1], &runs[2]];
        let no_spin = [&runs[3], &runs[2]];
        let row = |servers: &[&Run], what: &str, unit, value: fn(&Run) -> f64, target: &str| Row {
            name: format!("{name}: {what}"),
            unit,
            values: servers.iter().map(|r| value(r)).collect(),
            target: target.into(),
        };
        let throughput = |r: &Run| r.per_second;
        let cpu = |r: &Run| r.cpu_us;
        rows.push(row(
            &default,
            "throughput",
            "req/s",
            throughput,
            "≥ 1.0× redis",
        ));
        rows.push(row(&default, "server CPU", "µs/req", cpu, ""));
        rows.push(row(&default, "latency p99", "µs", |r| r.p99_us, ""));
        no_spin_rows.push(row(
            &no_spin,
            "throughput",
            "req/s",
            throughput,
            "≥ 1.0× redis",
        ));
        no_spin_rows.push(row(&no_spin, "server CPU", "µs/req", cpu, ""));
    }
    let title = format!(
        "kv_server (ringloop-uring ÷ each; spinning {} µs before parking, as the example does) \
         against redis-server, redis-benchmark on CPU 1",
        super::kv::SPIN_US
    );
    super::common::print_table(&title, &contenders[..3], 1, &rows);
    super::common::record(&rows, &contenders[..3]);
    let no_spin_columns = [NO_SPIN, "redis-server"];
    super::common::print_table(
        "kv_server parking at once (--spin-us 0) ÷ redis-server",
        &no_spin_columns,
        1,
        &no_spin_rows,
    );
    // redis-server's values are recorded with the default table already.
    super::common::record(&no_spin_rows, &no_spin_columns[..1]);
}

/// The contender name of kv_server on io_uring without `spin_before_park`.
pub const NO_SPIN: &str = "ringloop-uring-nospin";

/// How long the ringloop contender `server` spins before parking: kv_server's default,
/// except for [`NO_SPIN`].
pub fn spin_for(server: &str) -> std::time::Duration {
    if server == NO_SPIN {
        std::time::Duration::ZERO
    } else {
        std::time::Duration::from_micros(super::kv::SPIN_US)
    }
}
