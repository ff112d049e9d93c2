//! A thread that sleeps in short steps and records how late it wakes up: the longest
//! pause the whole process saw, from outside the loop. On a shared 2-core VM the host
//! can stop the guest for hundreds of milliseconds, and the soak's own threads (proxy,
//! blocking pool, cross-thread waker) crowd both cores; a poll caught in such a pause is
//! slow without the loop being at fault. The stall invariant allows for it.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

const STEP: Duration = Duration::from_millis(5);

pub struct Watchdog {
    stop: Arc<AtomicBool>,
    longest_late_us: Arc<AtomicU64>,
    thread: Option<JoinHandle<()>>,
}

impl Watchdog {
    pub fn start() -> Watchdog {
        let stop = Arc::new(AtomicBool::new(false));
        let longest_late_us = Arc::new(AtomicU64::new(0));
        let thread = {
            let (stop, longest) = (stop.clone(), longest_late_us.clone());
            std::thread::Builder::new()
                .name("soak-watchdog".into())
                .spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        let slept = Instant::now();
                        std::thread::sleep(STEP);
                        let late = slept.elapsed().saturating_sub(STEP);
                        longest.fetch_max(late.as_micros() as u64, Ordering::Relaxed);
                    }
                })
                .ok()
        };
        Watchdog {
            stop,
            longest_late_us,
            thread,
        }
    }

    /// The longest time the watchdog woke up late so far (zero if its thread could not
    /// start: then no pause is allowed for).
    pub fn longest_pause(&self) -> Duration {
        Duration::from_micros(self.longest_late_us.load(Ordering::Relaxed))
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
