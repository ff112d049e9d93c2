//! Child processes through pipes, and signals, on both backends.

mod common;
use common::*;
use ringloop::process::Command;
use ringloop::signal::{ctrl_c, raise, signal, SignalKind};
use std::process::Stdio;
use std::time::{Duration, Instant};

both_backends! {
    fn child_output_through_pipes(backend) {
        let rt = runtime(backend);
        rt.block_on(async {
            let out = Command::new("sh").args(["-c", "printf out; printf err >&2; exit 7"]).output().await.unwrap();
            assert_eq!((out.stdout.as_slice(), out.stderr.as_slice(), out.status.code()), (&b"out"[..], &b"err"[..], Some(7)));
            // Interactive: write to stdin, read the transformed stdout.
            let mut child = Command::new("tr").arg("a-z").arg("A-Z").stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
            let stdin = child.stdin.take().unwrap();
            stdin.write_all(pattern_text(100_000)).await.0.unwrap();
            stdin.close().await.unwrap();
            let upper = child.stdout.take().unwrap().read_to_end().await.unwrap();
            assert_eq!(upper, pattern_text(100_000).to_ascii_uppercase());
            assert!(child.wait().await.unwrap().success());
            let err = Command::new("/no/such/program").spawn().unwrap_err();
            assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
            assert!(err.to_string().contains("/no/such/program"));
        }).unwrap();
    }
}

fn pattern_text(len: usize) -> Vec<u8> {
    (0..len).map(|i| b'a' + (i % 26) as u8).collect()
}

both_backends! {
    fn waiting_for_a_child_does_not_block_the_loop(backend) {
        let rt = runtime(backend);
        rt.block_on(async {
            let mut child = Command::new("sleep").arg("0.3").spawn().unwrap();
            let ticker = ringloop::spawn(async {
                let mut ticks = 0;
                let start = Instant::now();
                while start.elapsed() < Duration::from_millis(200) {
                    ringloop::time::sleep(Duration::from_millis(10)).await;
                    ticks += 1;
                }
                ticks
            });
            let status = child.wait().await.unwrap();
            assert!(status.success());
            assert!(ticker.await.unwrap() >= 5, "timers kept firing while the child ran");
            let mut long = Command::new("sleep").arg("60").spawn().unwrap();
            long.kill().unwrap();
            assert!(!long.wait().await.unwrap().success());
            long.kill().unwrap();
        }).unwrap();
    }
}

both_backends! {
    fn signals_arrive_as_async_events(backend) {
        let rt = runtime(backend);
        rt.block_on(async {
            let mut usr2 = signal(SignalKind::USER_DEFINED2).unwrap();
            raise(SignalKind::USER_DEFINED2).unwrap();
            ringloop::time::timeout(Duration::from_secs(5), usr2.recv()).await.expect("SIGUSR2 delivered");
            // Ctrl-C via kill(getpid(), SIGINT): delivered, and the process lives on.
            let waiter = ringloop::spawn(ctrl_c());
            ringloop::time::sleep(Duration::from_millis(10)).await;
            raise(SignalKind::INTERRUPT).unwrap();
            ringloop::time::timeout(Duration::from_secs(5), waiter).await.expect("ctrl_c fired").unwrap().unwrap();
            assert!(signal(SignalKind::from_raw(libc::SIGKILL)).is_err(), "SIGKILL cannot be handled");
            assert!(signal(SignalKind::from_raw(0)).is_err());
        }).unwrap();
    }
}
