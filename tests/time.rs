//! Timers: never early, timeouts, intervals, far and past deadlines, no busy spin.

mod common;
use common::*;
use ringloop::time::{interval, sleep, sleep_until, timeout};
use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

both_backends! {
    fn sleeps_never_fire_early(backend) {
        let rt = runtime(backend);
        rt.block_on(async {
            for ms in [0u64, 1, 2, 3, 5, 8, 13, 21] {
                let d = Duration::from_millis(ms) + Duration::from_micros(250);
                let start = Instant::now();
                sleep(d).await;
                assert!(start.elapsed() >= d, "a {d:?} sleep woke after {:?}", start.elapsed());
            }
        }).unwrap();
        assert!(rt.stats().timers_fired >= 7);
    }
}

both_backends! {
    // Deadlines come from an estimated clock (the CPU counter against a recent precise
    // reading, see `time::clock`); after it is calibrated, many sleeps armed back to back,
    // some after CPU work that ages the anchor, must still all wake late, never early.
    fn estimated_deadlines_never_fire_early(backend) {
        let rt = runtime(backend);
        rt.block_on(async {
            sleep(Duration::from_millis(5)).await; // past the calibration baseline
            let handles: Vec<_> = (0..300u64)
                .map(|i| {
                    ringloop::spawn(async move {
                        if i % 7 == 0 {
                            let spin = Instant::now();
                            while spin.elapsed() < Duration::from_micros(300) {}
                        }
                        let d = Duration::from_micros(i * 37 % 4_000);
                        let start = Instant::now();
                        sleep(d).await;
                        (d, start.elapsed())
                    })
                })
                .collect();
            for h in handles {
                let (d, took) = h.await.unwrap();
                assert!(took >= d, "a {d:?} sleep woke after {took:?}");
            }
        }).unwrap();
    }
}

both_backends! {
    fn concurrent_timers_fire_in_deadline_order(backend) {
        let rt = runtime(backend);
        let order = Rc::new(RefCell::new(Vec::new()));
        rt.block_on({
            let order = order.clone();
            async move {
                let mut handles = Vec::new();
                for i in (0..50u64).rev() {
                    let order = order.clone();
                    handles.push(ringloop::spawn(async move {
                        sleep(Duration::from_millis(2 * i)).await;
                        order.borrow_mut().push(i);
                    }));
                }
                for h in handles {
                    h.await.unwrap();
                }
            }
        }).unwrap();
        let order = order.borrow();
        assert_eq!(*order, (0..50).collect::<Vec<_>>());
    }
}

both_backends! {
    fn timeouts_and_extreme_deadlines(backend) {
        let rt = runtime(backend);
        rt.block_on(async {
            assert!(timeout(Duration::from_millis(5), sleep(Duration::MAX)).await.is_err());
            assert!(timeout(Duration::from_millis(5), std::future::pending::<()>()).await.is_err());
            assert_eq!(timeout(Duration::MAX, async { 3 }).await, Ok(3));
            let err: std::io::Error = timeout(Duration::ZERO, sleep(Duration::from_secs(1))).await.unwrap_err().into();
            assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
            // Deadlines in the past complete at once.
            let past = Instant::now() - Duration::from_secs(10);
            let start = Instant::now();
            sleep_until(past).await;
            sleep(Duration::ZERO).await;
            assert!(start.elapsed() < Duration::from_secs(1));
        }).unwrap();
        assert_eq!(rt.live_timers(), 0, "expired timeouts left timers behind");
    }
}

both_backends! {
    fn reset_moves_a_sleep(backend) {
        let rt = runtime(backend);
        rt.block_on(async {
            let start = Instant::now();
            let mut s = Box::pin(sleep(Duration::from_secs(3600)));
            assert!(timeout(Duration::from_millis(2), s.as_mut()).await.is_err());
            s.as_mut().reset(Instant::now() + Duration::from_millis(10));
            s.as_mut().await;
            assert!(start.elapsed() >= Duration::from_millis(10));
            // Re-arming a sleep that already completed.
            let again = Instant::now() + Duration::from_millis(5);
            s.as_mut().reset(again);
            assert!(!s.is_elapsed());
            s.as_mut().await;
            assert!(Instant::now() >= again);
        }).unwrap();
    }
}

