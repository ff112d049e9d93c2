//! Dropping ops in flight: buffers live until completion, late resources are closed,
//! no descriptor leaks (also for sockets that outlive their runtime), and a tiny ring's CQ
//! overflow loses nothing.

mod common;
use common::*;
use ringloop::net::{TcpListener, TcpStream, UnixStream};
use ringloop::time::{sleep, timeout};
use std::io::Write;
use std::sync::atomic::Ordering;
use std::time::Duration;

both_backends! {
    fn dropped_recv_frees_its_buffer_once_after_completion(backend) {
        let _lock = fd_lock();
        let before = fd_count_settled();
        let rt = runtime(backend);
        rt.block_on(async {
            let (a, b) = UnixStream::pair().unwrap();
            let (buf, drops) = TrackedBuf::new(1024);
            let res = timeout(Duration::from_millis(20), b.read(buf)).await;
            assert!(res.is_err(), "nothing was sent, so the read timed out");
            // The buffer is owned by the op slot until the cancellation completes.
            settle(|| rt.live_ops()).await;
            assert_eq!(drops.load(Ordering::SeqCst), 1, "freed exactly once");
            // The stream still works afterwards.
            a.write_all(b"after".to_vec()).await.0.unwrap();
            let (res, got) = b.read(Vec::with_capacity(16)).await;
            assert_eq!(&got[..res.unwrap()], b"after");
        }).unwrap();
        drop(rt);
        assert_eq!(fd_count(), before, "descriptors leaked");
    }
}

both_backends! {
    fn dropped_accept_and_connect_leak_nothing(backend) {
        let _lock = fd_lock();
        let before = fd_count_settled();
        let rt = runtime(backend);
        rt.block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            for _ in 0..20 {
                // Accept that is dropped while waiting; then a client connects, which a
                // late-completing accept would have to close.
                assert!(timeout(Duration::from_millis(2), listener.accept()).await.is_err());
                let client = TcpStream::connect(&addr).await.unwrap();
                let (server, _) = listener.accept().await.unwrap();
                drop((client, server));
            }
            for _ in 0..20 {
                // Connect dropped right after it starts: its socket must still be closed.
                let _ = timeout(Duration::ZERO, TcpStream::connect(&addr)).await;
            }
            // Drain connections the dropped connects may have completed.
            while let Ok(Ok((s, _))) = timeout(Duration::from_millis(20), listener.accept()).await {
                drop(s);
            }
            sleep(Duration::from_millis(20)).await;
        }).unwrap();
        let live = rt.live_ops();
        drop(rt);
        assert_eq!(live, 0, "ops still in flight");
        assert_eq!(fd_count(), before, "descriptors leaked");
    }
}

both_backends! {
    fn dropped_file_read_keeps_buffer_until_done(backend) {
        let _lock = fd_lock();
        let before = fd_count_settled();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, pattern(1 << 20, 1)).unwrap();
        let rt = runtime(backend);
        rt.block_on(async {
            let file = ringloop::fs::File::open(&path).await.unwrap();
            let mut drops_seen = Vec::new();
            for _ in 0..50 {
                let (buf, drops) = TrackedBuf::new(1 << 20);
                let _ = timeout(Duration::ZERO, file.read_at(buf, 0)).await;
                drops_seen.push(drops);
            }
            for _ in 0..200 {
                if drops_seen.iter().all(|d| d.load(Ordering::SeqCst) == 1) { break; }
                sleep(Duration::from_millis(5)).await;
            }
            assert!(drops_seen.iter().all(|d| d.load(Ordering::SeqCst) == 1), "each buffer freed exactly once");
        }).unwrap();
        assert_eq!(rt.live_ops(), 0);
        drop(rt);
        assert_eq!(fd_count(), before, "descriptors leaked: {:#?}", fd_listing());
    }
}

both_backends! {
    fn dropping_the_runtime_with_ops_in_flight(backend) {
        let _lock = fd_lock();
        let before = fd_count_settled();
        let rt = runtime(backend);
        let keep = rt.block_on(async {
            let (a, b) = UnixStream::pair().unwrap();
            let (buf, drops) = TrackedBuf::new(64);
            // A task parked in a read that never completes, left running at shutdown.
            drop(ringloop::spawn(async move {
                let _ = b.read(buf).await;
            }));
            ringloop::yield_now().await;
            sleep(Duration::from_millis(5)).await;
            (a, drops)
        }).unwrap();
        drop(rt);
        assert_eq!(keep.1.load(Ordering::SeqCst), 1, "the parked read's buffer was freed at shutdown");
        drop(keep);
        assert_eq!(fd_count(), before);
    }
}

