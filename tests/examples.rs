//! The example servers answer real clients: curl and wrk (HTTP), a Python socket client
//! (TCP and UDP echo). `.ci/run` installs curl and wrk; a missing tool fails the test.

#[path = "common/example_procs.rs"]
mod procs;

use procs::{example, for_both, free_port, python, start, start_with, tool};

const PIPELINE: &str = r#"
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
s.sendall(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nPOST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabcNOT HTTP\r\n\r\n")
out = b""
while True:
    d = s.recv(65536)
    if not d: break
    out += d
print(out.count(b"HTTP/1.1 200 OK"), out.count(b"HTTP/1.1 400 Bad Request"), out.count(b"Hello, World!"))
"#;

const TCP_ECHO: &str = r#"
import socket, sys, os
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
data = os.urandom(200000)
s.sendall(data)
s.shutdown(socket.SHUT_WR)
got = b""
while len(got) < len(data):
    d = s.recv(65536)
    if not d: break
    got += d
print("echo-ok" if got == data else "echo-bad %d" % len(got))
"#;

const UDP_ECHO: &str = r#"
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(5)
ok = 0
for i in range(20):
    msg = b"datagram %d" % i
    s.sendto(msg, ("127.0.0.1", int(sys.argv[1])))
    data, _ = s.recvfrom(2048)
    ok += data == msg
print("udp-ok %d" % ok)
"#;

#[test]
fn http_hello_serves_curl_pipelining_and_wrk() {
    for_both(|backend| {
        let port = free_port();
        let _server = start("http_hello", port, backend, true);
        let url = format!("http://127.0.0.1:{port}/");
        let out = tool("curl")
            .args(["-s", "-i", "--max-time", "10", &url])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.starts_with("HTTP/1.1 200 OK"), "{backend}: {text}");
        assert!(
            text.contains("Content-Length: 13") && text.ends_with("Hello, World!"),
            "{backend}: {text}"
        );
        assert_eq!(
            python(PIPELINE, port).trim(),
            "2 1 2",
            "{backend}: two pipelined answers, then 400 for the malformed one"
        );
        let out = tool("wrk")
            .args(["-t1", "-c16", "-d1s", &url])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("Requests/sec"), "{backend}: {text}");
        assert!(
            !text.contains("Non-2xx") && !text.contains("Socket errors"),
            "{backend}: {text}"
        );
    });
}

#[test]
fn echo_server_echoes_a_python_client() {
    for_both(|backend| {
        let port = free_port();
        let _server = start("echo_server", port, backend, true);
        assert_eq!(python(TCP_ECHO, port).trim(), "echo-ok", "{backend}");
    });
}

#[test]
fn echo_server_spinning_before_parking_echoes() {
    for_both(|backend| {
        let port = free_port();
        let _server = start_with("echo_server", port, backend, true, &["--spin-us", "50"]);
        assert_eq!(python(TCP_ECHO, port).trim(), "echo-ok", "{backend}");
    });
    let out = std::process::Command::new(example("echo_server"))
        .args(["--spin-us", "soon"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--spin-us") && stderr.contains("invalid digit"),
        "{stderr}"
    );
}

#[test]
fn udp_echo_echoes_datagrams() {
    for_both(|backend| {
        let port = free_port();
        let _server = start("udp_echo", port, backend, false);
        assert_eq!(python(UDP_ECHO, port).trim(), "udp-ok 20", "{backend}");
    });
}
