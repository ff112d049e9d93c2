//! `Builder::spin_before_park`: work that turns up while the loop spins (I/O, a wake from
//! another thread, a blocking-pool result) is taken without parking; the spin never holds
//! back a timer; with the default of zero the loop never spins.

mod common;
use common::*;
use ringloop::net::TcpListener;
use ringloop::{spawn, Runtime};
use std::future::poll_fn;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

/// Far longer than any test waits: a spin that ran to its end would show as a hang.
const LONG_SPIN: Duration = Duration::from_secs(30);

fn spinning_runtime(backend: ringloop::Backend, spin: Duration) -> Runtime {
    runtime_with(Runtime::builder().backend(backend).spin_before_park(spin))
}

both_backends! {
    fn io_arriving_during_the_spin_is_taken_without_parking(backend) {
        let rt = spinning_runtime(backend, LONG_SPIN);
        let started = Instant::now();
        let listener = rt.block_on(async { TcpListener::bind("127.0.0.1:0") }).unwrap().unwrap();
        let addr = listener.local_addr().unwrap();
        let client = std::thread::spawn(move || {
            // Late enough that the loop has run dry and is spinning.
            std::thread::sleep(Duration::from_millis(30));
            let mut stream = std::net::TcpStream::connect(addr).unwrap();
            std::thread::sleep(Duration::from_millis(30));
            stream.write_all(b"ping").unwrap();
            stream
        });
        let got = rt
            .block_on(async {
                let (stream, _) = listener.accept().await.unwrap();
                let (res, buf) = stream.read(Vec::with_capacity(16)).await;
                res.unwrap();
                buf
            })
            .unwrap();
        drop(client.join().unwrap());
        assert_eq!(got, b"ping");
        // Not a speed check: a spin blind to completions would run for LONG_SPIN.
        assert!(started.elapsed() < LONG_SPIN / 2, "the bytes waited for the spin to end");
        let stats = rt.stats();
        assert!(
            stats.parks_avoided >= 2,
            "the connection and the bytes both turned up mid-spin: {stats:?}"
        );
    }
}

both_backends! {
    fn a_wake_from_another_thread_ends_the_spin(backend) {
        let rt = spinning_runtime(backend, LONG_SPIN);
        let started = Instant::now();
        let ready = Arc::new(AtomicBool::new(false));
        let parked_waker: Arc<Mutex<Option<Waker>>> = Arc::default();
        let (flag, slot) = (ready.clone(), parked_waker.clone());
        let waker_thread = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(30));
            flag.store(true, Ordering::SeqCst);
            if let Some(waker) = slot.lock().unwrap().take() {
                waker.wake();
            }
        });
        let value = rt
            .block_on(async move {
                // A task (not the main future) so the wake goes through the loop's remote queue.
                spawn(async move {
                    poll_fn(|cx| {
                        *parked_waker.lock().unwrap() = Some(cx.waker().clone());
                        if ready.load(Ordering::SeqCst) {
                            Poll::Ready(7)
                        } else {
                            Poll::Pending
                        }
                    })
                    .await
                })
                .await
                .unwrap()
            })
            .unwrap();
        waker_thread.join().unwrap();
        assert_eq!(value, 7);
        assert!(rt.stats().parks_avoided >= 1, "{:?}", rt.stats());
        // Not a speed check: a spin blind to remote wakes would run for LONG_SPIN.
        assert!(started.elapsed() < LONG_SPIN / 2, "the wake waited for the spin to end");
    }
}

both_backends! {
    fn timers_fire_while_the_loop_spins(backend) {
        let rt = spinning_runtime(backend, LONG_SPIN);
        let started = Instant::now();
        rt.block_on(ringloop::time::sleep(Duration::from_millis(20))).unwrap();
        let waited = started.elapsed();
        assert!(waited >= Duration::from_millis(20), "woke early: {waited:?}");
        // Not a speed check: a spin that ignored the timer would take LONG_SPIN.
        assert!(waited < LONG_SPIN / 2, "the spin held the timer back: {waited:?}");
    }
}

both_backends! {
    fn the_default_never_spins(backend) {
        let rt = runtime(backend);
        rt.block_on(async {
            ringloop::time::sleep(Duration::from_millis(5)).await;
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let client = std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(10));
                std::net::TcpStream::connect(addr).unwrap()
            });
            listener.accept().await.unwrap();
            drop(client.join().unwrap());
        })
        .unwrap();
        assert_eq!(rt.stats().parks_avoided, 0);
    }
}

both_backends! {
    fn a_blocking_pool_result_ends_the_spin(backend) {
        let rt = spinning_runtime(backend, LONG_SPIN);
        let started = Instant::now();
        let value = rt
            .block_on(async {
                ringloop::spawn_blocking(|| {
                    std::thread::sleep(Duration::from_millis(30));
                    5
                })
                .await
            })
            .unwrap()
            .unwrap();
        assert_eq!(value, 5);
        assert!(rt.stats().parks_avoided >= 1, "{:?}", rt.stats());
        // Not a speed check: a spin blind to pool results would run for LONG_SPIN.
        assert!(started.elapsed() < LONG_SPIN / 2, "the result waited for the spin to end");
    }
}
