//! The timers' clock: nanoseconds since a process-wide epoch on the monotonic clock.
//!
//! Deadlines need "now" (a `sleep(d)` made off the loop, `Sleep::deadline()` asked early,
//! the loop's own checks; see `time::sleep` for how a `sleep(d)` on the loop avoids it),
//! and in a guest VM `clock_gettime` costs as much as a timer insert and cancel. So a
//! thread remembers one precise reading together with the CPU's time-stamp counter at that
//! moment (an [`Anchor`]), and for the next millisecond estimates "now" from the counter
//! alone. The estimate leans late, never early: the anchor's counter is read *before* the
//! clock, the elapsed time is padded, and an anchor older than a millisecond is not used.
//! A timer armed from it therefore never fires before its true deadline; at worst it fires
//! a few microseconds later, far below the wheel's one-millisecond tick. Without a usable
//! counter (see `sys::tsc`) every read is a precise one.

use crate::sys::tsc;
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// How long an anchor serves estimates, in nanoseconds.
const ANCHOR_LIFETIME_NS: u64 = 1_000_000;
/// Added to every estimate: covers the time between the anchor's two reads.
const PAD_NS: u64 = 2_000;
/// The shortest baseline that calibrates the counter's rate. With readings trusted only
/// when they took under [`MAX_READ_TICKS`] (at most 5 µs on a 1 GHz counter), the rate
/// is off by at most 0.25%, well within the estimate's 1/128 padding; later readings
/// lengthen the baseline and shrink the error.
const CALIBRATION_NS: u64 = 2_000_000;
/// A precise reading whose counter values before and after lie further apart than this
/// (the thread was interrupted in between) neither calibrates nor anchors. An
/// uninterrupted one takes about a hundred ticks.
const MAX_READ_TICKS: u64 = 5_000;

/// A precise clock reading paired with the counter value taken just before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Anchor {
    tsc: u64,
    ns: u64,
    /// Nanoseconds per counter tick, as a 32.32 fixed-point number (0: not calibrated).
    ns_per_tick_q32: u64,
    /// Counter ticks after which the anchor is stale.
    lifetime_ticks: u64,
}

impl Anchor {
    /// An anchor that never gives an estimate.
    pub(crate) const STALE: Anchor = Anchor {
        tsc: 0,
        ns: 0,
        ns_per_tick_q32: 0,
        lifetime_ticks: 0,
    };

    /// Anchors `ns` (a precise reading taken right after the counter read `tsc`) with the
    /// calibrated rate `ns_per_tick_q32` (0 if unknown: the anchor is then stale).
    pub(crate) fn new(tsc: u64, ns: u64, ns_per_tick_q32: u64) -> Anchor {
        if ns_per_tick_q32 == 0 {
            return Anchor::STALE;
        }
        Anchor {
            tsc,
            ns,
            ns_per_tick_q32,
            lifetime_ticks: (u128::from(ANCHOR_LIFETIME_NS) << 32)
                .checked_div(u128::from(ns_per_tick_q32))
                .map_or(0, |t| t.min(u128::from(u32::MAX)) as u64),
        }
    }

    /// "Now" at counter value `tsc`, never earlier than the truth (given a rate within
    /// 1/128 of the real one), or `None` when the anchor is stale or the counter went
    /// backwards (another CPU's counter).
    pub(crate) fn estimate(&self, tsc: u64) -> Option<u64> {
        let ticks = tsc.checked_sub(self.tsc)?;
        if ticks >= self.lifetime_ticks {
            return None;
        }
        // ticks <= lifetime = 1 ms / rate, so the product is at most 1 ms in 32.32.
        let elapsed = ticks.checked_mul(self.ns_per_tick_q32)? >> 32;
        Some(self.ns + elapsed + elapsed / 128 + PAD_NS)
    }
}

