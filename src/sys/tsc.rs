//! The CPU's time-stamp counter, offered only where the kernel itself keeps time with it.
//!
//! Reading it costs a third of a `clock_gettime(CLOCK_MONOTONIC)` on the machines we
//! measured (10 ns against 23 ns in a KVM guest). `time::clock` turns its ticks into
//! nanoseconds against a recent monotonic-clock reading; this file only reads it.

#[cfg(target_arch = "x86_64")]
use std::sync::OnceLock;

/// The counter now, or `None` when it must not be used as a clock here: not x86_64, or the
/// kernel's clocksource is something else (an unstable or unsynchronised TSC).
#[inline]
pub(crate) fn read() -> Option<u64> {
    #[cfg(target_arch = "x86_64")]
    if usable() {
        // SAFETY: `rdtsc` exists on every x86_64 CPU and has no memory effects.
        return Some(unsafe { core::arch::x86_64::_rdtsc() });
    }
    None
}

#[cfg(target_arch = "x86_64")]
fn usable() -> bool {
    static USABLE: OnceLock<bool> = OnceLock::new();
    *USABLE.get_or_init(|| {
        std::fs::read_to_string("/sys/devices/system/clocksource/clocksource0/current_clocksource")
            .is_ok_and(|source| source.trim() == "tsc")
    })
}
