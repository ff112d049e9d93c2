//! The loop's thread-local state: run queue, owned tasks, driver, timers, counters.

use super::shared::Shared;
use super::stats::LoopCounters;
use crate::driver::deferred::Deferred;
use crate::driver::Driver;
use crate::task::cell::Task;
use crate::task::owned::OwnedTasks;
use crate::time::wheel::Wheel;
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;
use std::sync::Arc;
use std::task::Waker;
use std::time::Duration;

pub(crate) struct Context {
    pub(crate) shared: Arc<Shared>,
    pub(crate) run_queue: RefCell<VecDeque<Task>>,
    pub(crate) owned: OwnedTasks,
    pub(crate) driver: RefCell<Driver>,
    pub(crate) timers: RefCell<Wheel<Waker>>,
    pub(crate) counters: LoopCounters,
    /// Driver work destructors asked for while the driver was borrowed; done after the turn.
    pub(crate) deferred: RefCell<Vec<Deferred>>,
    /// Ops that may still complete inline before the current task must yield (epoll).
    pub(crate) coop_budget: Cell<u32>,
    pub(crate) stall_threshold: Option<Duration>,
    /// `call_soon` callbacks for the next turn (not `Send`: loop thread only).
    pub(crate) soon: RefCell<VecDeque<Box<dyn FnOnce()>>>,
}

thread_local! {
    static CURRENT: RefCell<Option<Rc<Context>>> = const { RefCell::new(None) };
}

impl Context {
    pub(crate) fn new(
        shared: Arc<Shared>,
        driver: Driver,
        stall_threshold: Option<Duration>,
    ) -> Self {
        Self {
            shared,
            run_queue: RefCell::new(VecDeque::with_capacity(256)),
            owned: OwnedTasks::new(),
            driver: RefCell::new(driver),
            timers: RefCell::new(Wheel::new()),
            counters: LoopCounters::default(),
            deferred: RefCell::new(Vec::new()),
            coop_budget: Cell::new(u32::MAX),
            stall_threshold,
            soon: RefCell::new(VecDeque::new()),
        }
    }

    /// Gives `work` to the driver now, or after the turn if a dispatch is borrowing it
    /// (a destructor running inside one).
    pub(crate) fn apply_or_defer(&self, work: Deferred) {
        match self.driver.try_borrow_mut() {
            Ok(mut driver) => driver.apply(work),
            Err(_) => self.deferred.borrow_mut().push(work),
        }
    }
}

/// Makes `ctx` current on this thread for the guard's lifetime; `Err` if one already is.
pub(crate) fn enter(ctx: &Rc<Context>) -> Result<EnterGuard, ()> {
    CURRENT.with(|c| {
        let mut slot = c.borrow_mut();
        if slot.is_some() {
            return Err(());
        }
        *slot = Some(ctx.clone());
        Ok(EnterGuard {
            _not_send: std::marker::PhantomData,
        })
    })
}

pub(crate) struct EnterGuard {
    _not_send: std::marker::PhantomData<Rc<()>>,
}

impl Drop for EnterGuard {
    fn drop(&mut self) {
        let ctx = CURRENT.with(|c| c.borrow_mut().take());
        drop(ctx);
    }
}

/// Whether some loop is running on this thread.
pub(crate) fn is_entered() -> bool {
    CURRENT.with(|c| c.try_borrow().map(|c| c.is_some()).unwrap_or(true))
}

/// The running loop's context, if any.
pub(crate) fn current() -> Option<Rc<Context>> {
    CURRENT.with(|c| c.try_borrow().ok().and_then(|c| c.clone()))
}

pub(crate) fn with_current<R>(f: impl FnOnce(&Context) -> R) -> Option<R> {
    CURRENT.with(|c| {
        let slot = c.try_borrow().ok()?;
        slot.as_deref().map(f)
    })
}

/// [`with_current`] for a closure that may itself come up empty, flattened into one
/// `Option`: a 16-byte result then comes back in registers. (A nested `Option` of one is
/// returned through memory, written field by field and read back whole, which stalls
/// store forwarding: that was a sixth of every `sleep(d)`.)
pub(crate) fn try_with_current<R>(f: impl FnOnce(&Context) -> Option<R>) -> Option<R> {
    CURRENT.with(|c| {
        let slot = c.try_borrow().ok()?;
        slot.as_deref().and_then(f)
    })
}

/// Runs `f` on this thread's run queue if this thread runs loop `loop_id` and the queue is
/// not borrowed; `None` (without calling `f`) otherwise.
pub(crate) fn with_run_queue<R>(
    loop_id: u64,
    f: impl FnOnce(&mut VecDeque<Task>) -> R,
) -> Option<R> {
    with_current(|ctx| {
        if ctx.shared.loop_id.get() != loop_id {
            return None;
        }
        let mut queue = ctx.run_queue.try_borrow_mut().ok()?;
        Some(f(&mut queue))
    })
    .flatten()
}