both_backends! {
    // `sleep(d)` on a loop thread reads no clock: the loop fixes its start when it next
    // checks timers. A sleep made before a long stretch of work in the same turn must
    // still count from its call (late is allowed, early never), and its deadline, however
    // it is learned, must be at least `d` after the call and never after it completes.
    fn a_sleep_counts_from_its_call_and_reports_an_honest_deadline(backend) {
        let rt = runtime(backend);
        rt.block_on(async {
            // Long enough that a stalled VM cannot make `is_elapsed` below true early.
            let d = Duration::from_millis(40);
            // Asked before the turn ends: fixed on the spot, then kept.
            let called = Instant::now();
            let mut s = Box::pin(sleep(d));
            let asked = s.deadline().expect("finite");
            assert!(asked >= called + d);
            std::thread::sleep(Duration::from_millis(3));
            assert_eq!(s.deadline(), Some(asked), "a deadline, once told, is kept");
            s.as_mut().await;
            assert!(Instant::now() >= asked);

            // Made before work in the same turn, asked after the loop fixed it.
            let called = Instant::now();
            let mut s = Box::pin(sleep(d));
            std::thread::sleep(Duration::from_millis(3));
            ringloop::yield_now().await; // the turn ends: the loop fixes the start
            let fixed = s.deadline().expect("finite");
            assert!(fixed >= called + d, "{:?} after the call", fixed - called);
            assert!(!s.is_elapsed());
            s.as_mut().await;
            assert!(Instant::now() >= fixed);
            assert!(called.elapsed() >= d);

            // Never asked until after it fired.
            let called = Instant::now();
            let mut s = Box::pin(sleep(d));
            s.as_mut().await;
            let done = Instant::now();
            let told = s.deadline().expect("finite");
            assert!(told >= called + d && told <= done, "deadline {:?} after the call", told - called);
            assert!(s.is_elapsed());
        }).unwrap();
        assert_eq!(rt.live_timers(), 0);
    }
}

both_backends! {
    // One poll that makes many sleeps (spawning a burst of sleeping tasks) must not push
    // the first one's start to the end of the poll: every 64th pending sleep starts the lot.
    fn a_poll_making_many_sleeps_starts_them_as_it_goes(backend) {
        let rt = runtime(backend);
        rt.block_on(async {
            let d = Duration::from_millis(20);
            let called = Instant::now();
            let first = sleep(d);
            let mut rest = Vec::new();
            let mut made_at = Vec::new();
            for _ in 0..100 {
                let spin = Instant::now();
                while spin.elapsed() < Duration::from_micros(200) {}
                rest.push(sleep(d));
                made_at.push(Instant::now());
            }
            // `first` is pending sleep 1; rest[62] is the 64th, which started them.
            let deadline = first.deadline().expect("finite");
            assert!(deadline >= called + d);
            let started_by = made_at[62];
            assert!(
                deadline <= started_by + d + Duration::from_millis(2),
                "started {:?} after the 64th sleep was made",
                deadline - d - started_by
            );
            assert!(made_at[99] > started_by + Duration::from_millis(7));
            first.await;
            for s in rest {
                s.await;
            }
            assert!(called.elapsed() >= d);
        }).unwrap();
        assert_eq!(rt.live_timers(), 0);
    }
}

