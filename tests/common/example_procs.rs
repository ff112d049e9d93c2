//! Running the example binaries in tests: build paths, free ports, a child that is killed
//! when dropped, and the external clients (curl, wrk, python3, redis-cli) `.ci/run`
//! installs.
#![allow(dead_code)]

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub fn example(name: &str) -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(|d| d.parent()).expect("target dir");
    let path = dir.join("examples").join(name);
    assert!(
        path.exists(),
        "{} is not built: run the tests with `cargo test` (it builds examples)",
        path.display()
    );
    path
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub struct Server(pub Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn start(name: &str, port: u16, backend: &str, tcp: bool) -> Server {
    start_with(name, port, backend, tcp, &[])
}

/// `start` with more flags for the example.
pub fn start_with(name: &str, port: u16, backend: &str, tcp: bool, flags: &[&str]) -> Server {
    let child = Command::new(example(name))
        .args([
            "--port",
            &port.to_string(),
            "--backend",
            backend,
            "--seconds",
            "60",
        ])
        .args(flags)
        .env_remove("RINGLOOP_BACKEND")
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the example");
    let server = Server(child);
    if tcp {
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(addr).is_err() {
            assert!(
                Instant::now() < deadline,
                "{name} did not start listening on {port}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    } else {
        std::thread::sleep(Duration::from_millis(300));
    }
    server
}

pub fn tool(name: &str) -> Command {
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {name}"))
        .output()
        .unwrap();
    assert!(
        found.status.success(),
        "{name} is not installed; .ci/run installs it (apt-get install curl wrk python3 redis-tools)"
    );
    Command::new(name)
}

pub fn python(script: &str, port: u16) -> String {
    let out = tool("python3")
        .arg("-c")
        .arg(script)
        .arg(port.to_string())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "python client failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn for_both(f: impl Fn(&str)) {
    for backend in ["uring", "epoll"] {
        f(backend);
    }
}
