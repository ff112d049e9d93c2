//! `Sleep`: a future that completes at a deadline, on the loop's timing wheel.

use crate::runtime::context;
use crate::time::clock;
use crate::time::wheel::TimerKey;
use std::future::Future;
use std::pin::Pin;
use std::task::{self, Poll};
use std::time::{Duration, Instant};

/// Completes at its deadline (never before; at most about a millisecond after).
///
/// It registers on the running loop's wheel when first polled; dropping it cancels the
/// timer in O(1). It is `Send`, so futures spawned from other threads can sleep.
#[must_use = "a Sleep does nothing unless awaited"]
pub struct Sleep {
    /// Nanoseconds after the clock's epoch; `u64::MAX` is never (e.g. `Duration::MAX`).
    deadline_ns: u64,
    /// The loop and wheel entry once registered; a stale key means the timer fired.
    entry: Option<(u64, TimerKey)>,
    fired: bool,
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
        deadline_ns: clock::now_ns().saturating_add(clock::duration_ns(duration)),
        entry: None,
        fired: false,
    }
}

/// Waits until `deadline`; a deadline in the past completes at once.
pub fn sleep_until(deadline: Instant) -> Sleep {
    Sleep {
        deadline_ns: clock::ns_of(deadline),
        entry: None,
        fired: false,
    }
}

impl Sleep {
    /// The deadline, or `None` for a sleep that never ends. For `sleep(d)` it is at least
    /// `d` after the call (at most a few microseconds more: see `time::clock`). A deadline
    /// earlier than the process's first use of the timers reads as that moment (both are
    /// in the past, so the sleep is already over).
    pub fn deadline(&self) -> Option<Instant> {
        if self.deadline_ns == u64::MAX {
            return None;
        }
        clock::instant_of(self.deadline_ns)
    }

    /// Whether the deadline has passed.
    pub fn is_elapsed(&self) -> bool {
        self.fired || self.deadline_ns <= clock::precise_now_ns()
    }

    /// Moves the deadline (O(1)), re-arming a sleep that already completed.
    pub fn reset(&mut self, deadline: Instant) {
        self.deadline_ns = clock::ns_of(deadline);
        self.fired = false;
        if let Some((loop_id, key)) = self.entry {
            let tick = clock::tick_at_or_after(self.deadline_ns);
            let moved = context::with_current(|ctx| {
                ctx.shared.loop_id == loop_id && ctx.timers.borrow_mut().reset(key, tick)
            });
            if moved != Some(true) {
                // Fired (or on another loop): register afresh on the next poll.
                self.entry = None;
            }
        }
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut task::Context<'_>) -> Poll<()> {
        let this = &mut *self;
        if this.fired {
            return Poll::Ready(());
        }
        let polled = context::with_current(|ctx| {
            let mut wheel = ctx.timers.borrow_mut();
            if let Some((loop_id, key)) = this.entry {
                if loop_id == ctx.shared.loop_id {
                    return match wheel.payload_mut(key) {
                        None => Poll::Ready(()),
                        Some(slot) => {
                            match slot {
                                Some(w) if w.will_wake(cx.waker()) => {}
                                _ => *slot = Some(cx.waker().clone()),
                            }
                            Poll::Pending
                        }
                    };
                }
            }
            let tick = clock::tick_at_or_after(this.deadline_ns);
            // Already due by the wheel's clock (at most the last turn's start, so never
            // early): no clock read here. A deadline that passed since then is fired by
            // the next turn instead.
            if tick <= wheel.elapsed() {
                return Poll::Ready(());
            }
            this.entry = Some((ctx.shared.loop_id, wheel.insert(tick, cx.waker().clone())));
            Poll::Pending
        });
        match polled {
            Some(Poll::Ready(())) => {
                this.fired = true;
                this.entry = None;
                Poll::Ready(())
            }
            Some(Poll::Pending) => Poll::Pending,
            None => panic!(
                "ringloop::time::sleep polled with no loop running on this thread: await it inside \
                 ringloop::run(...) or Runtime::block_on(...)"
            ),
        }
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        if let Some((loop_id, key)) = self.entry.take() {
            // Off its loop's thread the entry simply fires later and wakes nobody.
            context::with_current(|ctx| {
                if ctx.shared.loop_id == loop_id {
                    if let Ok(mut wheel) = ctx.timers.try_borrow_mut() {
                        wheel.remove(key);
                    }
                }
            });
        }
    }
}

impl std::fmt::Debug for Sleep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sleep")
            .field("deadline", &self.deadline())
            .field("fired", &self.fired)
            .finish()
    }
}
