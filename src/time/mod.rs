//! Time: sleeps, timeouts and intervals on a hashed timing wheel.
//!
//! Timers have 1 ms resolution: they never fire early and at most about one tick late (a
//! `sleep(d)` made on a loop counts `d` from the end of the loop turn it was made in, so
//! add what is left of that turn).
//! See `docs/ARCHITECTURE.md` (in the repository) for the wheel's design.

pub(crate) mod clock;
mod interval;
pub(crate) mod sleep;
mod timeout;
pub(crate) mod wheel;

pub use interval::{interval, interval_at, Interval};
pub use sleep::{sleep, sleep_until, Sleep};
pub use std::time::Instant;
pub use timeout::{timeout, timeout_at, Elapsed, Timeout};
