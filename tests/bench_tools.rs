//! The benchmark tools are usable programs: `kv_server` answers the real `redis-cli` and
//! pipelined raw RESP, and rejects garbage with an error and a close; `loadgen` drives the
//! echo and HTTP examples and fails cleanly on bad flags or a dead port. Both backends.
//! `benches/chart.py` draws each row's latest run.

#[path = "common/example_procs.rs"]
mod procs;

use procs::{example, for_both, free_port, python, start, tool};
use std::process::Command;

fn redis_cli(port: u16, args: &[&str]) -> String {
    let out = tool("redis-cli")
        .args(["-p", &port.to_string()])
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "redis-cli {args:?} failed");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn kv_server_answers_redis_cli() {
    for_both(|backend| {
        let port = free_port();
        let _server = start("kv_server", port, backend, true);
        assert_eq!(redis_cli(port, &["PING"]), "PONG", "{backend}");
        assert_eq!(redis_cli(port, &["SET", "n", "41"]), "OK");
        assert_eq!(redis_cli(port, &["INCR", "n"]), "42");
        assert_eq!(redis_cli(port, &["GET", "n"]), "42");
        assert_eq!(redis_cli(port, &["SET", "s", "hello world"]), "OK");
        assert_eq!(
            redis_cli(port, &["MGET", "n", "nope", "s"]),
            "42\n\nhello world"
        );
        assert_eq!(redis_cli(port, &["EXISTS", "n", "s", "nope"]), "2");
        assert_eq!(redis_cli(port, &["DEL", "n", "nope"]), "1");
        assert_eq!(redis_cli(port, &["GET", "n"]), "");
        assert_eq!(
            redis_cli(port, &["INCR", "s"]),
            "ERR value is not an integer or out of range"
        );
        assert_eq!(redis_cli(port, &["FLY"]), "ERR unknown command 'FLY'");
        assert_eq!(
            redis_cli(port, &["GET"]),
            "ERR wrong number of arguments for 'get' command"
        );
    });
}

const PIPELINED: &str = r#"
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
cmds = b"".join(b"*3\r\n$3\r\nSET\r\n$%d\r\nk%d\r\n$%d\r\nv%d\r\n" % (len(str(i)) + 1, i, len(str(i)) + 1, i) for i in range(1000))
cmds += b"".join(b"*2\r\n$3\r\nGET\r\n$%d\r\nk%d\r\n" % (len(str(i)) + 1, i) for i in range(1000))
# Dribble it in odd-sized pieces so commands straddle reads.
for i in range(0, len(cmds), 777):
    s.sendall(cmds[i:i + 777])
want = b"+OK\r\n" * 1000 + b"".join(b"$%d\r\nv%d\r\n" % (len(str(i)) + 1, i) for i in range(1000))
got = b""
while len(got) < len(want):
    d = s.recv(65536)
    if not d: break
    got += d
print("pipeline-ok" if got == want else "pipeline-bad %r" % got[:200])
# Garbage: an error reply, then the server closes the connection.
g = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
g.sendall(b"*1\r\n$-5\r\n")
reply = b""
while True:
    d = g.recv(4096)
    if not d: break
    reply += d
print(reply.decode().strip())
"#;

#[test]
fn kv_server_pipelines_and_rejects_garbage() {
    for_both(|backend| {
        let port = free_port();
        let _server = start("kv_server", port, backend, true);
        let out = python(PIPELINED, port);
        let mut lines = out.lines();
        assert_eq!(lines.next(), Some("pipeline-ok"), "{backend}: {out}");
        assert_eq!(
            lines.next(),
            Some("-ERR Protocol error: invalid bulk length"),
            "{backend}"
        );
    });
}

fn loadgen(args: &[&str]) -> std::process::Output {
    Command::new(example("loadgen"))
        .args(args)
        .env_remove("RINGLOOP_BACKEND")
        .output()
        .unwrap()
}

/// The request count in "N requests in S s: …".
fn requests_done(stdout: &str) -> u64 {
    let line = stdout
        .lines()
        .find(|l| l.contains(" requests in "))
        .unwrap_or_else(|| panic!("no summary in {stdout}"));
    assert!(line.contains("p99") && line.contains("req/s"), "{line}");
    line.split_whitespace().next().unwrap().parse().unwrap()
}

#[test]
fn loadgen_drives_echo_and_http_servers() {
    for_both(|backend| {
        let echo = free_port();
        let _echo = start("echo_server", echo, backend, true);
        let out = loadgen(&[
            "--port",
            &echo.to_string(),
            "--conns",
            "8",
            "--size",
            "4096",
            "--pipeline",
            "4",
            "--requests",
            "2000",
            "--backend",
            backend,
        ]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{backend}: {stdout} {:?}", out.stderr);
        assert_eq!(
            requests_done(&stdout),
            2000,
            "{backend}: a fixed count is exact"
        );

        let http = free_port();
        let _http = start("http_hello", http, backend, true);
        let out = loadgen(&[
            "--proto",
            "http",
            "--port",
            &http.to_string(),
            "--conns",
            "4",
            "--pipeline",
            "8",
            "--duration",
            "0.5",
            "--backend",
            backend,
        ]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{backend}: {stdout}");
        assert!(requests_done(&stdout) > 0, "{backend}: {stdout}");
    });
}

#[test]
fn loadgen_rejects_bad_input_with_a_message() {
    for (args, expect) in [
        (
            &["--conns", "0"][..],
            "--conns and --pipeline must be at least 1",
        ),
        (&["--proto", "gopher"][..], "--proto must be echo or http"),
        (&["--size"][..], "--size needs a value"),
        (&["--port", "70000"][..], "--port"),
        (&["--bogus", "1"][..], "unknown flag --bogus"),
    ] {
        let out = loadgen(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(expect), "{args:?}: {stderr}");
    }
    // Nobody listening: a connection error, not a hang or a panic.
    for_both(|backend| {
        let port = free_port();
        let out = loadgen(&["--port", &port.to_string(), "--backend", backend]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{backend}: {stderr}");
        assert!(stderr.contains("refused"), "{backend}: {stderr}");
    });
}

/// `benches/chart.py` draws each row from its latest full-scale run: a contender that run
/// no longer has (a renamed server) loses its old bar, and a smoke run's rows are ignored.
#[test]
fn chart_draws_each_rows_latest_run() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("results.csv");
    let svg = dir.path().join("chart.svg");
    let row = "\"kv GET -c 50 -P 1: throughput\",\"req/s\"";
    std::fs::write(
        &csv,
        format!(
            "{row},\"ringloop-uring\",70000,1\n{row},\"redis-server\",71000,1\n\
             {row},\"old-contender\",72000,1\n\
             {row},\"ringloop-uring\",4321,0.1\n{row},\"smoke-only\",5100,0.1\n\
             {row},\"ringloop-uring\",86000,1\n{row},\"redis-server\",75000,1\n\
             \"kv GET -c 50 -P 1: server CPU\",\"µs/req\",\"ringloop-uring\",9.1,1\n"
        ),
    )
    .unwrap();
    let out = tool("python3")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/benches/chart.py"))
        .args([&csv, &svg])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "chart.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let drawn = std::fs::read_to_string(&svg).unwrap();
    for wanted in ["ringloop-uring", "redis-server", "86.00k", "75.00k"] {
        assert!(drawn.contains(wanted), "{wanted} missing from the chart");
    }
    for stale in [
        "old-contender",
        "smoke-only",
        "70.00k",
        "4.32k",
        "server CPU",
    ] {
        assert!(!drawn.contains(stale), "{stale} should not be drawn");
    }
}