both_backends! {
    /// 64 parked reads completing at once. On io_uring the ring has 4 SQ and 8 CQ entries,
    /// so their completions overflow the CQ; the driver must flush the backlog.
    fn tiny_ring_overflows_its_cq_and_loses_nothing(backend) {
        let _lock = fd_lock();
        let rt = runtime_with(ringloop::Runtime::builder().backend(backend).ring_entries(4));
        rt.block_on(async {
            let mut peers = Vec::new();
            let mut readers = Vec::new();
            for i in 0..64u8 {
                let (mine, theirs) = std::os::unix::net::UnixStream::pair().unwrap();
                let mine = UnixStream::from_std(mine).unwrap();
                peers.push(theirs);
                readers.push(ringloop::spawn(async move {
                    let (res, buf) = mine.read(Vec::with_capacity(8)).await;
                    assert_eq!(&buf[..res.unwrap()], &[i]);
                }));
            }
            // Let every read reach the kernel and park.
            sleep(Duration::from_millis(20)).await;
            for (i, peer) in peers.iter_mut().enumerate() {
                peer.write_all(&[i as u8]).unwrap();
            }
            for r in readers {
                r.await.unwrap();
            }
        }).unwrap();
        if rt.backend() == ringloop::Backend::Uring {
            let stats = rt.stats();
            assert!(stats.cq_overflows > 0, "the test meant to overflow the CQ: {stats:?}");
        }
    }
}

both_backends! {
    /// Dropping a runtime releases every descriptor it owns before the drop returns, even
    /// when blocking-pool jobs (which hold a handle to the loop) finished just before.
    fn dropping_a_runtime_releases_its_descriptors_before_returning(backend) {
        let _lock = fd_lock();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"contents").unwrap();
        let before = fd_count_settled();
        for _ in 0..50 {
            let rt = runtime(backend);
            rt.block_on(async {
                assert_eq!(ringloop::fs::read(&path).await.unwrap(), b"contents");
                assert_eq!(ringloop::spawn_blocking(|| 1).await.unwrap(), 1);
            }).unwrap();
            drop(rt);
            assert_eq!(fd_count(), before, "descriptors still open after the runtime was dropped: {:#?}", fd_listing());
        }
    }
}

both_backends! {
    // Sockets are not Send, but one thread may run several loops in turn: a socket made
    // under one runtime keeps working under the next (registrations are per loop), even
    // after the first runtime is gone, and closes cleanly there.
    fn sockets_outlive_the_runtime_that_opened_them(backend) {
        let _lock = fd_lock();
        let fds_before = fd_count_settled();
        let first = runtime(backend);
        let (listener, client, accepted) = first
            .block_on(async {
                let listener = TcpListener::bind("127.0.0.1:0").unwrap();
                let addr = listener.local_addr().unwrap();
                let client = TcpStream::connect(&addr).await.unwrap();
                let (accepted, _) = listener.accept().await.unwrap();
                // Used once here, so each has whatever per-loop state the backend keeps.
                let (res, _) = client.write_all(b"ping".to_vec()).await;
                res.unwrap();
                let (res, buf) = accepted.read(vec![0; 4]).await;
                assert_eq!(&buf[..res.unwrap()], b"ping");
                (listener, client, accepted)
            })
            .unwrap();
        drop(first);
        let second = runtime(backend);
        second
            .block_on(async {
                let (res, _) = accepted.write_all(b"pong".to_vec()).await;
                res.unwrap();
                let (res, buf) = client.read(vec![0; 4]).await;
                assert_eq!(&buf[..res.unwrap()], b"pong");
                // A new connection through the old listener, and reads that must wait.
                let addr = listener.local_addr().unwrap();
                let late = ringloop::spawn(async move { TcpStream::connect(&addr).await.unwrap() });
                let (again, _) = listener.accept().await.unwrap();
                let late = late.await.unwrap();
                let reader = ringloop::spawn(async move {
                    let (res, buf) = again.read(vec![0; 5]).await;
                    buf[..res.unwrap()].to_vec()
                });
                sleep(Duration::from_millis(20)).await;
                let (res, _) = late.write_all(b"later".to_vec()).await;
                res.unwrap();
                assert_eq!(reader.await.unwrap(), b"later");
            })
            .unwrap();
        drop((listener, client, accepted));
        drop(second);
        assert_eq!(fd_count_settled(), fds_before, "every descriptor closed");
    }
}
