//! Fault hooks for soak testing (feature `fault-injection`): short reads and writes on
//! both backends, `EINTR` from the epoll shim's syscalls, and interrupted `io_uring_enter`
//! calls. Everything they cause is supposed to be invisible to correct programs: callers
//! retry short I/O, and the driver retries `EINTR`.
//!
//! ```
//! ringloop::faults::configure(ringloop::faults::FaultConfig { short_io_percent: 20, eintr_percent: 5 });
//! ringloop::faults::configure(ringloop::faults::FaultConfig::default()); // off again
//! ```

use std::cell::Cell;
use std::sync::atomic::{AtomicU32, Ordering};

/// How often each fault fires, in percent.
#[derive(Debug, Clone, Copy, Default)]
pub struct FaultConfig {
    /// Reads and writes of stream data are cut to a random shorter length.
    pub short_io_percent: u32,
    /// epoll: a syscall "fails" with `EINTR` before it runs; io_uring: a wait returns early
    /// as if interrupted.
    pub eintr_percent: u32,
}

static SHORT_IO: AtomicU32 = AtomicU32::new(0);
static EINTR: AtomicU32 = AtomicU32::new(0);

/// Sets the fault rates for every loop in the process.
pub fn configure(config: FaultConfig) {
    SHORT_IO.store(config.short_io_percent.min(100), Ordering::Relaxed);
    EINTR.store(config.eintr_percent.min(100), Ordering::Relaxed);
}

thread_local! {
    static RNG: Cell<u64> = const { Cell::new(0x2545_F491_4F6C_DD1D) };
}

fn roll(percent: u32) -> Option<u64> {
    if percent == 0 {
        return None;
    }
    let x = RNG.with(|r| {
        let mut x = r.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        r.set(x);
        x
    });
    (x % 100 < percent as u64).then_some(x >> 8)
}

/// `len`, or sometimes a random shorter (non-zero) length.
pub(crate) fn maybe_short(len: usize) -> usize {
    match roll(SHORT_IO.load(Ordering::Relaxed)) {
        Some(x) if len > 1 => 1 + (x as usize % (len - 1)),
        _ => len,
    }
}

/// Whether to pretend the next syscall (or wait) was interrupted.
pub(crate) fn interrupt() -> bool {
    roll(EINTR.load(Ordering::Relaxed)).is_some()
}
