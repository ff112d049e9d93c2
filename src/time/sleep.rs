//! `Sleep`: a future that completes at a deadline, on the loop's timing wheel.
//!
//! `sleep(d)` made on a loop's thread reads no clock. It arms a pending timer holding only
//! `d` on the loop's wheel, and the loop fixes the start of every timer armed during a
//! turn with the one clock reading it takes when it next checks its timers
//! ([`start_pending`]), or sooner, once [`PENDING_BATCH`] sleeps wait. That moment comes
//! after the call, so the sleep never ends early; it ends later by at most the rest of
//! that turn (microseconds unless a task blocks the loop, which delays every timer
//! anyway). A clock read costs a guest VM about a quarter of a timer's insert and cancel,
//! and servers pay it on every request through `timeout`.

use crate::runtime::context;
use crate::time::clock;
use crate::time::wheel::{Due, TimerKey, Wheel};
use std::future::Future;
use std::num::NonZeroU64;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{self, Poll, Waker};
use std::time::{Duration, Instant};

/// `Sleep::deadline_ns` while the loop has not fixed the start of a pending `sleep(d)`.
const UNFIXED: u64 = u64::MAX - 1;

/// A poll that makes this many sleeps starts them itself (one clock read for the lot), so
/// that a long poll making many (spawning a million sleeping tasks, say) does not push
/// every start to its end.
const PENDING_BATCH: usize = 64;

/// Completes at its deadline (never before; at most about a millisecond after).
///
/// `sleep(d)` made on a loop registers on that loop's wheel at once, `sleep_until` when
/// first polled; dropping it cancels the timer in O(1). It is `Send`, so futures spawned
/// from other threads can sleep (a sleep moved to another loop re-registers there).
#[must_use = "a Sleep does nothing unless awaited"]
pub struct Sleep {
    /// Nanoseconds after the clock's epoch; `u64::MAX` is never (e.g. `Duration::MAX`);
    /// [`UNFIXED`] while the entry is a pending `sleep(d)`. Atomic only so that
    /// `deadline(&self)` can record the value it fixes (relaxed: one owner writes it).
    deadline_ns: AtomicU64,
    /// For `sleep(d)`: `d` in nanoseconds, counted from a start fixed later.
    delay_ns: u64,
    /// The loop and wheel entry once registered; a stale key means the timer fired.
    entry: Option<Armed>,
    fired: bool,
}

/// A timer's loop (loop ids start at 1) and its key on that loop's wheel: 16 bytes, so it
/// is returned in registers and `Sleep` stays at 40 bytes.
type Armed = (NonZeroU64, TimerKey);

/// Waits for `duration` (asyncio's `asyncio.sleep`). `Duration::MAX` waits forever.
///
/// Made on a loop's thread, the sleep is armed at once and counts `duration` from the end
/// of the current loop turn (no clock read here; see the module docs): never early, late
/// by at most what is left of the turn.
///
/// ```
/// use std::time::{Duration, Instant};
/// ringloop::run(async {
///     let start = Instant::now();
///     ringloop::time::sleep(Duration::from_millis(20)).await;
///     assert!(start.elapsed() >= Duration::from_millis(20));
/// }).unwrap();
/// ```
#[inline]
pub fn sleep(duration: Duration) -> Sleep {
    let delay_ns = clock::duration_ns(duration);
    let pending = if delay_ns < UNFIXED {
        context::try_with_current(|ctx| {
            let loop_id = ctx.shared.loop_id;
            let mut wheel = ctx.timers.try_borrow_mut().ok()?;
            let key = wheel.insert_pending(delay_ns);
            if wheel.pending_len() >= PENDING_BATCH {
                start_pending(&mut wheel, clock::now_ns());
            }
            Some((loop_id, key))
        })
    } else {
        None
    };
    let deadline_ns = match pending {
        Some(_) => UNFIXED,
        // No loop here (or its wheel is busy): count from now, as read.
        None => deadline_after(clock::now_ns(), delay_ns),
    };
    Sleep {
        deadline_ns: AtomicU64::new(deadline_ns),
        delay_ns,
        entry: pending,
        fired: false,
    }
}

/// Waits until `deadline`; a deadline in the past completes at once.
pub fn sleep_until(deadline: Instant) -> Sleep {
    Sleep {
        deadline_ns: AtomicU64::new(never_unfixed(clock::ns_of(deadline))),
        delay_ns: 0,
        entry: None,
        fired: false,
    }
}

/// `delay_ns` after `start_ns`; past the representable range it is never.
fn deadline_after(start_ns: u64, delay_ns: u64) -> u64 {
    never_unfixed(start_ns.saturating_add(delay_ns))
}

/// Deadlines from [`UNFIXED`] up (584 years after the epoch) read as never.
fn never_unfixed(deadline_ns: u64) -> u64 {
    if deadline_ns >= UNFIXED {
        u64::MAX
    } else {
        deadline_ns
    }
}

/// Where a timer due at `tick` fires, in nanoseconds (`u64::MAX`: never).
fn tick_deadline_ns(tick: u64) -> u64 {
    clock::tick_start_ns(tick).map_or(u64::MAX, never_unfixed)
}

