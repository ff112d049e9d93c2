//! Tasks, join handles, cancellation, panics, cross-thread wakes, nested loops.

mod common;
use common::*;
use ringloop::time::sleep;
use ringloop::{spawn, yield_now, JoinError};
use std::cell::Cell;
use std::future::poll_fn;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

both_backends! {
    fn spawn_and_join_in_order(backend) {
        let rt = runtime(backend);
        let out = rt.block_on(async {
            let handles: Vec<_> = (0..100).map(|i| spawn(async move { i * 2 })).collect();
            let mut sum = 0;
            for h in handles {
                sum += h.await.unwrap();
            }
            sum
        }).unwrap();
        assert_eq!(out, (0..100).map(|i| i * 2).sum::<i32>());
        assert_eq!(rt.live_tasks(), 0);
        assert!(rt.stats().tasks_spawned >= 100);
    }
}

both_backends! {
    fn non_send_futures_run_on_the_loop(backend) {
        let rt = runtime(backend);
        let shared = Rc::new(Cell::new(0));
        let s2 = shared.clone();
        rt.block_on(async move {
            spawn(async move { s2.set(7) }).await.unwrap();
        }).unwrap();
        assert_eq!(shared.get(), 7);
    }
}

both_backends! {
    fn panicking_task_becomes_join_error_and_loop_survives(backend) {
        let rt = runtime(backend);
        rt.block_on(async {
            let bad = spawn(async { panic!("deliberate test panic") });
            let good = spawn(async { sleep(Duration::from_millis(5)).await; "fine" });
            match bad.await {
                Err(JoinError::Panicked { message }) => assert!(message.contains("deliberate")),
                other => panic!("expected a panic error, got {other:?}"),
            }
            assert_eq!(good.await.unwrap(), "fine");
        }).unwrap();
    }
}

both_backends! {
    fn cancel_stops_the_task_and_reports_cancelled(backend) {
        let rt = runtime(backend);
        rt.block_on(async {
            let dropped = Rc::new(Cell::new(false));
            struct SetOnDrop(Rc<Cell<bool>>);
            impl Drop for SetOnDrop {
                fn drop(&mut self) { self.0.set(true) }
            }
            let guard = SetOnDrop(dropped.clone());
            let handle = spawn(async move {
                let _guard = guard;
                sleep(Duration::from_secs(3600)).await;
            });
            yield_now().await;
            assert!(!handle.is_finished());
            handle.cancel();
            let result = handle.await;
            assert!(matches!(result, Err(JoinError::Cancelled)), "{result:?}");
            assert!(dropped.get(), "the cancelled future was dropped");
        }).unwrap();
        assert_eq!(rt.live_timers(), 0, "the cancelled sleep left its timer");
    }
}

both_backends! {
    fn cancelling_a_finished_task_keeps_its_value(backend) {
        let rt = runtime(backend);
        rt.block_on(async {
            let handle = spawn(async { 5 });
            while !handle.is_finished() {
                yield_now().await;
            }
            handle.cancel();
            assert_eq!(handle.await.unwrap(), 5);
        }).unwrap();
    }
}

both_backends! {
    fn ten_thousand_tasks_cancelled_mid_sleep(backend) {
        let rt = runtime(backend);
        rt.block_on(async {
            let handles: Vec<_> = (0..10_000).map(|_| spawn(sleep(Duration::from_secs(60)))).collect();
            sleep(Duration::from_millis(5)).await;
            for h in &handles {
                h.cancel();
            }
            for h in handles {
                assert!(h.await.unwrap_err().is_cancelled());
            }
        }).unwrap();
        assert_eq!(rt.live_tasks(), 0);
        assert_eq!(rt.live_timers(), 0);
    }
}

both_backends! {
    fn detached_tasks_keep_running(backend) {
        let rt = runtime(backend);
        let flag = Rc::new(Cell::new(false));
        let f2 = flag.clone();
        rt.block_on(async move {
            drop(spawn(async move {
                sleep(Duration::from_millis(2)).await;
                f2.set(true);
            }));
            sleep(Duration::from_millis(20)).await;
        }).unwrap();
        assert!(flag.get());
    }
}

