//! `Interval`: ticks at a fixed period.

use super::sleep::{sleep_until, Sleep};
use std::future::poll_fn;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// Yields at `start`, `start + period`, `start + 2 * period`, …
///
/// Ticks missed because the loop was busy are skipped, not bunched: the next tick is the
/// next multiple of the period that is still ahead.
#[derive(Debug)]
pub struct Interval {
    next: Instant,
    period: Duration,
    sleep: Sleep,
}

/// An interval whose first tick is immediate. A zero period is raised to 1 ms (the
/// timer resolution) rather than spinning.
///
/// ```
/// use std::time::Duration;
/// ringloop::run(async {
///     let mut every = ringloop::time::interval(Duration::from_millis(2));
///     for _ in 0..3 {
///         every.tick().await;
///     }
/// }).unwrap();
/// ```
pub fn interval(period: Duration) -> Interval {
    interval_at(Instant::now(), period)
}

/// An interval whose first tick is at `start`.
pub fn interval_at(start: Instant, period: Duration) -> Interval {
    let period = period.max(Duration::from_millis(1));
    Interval {
        next: start,
        period,
        sleep: sleep_until(start),
    }
}

impl Interval {
    /// Waits for the next tick and returns its scheduled time.
    pub async fn tick(&mut self) -> Instant {
        poll_fn(|cx| self.poll_tick(cx)).await
    }

    /// Poll form of [`Interval::tick`].
    pub fn poll_tick(&mut self, cx: &mut Context<'_>) -> Poll<Instant> {
        if std::future::Future::poll(Pin::new(&mut self.sleep), cx).is_pending() {
            return Poll::Pending;
        }
        let fired = self.next;
        let now = Instant::now();
        let mut next = fired.checked_add(self.period).unwrap_or(fired);
        if next <= now {
            let behind = now.duration_since(fired).as_nanos() / self.period.as_nanos().max(1);
            let skip = u32::try_from(behind).unwrap_or(u32::MAX).saturating_add(1);
            next = fired
                .checked_add(self.period.saturating_mul(skip))
                .unwrap_or(now);
        }
        self.next = next;
        self.sleep.reset(next);
        Poll::Ready(fired)
    }

    /// The period.
    pub fn period(&self) -> Duration {
        self.period
    }

    /// Restarts the schedule one period from now.
    pub fn reset(&mut self) {
        self.next = Instant::now() + self.period;
        self.sleep.reset(self.next);
    }
}
