//! Backend choice: parsing, validation, explicit requests, and a real fallback under a
//! seccomp filter that blocks io_uring the way Docker does.

mod common;
#[path = "common/seccomp.rs"]
mod seccomp;
use common::*;
use ringloop::net::{TcpListener, TcpStream};
use ringloop::{Backend, Runtime};
use std::io;
use std::process::Command;

const CHILD_ENV: &str = "RINGLOOP_TEST_CHILD";

/// Re-runs one `#[ignore]`d child-entry test of this binary in a fresh process.
fn run_child(test: &str, env: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([
        "--exact",
        test,
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ])
    .env(CHILD_ENV, "1")
    .env_remove("RINGLOOP_BACKEND");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("spawn the child test process")
}

#[test]
fn backend_names_parse_and_bad_names_say_what_is_allowed() {
    assert_eq!("uring".parse::<Backend>().unwrap(), Backend::Uring);
    assert_eq!("io_uring".parse::<Backend>().unwrap(), Backend::Uring);
    assert_eq!(" EPOLL ".parse::<Backend>().unwrap(), Backend::Epoll);
    assert_eq!("auto".parse::<Backend>().unwrap(), Backend::Auto);
    let err = "kqueue".parse::<Backend>().unwrap_err();
    assert!(err.to_string().contains("auto, uring or epoll"), "{err}");
    assert_eq!(Backend::Uring.to_string(), "io_uring");
}

#[test]
fn invalid_builder_settings_are_clear_errors() {
    for entries in [0, 1 << 20] {
        let err = Runtime::builder()
            .ring_entries(entries)
            .build()
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert!(err.to_string().contains("1..=32768"), "{err}");
    }
    let err = Runtime::builder().blocking_threads(0).build().unwrap_err();
    assert!(err.to_string().contains("blocking_threads"), "{err}");
    let err = Runtime::builder().event_interval(0).build().unwrap_err();
    assert!(err.to_string().contains("event_interval"), "{err}");
}

both_backends! {
    fn explicit_backend_is_used_and_reported(backend) {
        let rt = runtime(backend);
        let expected = Backend::from_env().unwrap().filter(|b| *b != Backend::Auto).unwrap_or(backend);
        assert_eq!(rt.backend(), expected);
        assert!(rt.fallback_reason().is_none(), "an explicit backend never falls back");
        assert!(!rt.describe().is_empty());
    }
}

both_backends! {
    fn extreme_ring_sizes_work(backend) {
        for entries in [1, 32768] {
            let rt = runtime_with(Runtime::builder().backend(backend).ring_entries(entries));
            let n = rt.block_on(async {
                let tasks: Vec<_> = (0..100).map(|_| ringloop::spawn(ringloop::nop())).collect();
                let mut ok = 0;
                for t in tasks {
                    t.await.unwrap().unwrap();
                    ok += 1;
                }
                ok
            }).unwrap();
            assert_eq!(n, 100);
        }
    }
}

#[test]
fn environment_variable_overrides_and_is_validated() {
    let out = run_child("child_reports_backend", &[("RINGLOOP_BACKEND", "epoll")]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("CHILD backend=epoll"), "{stdout}");
    let out = run_child("child_reports_backend", &[("RINGLOOP_BACKEND", "bogus")]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("CHILD error=") && stdout.contains("auto, uring or epoll"),
        "{stdout}"
    );
}

#[test]
#[ignore = "child-process entry point; run by environment_variable_overrides_and_is_validated"]
fn child_reports_backend() {
    if std::env::var(CHILD_ENV).is_err() {
        return;
    }
    match Runtime::builder().backend(Backend::Uring).build() {
        Ok(rt) => println!(
            "CHILD backend={}",
            rt.backend().to_string().replace("io_uring", "uring")
        ),
        Err(e) => println!("CHILD error={e}"),
    }
}

#[test]
#[cfg(target_arch = "x86_64")]
fn falls_back_to_epoll_when_seccomp_blocks_io_uring() {
    let out = run_child("child_under_seccomp", &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "child failed:\n{stdout}\n{stderr}");
    assert!(
        stdout.contains("CHILD uring-refused: ")
            && stdout.contains("EPERM")
            && stdout.contains("seccomp"),
        "{stdout}"
    );
    assert!(stdout.contains("CHILD auto-backend=epoll"), "{stdout}");
    assert!(stdout.contains("CHILD served-tcp=ok"), "{stdout}");
    assert_eq!(
        stderr.matches("ringloop: falling back to epoll").count(),
        1,
        "one log line:\n{stderr}"
    );
}

#[test]
#[ignore = "child-process entry point; run by falls_back_to_epoll_when_seccomp_blocks_io_uring"]
#[cfg(target_arch = "x86_64")]
fn child_under_seccomp() {
    if std::env::var(CHILD_ENV).is_err() {
        return;
    }
    seccomp::deny_io_uring_setup();
    let err = Runtime::builder()
        .backend(Backend::Uring)
        .build()
        .unwrap_err();
    println!("CHILD uring-refused: {err}");
    let rt = Runtime::new().unwrap();
    println!("CHILD auto-backend={}", rt.backend());
    let reason = rt.fallback_reason().expect("a fallback reason is recorded");
    assert!(reason.contains("EPERM"), "{reason}");
    let echoed = rt
        .block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0")?;
            let addr = listener.local_addr()?;
            let server = ringloop::spawn(async move {
                let (s, _) = listener.accept().await?;
                let (res, buf) = s.read(Vec::with_capacity(16)).await;
                res?;
                s.write_all(buf).await.0
            });
            let c = TcpStream::connect(&addr).await?;
            c.write_all(b"seccomp".to_vec()).await.0?;
            let (res, buf) = c.read_exact(Vec::with_capacity(7)).await;
            res?;
            server.await.map_err(io::Error::from)??;
            io::Result::Ok(buf)
        })
        .unwrap()
        .unwrap();
    assert_eq!(echoed, b"seccomp");
    println!("CHILD served-tcp=ok");
}