both_backends! {
    fn busy_task_cannot_starve_timers(backend) {
        let rt = runtime(backend);
        rt.block_on(async {
            let spinner = spawn(async {
                loop {
                    yield_now().await;
                }
            });
            let start = Instant::now();
            sleep(Duration::from_millis(20)).await;
            assert!(start.elapsed() < Duration::from_secs(5));
            spinner.cancel();
            assert!(spinner.await.unwrap_err().is_cancelled());
        }).unwrap();
    }
}

both_backends! {
    fn foreign_thread_wakes_a_parked_loop(backend) {
        let rt = runtime(backend);
        let slot: Arc<Mutex<(bool, Option<Waker>)>> = Arc::new(Mutex::new((false, None)));
        let thread_slot = slot.clone();
        let waker_thread = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            let mut s = thread_slot.lock().unwrap();
            s.0 = true;
            if let Some(w) = s.1.take() {
                w.wake();
            }
        });
        let start = Instant::now();
        rt.block_on(async {
            // The loop has nothing else to do: it parks in the kernel until the wake.
            poll_fn(|cx| {
                let mut s = slot.lock().unwrap();
                if s.0 { Poll::Ready(()) } else { s.1 = Some(cx.waker().clone()); Poll::Pending }
            })
            .await;
        }).unwrap();
        waker_thread.join().unwrap();
        assert!(start.elapsed() < Duration::from_secs(5));
    }
}

both_backends! {
    fn foreign_thread_wakes_a_spawned_task(backend) {
        let rt = runtime(backend);
        rt.block_on(async {
            let slot: Arc<Mutex<(bool, Option<Waker>)>> = Arc::new(Mutex::new((false, None)));
            let task_slot = slot.clone();
            let task = spawn(async move {
                poll_fn(|cx| {
                    let mut s = task_slot.lock().unwrap();
                    if s.0 { Poll::Ready(()) } else { s.1 = Some(cx.waker().clone()); Poll::Pending }
                })
                .await;
                "woken"
            });
            yield_now().await;
            let t = std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(20));
                let mut s = slot.lock().unwrap();
                s.0 = true;
                s.1.take().expect("task registered its waker").wake();
            });
            assert_eq!(task.await.unwrap(), "woken");
            t.join().unwrap();
        }).unwrap();
    }
}

both_backends! {
    fn handle_spawns_from_other_threads(backend) {
        let rt = runtime(backend);
        let handle = rt.handle();
        let threads: Vec<_> = (0..4)
            .map(|i| {
                let handle = handle.clone();
                std::thread::spawn(move || handle.spawn(async move { i * 10 }))
            })
            .collect();
        let joins: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        let total = rt.block_on(async {
            let mut total = 0;
            for j in joins {
                total += j.await.unwrap();
            }
            total
        }).unwrap();
        assert_eq!(total, 60);
    }
}

both_backends! {
    fn call_soon_runs_on_the_loop_thread(backend) {
        let rt = runtime(backend);
        let handle = rt.handle();
        let loop_thread = std::thread::current().id();
        let seen = Arc::new(Mutex::new(None));
        let seen2 = seen.clone();
        let t = std::thread::spawn(move || {
            handle.call_soon(move || *seen2.lock().unwrap() = Some(std::thread::current().id())).unwrap();
        });
        t.join().unwrap();
        rt.block_on(sleep(Duration::from_millis(5))).unwrap();
        assert_eq!(*seen.lock().unwrap(), Some(loop_thread));
    }
}

