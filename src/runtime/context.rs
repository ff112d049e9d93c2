//! The loop's thread-local state: run queue, owned tasks, driver, timers, counters.

use super::shared::Shared;
use super::stats::LoopCounters;
use crate::driver::Driver;
use crate::task::cell::Task;
use crate::task::raw::UNREGISTERED;
use crate::time::wheel::Wheel;
use slab::Slab;
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;
use std::sync::Arc;
use std::task::Waker;
use std::time::Duration;

pub(crate) struct Context {
    pub(crate) shared: Arc<Shared>,
    pub(crate) run_queue: RefCell<VecDeque<Task>>,
    owned: RefCell<Slab<Task>>,
    pub(crate) driver: RefCell<Driver>,
    pub(crate) timers: RefCell<Wheel<Waker>>,
    pub(crate) counters: LoopCounters,
    /// Fds whose epoll registration could not be removed at drop time (driver busy).
    pub(crate) deferred_deregistrations: RefCell<Vec<u32>>,
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
            owned: RefCell::new(Slab::new()),
            driver: RefCell::new(driver),
            timers: RefCell::new(Wheel::new()),
            counters: LoopCounters::default(),
            deferred_deregistrations: RefCell::new(Vec::new()),
            coop_budget: Cell::new(u32::MAX),
            stall_threshold,
            soon: RefCell::new(VecDeque::new()),
        }
    }

    /// Adds a task to the owned table so shutdown can drop it on this thread.
    pub(crate) fn register(&self, task: Task) {
        let mut owned = self.owned.borrow_mut();
        let entry = owned.vacant_entry();
        task.set_owned_index(entry.key() as u32);
        entry.insert(task);
    }

    pub(crate) fn owned_len(&self) -> usize {
        self.owned.borrow().len()
    }

    /// Takes every owned task out of the table (for shutdown).
    pub(crate) fn take_owned(&self) -> Vec<Task> {
        let tasks: Vec<Task> = self.owned.borrow_mut().drain().collect();
        for task in &tasks {
            task.set_owned_index(UNREGISTERED);
        }
        tasks
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

/// Pushes a task onto this thread's run queue if this thread runs loop `loop_id`.
pub(crate) fn push_local(loop_id: u64, task: Task) -> Result<(), Task> {
    let mut task = Some(task);
    let pushed = with_current(|ctx| {
        if ctx.shared.loop_id != loop_id {
            return false;
        }
        match ctx.run_queue.try_borrow_mut() {
            Ok(mut queue) => {
                queue.extend(task.take());
                true
            }
            Err(_) => false,
        }
    });
    match (pushed, task) {
        (Some(true), _) => Ok(()),
        (_, Some(task)) => Err(task),
        (_, None) => Ok(()),
    }
}

/// Removes a finished task from its loop's owned table (nothing off the loop thread) and
/// returns the table's reference to it.
pub(crate) fn deregister_owned(loop_id: u64, index: u32) -> Option<Task> {
    if index == UNREGISTERED {
        return None;
    }
    with_current(|ctx| {
        if ctx.shared.loop_id != loop_id {
            return None;
        }
        // The index stays set: a finished task must never look unregistered, or a wake
        // still queued remotely would register it again.
        ctx.owned.try_borrow_mut().ok()?.try_remove(index as usize)
    })
    .flatten()
}