/// The deadline of a fired timer: its tick, unless the entry was reused since; then now,
/// which is past the deadline (late, never early).
fn fired_deadline_ns(wheel: &Wheel<Waker>, key: TimerKey) -> u64 {
    wheel
        .fired_at(key)
        .map_or_else(clock::now_ns, tick_deadline_ns)
}

/// Fixes the start of every pending `sleep(d)` on `wheel` at `now_ns`, a clock reading
/// taken after all of them were made. The loop calls it before it looks for due timers.
pub(crate) fn start_pending(wheel: &mut Wheel<Waker>, now_ns: u64) {
    wheel.resolve_pending(|delay_ns| clock::tick_at_or_after(deadline_after(now_ns, delay_ns)));
}

impl Sleep {
    /// The deadline, or `None` for a sleep that never ends. For `sleep(d)` it is at least
    /// `d` after the call: `d` after the moment the loop fixed as its start (the end of
    /// the turn it was made in, rounded up to the wheel's millisecond), or, when asked
    /// before that, `d` after now (the sleep then keeps that deadline). Asked from another
    /// thread while the sleep waits on a loop, it is an estimate. A deadline earlier than
    /// the process's first use of the timers reads as that moment (both are in the past,
    /// so the sleep is already over).
    pub fn deadline(&self) -> Option<Instant> {
        match self.deadline_ns() {
            u64::MAX => None,
            ns => clock::instant_of(ns),
        }
    }

    /// Whether the deadline has passed.
    pub fn is_elapsed(&self) -> bool {
        self.fired || self.deadline_ns() <= clock::precise_now_ns()
    }

    /// The deadline in nanoseconds, fixing a pending start now if the loop has not yet.
    fn deadline_ns(&self) -> u64 {
        let known = self.deadline_ns.load(Ordering::Relaxed);
        if known != UNFIXED {
            return known;
        }
        let on_its_loop = self.entry.and_then(|(loop_id, key)| {
            context::try_with_current(|ctx| {
                if ctx.shared.loop_id != loop_id {
                    return None;
                }
                let mut wheel = ctx.timers.try_borrow_mut().ok()?;
                Some(match wheel.due(key) {
                    Some(Due::At(tick)) => tick_deadline_ns(tick),
                    Some(Due::AfterPending(delay_ns)) => {
                        let ns = deadline_after(clock::now_ns(), delay_ns);
                        wheel.reset(key, clock::tick_at_or_after(ns));
                        ns
                    }
                    None => fired_deadline_ns(&wheel, key),
                })
            })
        });
        match on_its_loop {
            Some(ns) => {
                self.deadline_ns.store(ns, Ordering::Relaxed);
                ns
            }
            None => deadline_after(clock::now_ns(), self.delay_ns),
        }
    }

    /// Moves the deadline (O(1)), re-arming a sleep that already completed.
    pub fn reset(&mut self, deadline: Instant) {
        let deadline_ns = never_unfixed(clock::ns_of(deadline));
        *self.deadline_ns.get_mut() = deadline_ns;
        self.fired = false;
        if let Some((loop_id, key)) = self.entry {
            let tick = clock::tick_at_or_after(deadline_ns);
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

    #[inline]
    fn poll(mut self: Pin<&mut Self>, cx: &mut task::Context<'_>) -> Poll<()> {
        let this = &mut *self;
        if this.fired {
            return Poll::Ready(());
        }
        let polled = context::with_current(|ctx| {
            let mut wheel = ctx.timers.borrow_mut();
            if let Some((loop_id, key)) = this.entry {
                if ctx.shared.loop_id == loop_id {
                    return match wheel.payload_mut(key) {
                        None => {
                            // Fired: keep its deadline for `deadline()` while the wheel
                            // still knows it.
                            let deadline_ns = this.deadline_ns.get_mut();
                            if *deadline_ns == UNFIXED {
                                *deadline_ns = fired_deadline_ns(&wheel, key);
                            }
                            Poll::Ready(())
                        }
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
            // Not armed on this loop: arm it here at its deadline. A `sleep(d)` made on
            // another loop's thread counts `d` from now (late, never early).
            let deadline_ns = this.deadline_ns.get_mut();
            if *deadline_ns == UNFIXED {
                *deadline_ns = deadline_after(clock::now_ns(), this.delay_ns);
            }
            let tick = clock::tick_at_or_after(*deadline_ns);
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
    #[inline]
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
        // Without fixing a pending start (formatting should not change the sleep).
        let deadline_ns = self.deadline_ns.load(Ordering::Relaxed);
        let mut debug = f.debug_struct("Sleep");
        match deadline_ns {
            UNFIXED => debug.field(
                "starts_at_turn_end_then_waits",
                &Duration::from_nanos(self.delay_ns),
            ),
            u64::MAX => debug.field("deadline", &None::<Instant>),
            ns => debug.field("deadline", &clock::instant_of(ns)),
        };
        debug.field("fired", &self.fired).finish()
    }
}