/// The counter's rate from two (counter, ns) readings far enough apart, as 32.32 ns per tick.
pub(crate) fn rate_q32(first: (u64, u64), last: (u64, u64)) -> Option<u64> {
    let ticks = last.0.checked_sub(first.0).filter(|&t| t > 0)?;
    let ns = last
        .1
        .checked_sub(first.1)
        .filter(|&n| n >= CALIBRATION_NS)?;
    let q32 = (u128::from(ns) << 32) / u128::from(ticks);
    u64::try_from(q32).ok().filter(|&r| r > 0 && r < 1 << 40)
}

thread_local! {
    static ANCHOR: Cell<Anchor> = const { Cell::new(Anchor::STALE) };
}
/// The first reading of the process, the base every calibration measures from.
static FIRST_READING: OnceLock<(u64, u64)> = OnceLock::new();
static RATE_Q32: AtomicU64 = AtomicU64::new(0);
/// The baseline (ns since the first reading) of the current `RATE_Q32`.
static CALIBRATED_OVER_NS: AtomicU64 = AtomicU64::new(0);

/// The epoch: timer deadlines and wheel ticks count from it.
pub(crate) fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

/// Nanoseconds from the epoch to `at` (0 for earlier instants, `u64::MAX` past ~584 years).
pub(crate) fn ns_of(at: Instant) -> u64 {
    duration_ns(at.saturating_duration_since(epoch()))
}

/// One wheel tick, in nanoseconds: the wheel counts milliseconds since the epoch.
const NS_PER_TICK: u64 = 1_000_000;

/// The tick at or after `deadline_ns` (a timer never fires early); `u64::MAX` stays "never".
pub(crate) fn tick_at_or_after(deadline_ns: u64) -> u64 {
    if deadline_ns == u64::MAX {
        return u64::MAX;
    }
    deadline_ns.div_ceil(NS_PER_TICK)
}

/// The tick `now_ns` falls in (rounded down: every deadline at or before it has passed).
pub(crate) fn tick_of_now(now_ns: u64) -> u64 {
    now_ns / NS_PER_TICK
}

/// Where tick `tick` starts, in nanoseconds; `None` past the end of time.
pub(crate) fn tick_start_ns(tick: u64) -> Option<u64> {
    tick.checked_mul(NS_PER_TICK)
}

/// The instant `ns` after the epoch.
pub(crate) fn instant_of(ns: u64) -> Option<Instant> {
    epoch().checked_add(Duration::from_nanos(ns))
}

/// `duration` in nanoseconds, saturating (`Duration::MAX` is "never").
pub(crate) fn duration_ns(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

/// Now, possibly estimated: never earlier than the true time, at most a few microseconds
/// later. For deadlines that must not fire early.
#[inline]
pub(crate) fn now_ns() -> u64 {
    if let Some(tsc) = tsc::read() {
        if let Some(ns) = ANCHOR.with(|a| a.get().estimate(tsc)) {
            return ns;
        }
    }
    precise_now_ns()
}

/// Now, read from the monotonic clock (and used to re-anchor this thread's estimates).
pub(crate) fn precise_now_ns() -> u64 {
    let before = tsc::read();
    let ns = ns_of(Instant::now());
    let after = tsc::read();
    if let (Some(tsc), Some(after)) = (before, after) {
        if after.wrapping_sub(tsc) > MAX_READ_TICKS {
            return ns;
        }
        let first = *FIRST_READING.get_or_init(|| (tsc, ns));
        let mut rate = RATE_Q32.load(Ordering::Relaxed);
        // Recalibrate (a 128-bit division) only when the baseline has at least doubled
        // since the last calibration: the error halves each time, at no cost per turn.
        let baseline = ns.saturating_sub(first.1);
        if baseline >= CALIBRATED_OVER_NS.load(Ordering::Relaxed).saturating_mul(2) {
            if let Some(fresh) = rate_q32(first, (tsc, ns)) {
                rate = fresh;
                RATE_Q32.store(rate, Ordering::Relaxed);
                CALIBRATED_OVER_NS.store(baseline, Ordering::Relaxed);
            }
        }
        ANCHOR.with(|a| a.set(Anchor::new(tsc, ns, rate)));
    }
    ns
}

#[cfg(test)]
#[path = "clock_tests.rs"]
mod tests;