both_backends! {
    // A sleep made where no loop runs counts from its call; one made on a loop and awaited
    // on another counts from when the second loop first sees it. Neither ends early.
    fn sleeps_made_off_the_loop_or_moved_between_loops_never_end_early(backend) {
        let d = Duration::from_millis(6);
        let called = Instant::now();
        let outside = sleep(d);
        assert!(format!("{outside:?}").contains("deadline"));
        let first = runtime(backend);
        let (made_on_first, made_at) = first.block_on(async { (sleep(d), Instant::now()) }).unwrap();
        assert_eq!(first.live_timers(), 1, "armed, pending, on the first loop");
        let second = runtime(backend);
        second.block_on(async move {
            outside.await;
            assert!(called.elapsed() >= d);
            made_on_first.await;
            assert!(made_at.elapsed() >= d);
        }).unwrap();
        assert_eq!(second.live_timers(), 0);
        // The first loop's entry fires on its own and wakes nobody.
        first.block_on(sleep(d + Duration::from_millis(2))).unwrap();
        assert_eq!(first.live_timers(), 0);
    }
}

both_backends! {
    fn interval_ticks_on_schedule_and_skips_missed_ticks(backend) {
        let rt = runtime(backend);
        rt.block_on(async {
            let mut every = interval(Duration::from_millis(5));
            let first = every.tick().await;
            let second = every.tick().await;
            assert_eq!(second - first, Duration::from_millis(5));
            assert!(Instant::now() >= second);
            std::thread::sleep(Duration::from_millis(30));
            let late = every.tick().await;
            let next = every.tick().await;
            assert!(next > late && next >= Instant::now() - Duration::from_millis(5), "missed ticks are skipped");
            assert_eq!(interval(Duration::ZERO).period(), Duration::from_millis(1));
        }).unwrap();
    }
}

both_backends! {
    fn sleep_inside_a_handle_spawned_task(backend) {
        let rt = runtime(backend);
        let handle = rt.handle();
        let join = std::thread::spawn(move || {
            handle.spawn(async {
                sleep(Duration::from_millis(3)).await;
                "slept"
            })
        })
        .join()
        .unwrap();
        assert_eq!(rt.block_on(join).unwrap().unwrap(), "slept");
    }
}

fn thread_cpu_time() -> Duration {
    let mut usage = libc::rusage {
        ru_utime: libc::timeval {
            tv_sec: 0,
            tv_usec: 0,
        },
        ru_stime: libc::timeval {
            tv_sec: 0,
            tv_usec: 0,
        },
        ru_maxrss: 0,
        ru_ixrss: 0,
        ru_idrss: 0,
        ru_isrss: 0,
        ru_minflt: 0,
        ru_majflt: 0,
        ru_nswap: 0,
        ru_inblock: 0,
        ru_oublock: 0,
        ru_msgsnd: 0,
        ru_msgrcv: 0,
        ru_nsignals: 0,
        ru_nvcsw: 0,
        ru_nivcsw: 0,
    };
    // SAFETY: getrusage fills the live struct it is given.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut usage) };
    assert_eq!(rc, 0);
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

both_backends! {
    /// A loop waiting only on a 300 µs timer must sleep in the kernel, not spin: over 1,000
    /// such waits (about 1-2 s of wall time) its thread burns a small fraction of that in CPU.
    fn short_timers_do_not_busy_spin(backend) {
        let rt = runtime(backend);
        let cpu_before = thread_cpu_time();
        let wall = Instant::now();
        rt.block_on(async {
            for _ in 0..1000 {
                sleep(Duration::from_micros(300)).await;
            }
        }).unwrap();
        let cpu = thread_cpu_time() - cpu_before;
        let wall = wall.elapsed();
        assert!(wall >= Duration::from_millis(300), "1,000 sleeps of 300 µs took only {wall:?}");
        // A spinning loop would burn about as much CPU as wall time.
        assert!(cpu < Duration::from_millis(250), "the loop burned {cpu:?} of CPU over {wall:?} of waiting");
        assert!(rt.stats().kernel_waits <= 4000, "{:?}", rt.stats());
    }
}

/// A sleeping task's memory is mostly its `Sleep` (the many-sleeps benchmark holds a
/// million): it stays at 40 bytes on 64-bit targets (deadline, delay, loop and timer key,
/// fired flag).
#[test]
#[cfg(target_pointer_width = "64")]
fn a_sleep_is_forty_bytes() {
    assert!(std::mem::size_of::<ringloop::time::Sleep>() <= 40);
}
