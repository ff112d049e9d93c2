//! `Sleep`: a future that completes at a deadline, on the loop's timing wheel.

use crate::runtime::context::{self, Context};
use crate::time::wheel::TimerKey;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{self, Poll};
use std::time::{Duration, Instant};

/// Completes at its deadline (never before; at most about a millisecond after).
///
/// It registers on the wheel when first polled; dropping it cancels the timer in O(1).
#[must_use = "a Sleep does nothing unless awaited"]
pub struct Sleep {
    /// `None`: never (a deadline past the end of time, e.g. `Duration::MAX`).
    deadline: Option<Instant>,
    entry: Option<(Rc<Context>, TimerKey)>,
}

/// Waits for `duration` (asyncio's `asyncio.sleep`). `Duration::MAX` waits forever.
///
/// ```
/// use std::time::{Duration, Instant};
/// ringloop::run(async {
///     let start = Instant::now();
///     ringloop::time::sleep(Duration::from_millis(20)).await;
///     assert!(start.elapsed() >= Duration::from_millis(20));
/// }).unwrap();
/// ```
pub fn sleep(duration: Duration) -> Sleep {
    Sleep {
        deadline: Instant::now().checked_add(duration),
        entry: None,
    }
}

/// Waits until `deadline`; a deadline in the past completes at once.
pub fn sleep_until(deadline: Instant) -> Sleep {
    Sleep {
        deadline: Some(deadline),
        entry: None,
    }
}

impl Sleep {
    /// The deadline, or `None` if it is beyond what `Instant` can represent.
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// Whether the deadline has passed.
    pub fn is_elapsed(&self) -> bool {
        self.deadline.is_some_and(|d| d <= Instant::now())
    }

    /// Moves the deadline (O(1)), re-arming a sleep that already completed.
    pub fn reset(&mut self, deadline: Instant) {
        self.deadline = Some(deadline);
        if let Some((ctx, key)) = &self.entry {
            let tick = ctx.tick_at(deadline);
            ctx.timers.borrow_mut().reset(*key, tick);
        }
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut task::Context<'_>) -> Poll<()> {
        let this = &mut *self;
        if let Some((ctx, key)) = &this.entry {
            let mut wheel = ctx.timers.borrow_mut();
            if wheel.is_fired(*key) {
                // Keep the entry so `reset` can re-arm it; the waker is gone.
                return Poll::Ready(());
            }
            if let Some(slot) = wheel.payload_mut(*key) {
                match slot {
                    Some(w) if w.will_wake(cx.waker()) => {}
                    _ => *slot = Some(cx.waker().clone()),
                }
            }
            return Poll::Pending;
        }
        if this.is_elapsed() {
            return Poll::Ready(());
        }
        let Some(ctx) = context::current() else {
            panic!(
                "ringloop::time::sleep polled with no loop running on this thread: await it inside \
                 ringloop::run(...) or Runtime::block_on(...)"
            );
        };
        let tick = this.deadline.map_or(u64::MAX, |d| ctx.tick_at(d));
        let key = ctx.timers.borrow_mut().insert(tick, cx.waker().clone());
        this.entry = Some((ctx, key));
        Poll::Pending
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        if let Some((ctx, key)) = self.entry.take() {
            if let Ok(mut wheel) = ctx.timers.try_borrow_mut() {
                wheel.remove(key);
            }
        }
    }
}

impl std::fmt::Debug for Sleep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sleep")
            .field("deadline", &self.deadline)
            .finish()
    }
}