both_backends! {
    fn nested_block_on_is_an_error_naming_the_fix(backend) {
        let rt = runtime(backend);
        let inner = runtime(backend);
        rt.block_on(async {
            let err = inner.block_on(async { 1 }).unwrap_err();
            let message = err.to_string();
            assert!(message.contains("running ringloop loop"), "{message}");
            assert!(message.contains(".await") && message.contains("spawn"), "{message}");
            let err = ringloop::run(async { 1 }).unwrap_err();
            assert!(err.to_string().contains("spawn"));
        }).unwrap();
        // Outside the loop both work again.
        assert_eq!(inner.block_on(async { 2 }).unwrap(), 2);
    }
}

both_backends! {
    fn runtime_can_block_on_repeatedly_and_spawn_between(backend) {
        let rt = runtime(backend);
        let early = rt.spawn(async { 3 });
        assert_eq!(rt.block_on(async { 1 }).unwrap(), 1);
        assert_eq!(rt.block_on(early).unwrap().unwrap(), 3);
    }
}

both_backends! {
    fn dropping_the_runtime_cancels_pending_tasks(backend) {
        let rt = runtime(backend);
        let handle = rt.handle();
        let pending = handle.spawn(async { sleep(Duration::from_secs(3600)).await; 1 });
        rt.block_on(yield_now()).unwrap();
        drop(rt);
        let other = runtime(backend);
        assert!(other.block_on(pending).unwrap().unwrap_err().is_cancelled());
        assert!(handle.is_closed());
        assert!(handle.call_soon(|| {}).is_err());
        let late = handle.spawn(async { 1 });
        assert!(other.block_on(late).unwrap().unwrap_err().is_cancelled());
    }
}

both_backends! {
    fn spawn_blocking_runs_off_the_loop(backend) {
        let rt = runtime_with(ringloop::Runtime::builder().backend(backend).blocking_threads(4));
        rt.block_on(async {
            let loop_thread = std::thread::current().id();
            let handles: Vec<_> = (0..1000u64)
                .map(|i| ringloop::spawn_blocking(move || (i, std::thread::current().id())))
                .collect();
            let mut sum = 0;
            for h in handles {
                let (i, thread) = h.await.unwrap();
                assert_ne!(thread, loop_thread);
                sum += i;
            }
            assert_eq!(sum, 999 * 1000 / 2);
            let err = ringloop::spawn_blocking(|| panic!("pool panic")).await.unwrap_err();
            assert!(err.is_panic());
        }).unwrap();
    }
}

both_backends! {
    fn stall_detector_counts_a_blocking_poll(backend) {
        let rt = runtime_with(ringloop::Runtime::builder().backend(backend).stall_threshold(Duration::from_millis(100)));
        rt.block_on(async {
            spawn(async { std::thread::sleep(Duration::from_millis(200)) }).await.unwrap();
            spawn(async { sleep(Duration::from_millis(10)).await }).await.unwrap();
        }).unwrap();
        assert_eq!(rt.stats().stalls, 1);
        // Poll times use the coarse monotonic clock: accurate to one kernel tick (≤ 10 ms).
        assert!(rt.stats().longest_poll >= Duration::from_millis(190), "{:?}", rt.stats().longest_poll);
    }
}

both_backends! {
    // Off by default (asyncio's debug-mode check): nothing is timed, nothing reported.
    fn polls_are_untimed_without_the_stall_detector(backend) {
        let rt = runtime(backend);
        rt.block_on(async {
            spawn(async { std::thread::sleep(Duration::from_millis(30)) }).await.unwrap();
        }).unwrap();
        if std::env::var("RINGLOOP_DEBUG").is_ok_and(|v| v == "1") {
            // The environment turned the detector on for every runtime.
            assert_eq!(rt.stats().stalls, 0, "30 ms is under the 100 ms default threshold");
            return;
        }
        assert_eq!(rt.stats().stalls, 0);
        assert_eq!(rt.stats().longest_poll, Duration::ZERO);
    }
}

#[test]
fn join_handle_is_send_when_output_is() {
    fn assert_send<T: Send>(_: &T) {}
    let rt = runtime(ringloop::Backend::Epoll);
    let h = rt.spawn(async { 1u8 });
    assert_send(&h);
    assert_eq!(rt.block_on(h).unwrap().unwrap(), 1);
}

#[test]
#[should_panic(expected = "no loop running")]
fn spawn_outside_a_loop_panics_with_the_fix() {
    drop(spawn(async {}));
}

both_backends! {
    // A wake from another thread can still be queued for a task that finished meanwhile;
    // draining it must not put the finished task back among the live ones.
    fn remote_wake_of_a_finished_task_leaves_nothing_behind(backend) {
        let rt = runtime(backend);
        for _ in 0..20 {
            let value = rt
                .block_on(async {
                    let task = ringloop::spawn(async {
                        let waker = std::future::poll_fn(|cx| {
                            std::task::Poll::Ready(cx.waker().clone())
                        })
                        .await;
                        std::thread::spawn(move || waker.wake()).join().unwrap();
                        7
                    });
                    let value = task.await.unwrap();
                    ringloop::time::sleep(std::time::Duration::from_millis(2)).await;
                    value
                })
                .unwrap();
            assert_eq!(value, 7);
            assert_eq!(rt.live_tasks(), 0, "a finished task was registered again");
        }
    }
}

/// Wakers waiting for the next epoch; bumping the epoch wakes them all.
#[derive(Default)]
struct Epochs {
    epoch: u64,
    waiting: Vec<Waker>,
}

fn bump_epoch(epochs: &Mutex<Epochs>) {
    let waiting = {
        let mut e = epochs.lock().unwrap();
        e.epoch += 1;
        std::mem::take(&mut e.waiting)
    };
    for waker in waiting {
        waker.wake();
    }
}

both_backends! {
    // Local wakes mark a task queued with a loop-thread flag and remote wakes with a bit in
    // its state word: racing both for many rounds must never lose a wake (a lost one leaves
    // a task parked with no waker registered anywhere: the timeout below catches it).
    fn local_and_remote_wakes_racing_are_never_lost(backend) {
        const TASKS: usize = 50;
        const ROUNDS: u64 = 3_000;
        let rt = runtime(backend);
        let epochs = Arc::new(Mutex::new(Epochs::default()));
        let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let remote = {
            let (epochs, done) = (epochs.clone(), done.clone());
            std::thread::spawn(move || {
                while !done.load(std::sync::atomic::Ordering::Relaxed) {
                    bump_epoch(&epochs);
                    std::thread::sleep(Duration::from_micros(20));
                }
            })
        };
        let polls = rt.block_on(async {
            let local_done = Rc::new(Cell::new(false));
            let bumper = {
                let (epochs, local_done) = (epochs.clone(), local_done.clone());
                spawn(async move {
                    while !local_done.get() {
                        bump_epoch(&epochs);
                        yield_now().await;
                    }
                })
            };
            let waiters: Vec<_> = (0..TASKS)
                .map(|_| {
                    let epochs = epochs.clone();
                    spawn(async move {
                        let mut seen = 0;
                        let mut polls = 0u64;
                        for _ in 0..ROUNDS {
                            poll_fn(|cx| {
                                polls += 1;
                                let mut e = epochs.lock().unwrap();
                                if e.epoch > seen {
                                    seen = e.epoch;
                                    Poll::Ready(())
                                } else {
                                    e.waiting.push(cx.waker().clone());
                                    Poll::Pending
                                }
                            })
                            .await;
                        }
                        polls
                    })
                })
                .collect();
            let all = async {
                let mut polls = 0;
                for waiter in waiters {
                    polls += waiter.await.unwrap();
                }
                polls
            };
            let polls = ringloop::time::timeout(Duration::from_secs(30), all)
                .await
                .expect("a wake was lost: some task never ran again");
            local_done.set(true);
            bumper.await.unwrap();
            polls
        }).unwrap();
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        remote.join().unwrap();
        assert!(polls >= TASKS as u64 * ROUNDS, "each round is a poll at least: {polls}");
        assert_eq!(rt.live_tasks(), 0);
    }
}
