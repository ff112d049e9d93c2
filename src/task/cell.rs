//! The task cell: one allocation holding a spawned future, its output and its join waker.

use super::join::{JoinError, JoinTarget};
use super::state::{State, CANCELLED, COMPLETE, JOIN_DROPPED};
use crate::runtime::context;
use crate::runtime::shared::Shared;
use std::any::Any;
use std::cell::UnsafeCell;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe, Location};
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

/// A runnable task, type-erased for the run queues.
pub(crate) type Task = Arc<dyn Runnable>;

/// The loop's view of a task.
pub(crate) trait Runnable: Send + Sync {
    /// Polls the task once; on the loop thread only.
    fn run(self: Arc<Self>);
    /// Drops the future without polling it (runtime shutdown); on the loop thread only.
    fn shutdown(self: Arc<Self>);
    /// Where `spawn` was called, for the stall detector.
    fn spawn_site(&self) -> &'static Location<'static>;
    fn owned_index(&self) -> &AtomicU32;
    /// The loop this task belongs to.
    fn shared(&self) -> &Arc<Shared>;
}

/// Not registered in the loop's owned-task table yet (spawned from another thread).
pub(crate) const UNREGISTERED: u32 = u32::MAX;

pub(crate) struct TaskCell<F: Future> {
    state: State,
    shared: Arc<Shared>,
    future: UnsafeCell<Option<F>>,
    output: UnsafeCell<Option<Result<F::Output, JoinError>>>,
    join_waker: Mutex<Option<Waker>>,
    site: &'static Location<'static>,
    owned_index: AtomicU32,
}

// SAFETY: the future (which may be !Send) is only polled and dropped on the loop thread that
// owns `shared` (run/shutdown are only called from that loop's run queue, and the loop drops
// every unfinished future itself on shutdown). The output is handed over under the State
// protocol (see state.rs), and `JoinHandle` is only Send when the output is.
unsafe impl<F: Future> Send for TaskCell<F> {}
// SAFETY: see the Send impl; shared access goes through atomics and the join-waker mutex.
unsafe impl<F: Future> Sync for TaskCell<F> {}

impl<F: Future + 'static> TaskCell<F> {
    pub(crate) fn new(
        future: F,
        shared: Arc<Shared>,
        site: &'static Location<'static>,
    ) -> Arc<Self> {
        Arc::new(Self {
            state: State::new(),
            shared,
            future: UnsafeCell::new(Some(future)),
            output: UnsafeCell::new(None),
            join_waker: Mutex::new(None),
            site,
            owned_index: AtomicU32::new(UNREGISTERED),
        })
    }

    /// Marks a fresh task scheduled; the caller queues it.
    pub(crate) fn mark_scheduled(&self) -> bool {
        self.state.try_schedule()
    }

    /// Schedules through a borrowed reference, cloning only when it must be queued.
    pub(crate) fn wake_ref(self: &Arc<Self>) {
        if self.state.load() & (super::state::SCHEDULED | COMPLETE) == 0 {
            self.clone().schedule();
        }
    }

    /// Puts the task on a run queue unless it is already on one.
    pub(crate) fn schedule(self: Arc<Self>) {
        if self.state.try_schedule() {
            let loop_id = self.shared.loop_id;
            let task: Task = self;
            if let Err(task) = context::push_local(loop_id, task) {
                task.shared().clone().push_remote(task);
            }
        }
    }

    /// Stores the result, hands it to the join handle (or drops it), wakes the joiner.
    fn complete(&self, output: Result<F::Output, JoinError>) {
        // SAFETY: the output is written only here, once, on the loop thread, before COMPLETE
        // is published; nobody reads it until they observe COMPLETE.
        unsafe { *self.output.get() = Some(output) };
        let prev = self.state.set(COMPLETE);
        if prev & JOIN_DROPPED != 0 {
            // SAFETY: the handle is gone and saw no COMPLETE, so we are the output's only owner.
            drop(unsafe { (*self.output.get()).take() });
        } else if let Some(waker) = self
            .join_waker
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            waker.wake();
        }
        context::deregister_owned(
            self.shared.loop_id,
            self.owned_index.load(Ordering::Relaxed),
        );
    }

    /// Drops the future, catching a panic from its destructor.
    fn drop_future(&self) -> Option<Box<dyn Any + Send>> {
        // SAFETY: only the loop thread touches the future, and not re-entrantly.
        let slot = unsafe { &mut *self.future.get() };
        catch_unwind(AssertUnwindSafe(|| drop(slot.take()))).err()
    }
}

fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_string()
    }
}

impl<F: Future + 'static> Runnable for TaskCell<F> {
    fn run(self: Arc<Self>) {
        let prev = self.state.begin_run();
        if prev & COMPLETE != 0 {
            return;
        }
        if prev & CANCELLED != 0 {
            let panic = self.drop_future();
            self.complete(Err(panic.map_or(JoinError::Cancelled, |p| {
                JoinError::Panicked {
                    message: panic_message(&*p),
                }
            })));
            return;
        }
        let waker = super::waker::borrowed(&self);
        let mut cx = Context::from_waker(&waker);
        // SAFETY: only the loop thread touches the future, and not re-entrantly.
        let slot = unsafe { &mut *self.future.get() };
        let Some(future) = slot.as_mut() else { return };
        // SAFETY: the future lives inside the Arc allocation and is never moved out until dropped.
        let future = unsafe { Pin::new_unchecked(future) };
        match catch_unwind(AssertUnwindSafe(|| future.poll(&mut cx))) {
            Ok(Poll::Pending) => {}
            Ok(Poll::Ready(value)) => {
                *slot = None;
                self.complete(Ok(value));
            }
            Err(payload) => {
                let message = panic_message(&*payload);
                drop(self.drop_future());
                self.complete(Err(JoinError::Panicked { message }));
            }
        }
    }

    fn shutdown(self: Arc<Self>) {
        if self.state.load() & COMPLETE != 0 {
            return;
        }
        let panic = self.drop_future();
        drop(panic);
        self.complete(Err(JoinError::Cancelled));
    }

    fn spawn_site(&self) -> &'static Location<'static> {
        self.site
    }

    fn owned_index(&self) -> &AtomicU32 {
        &self.owned_index
    }

    fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }
}

impl<F: Future + 'static> JoinTarget<F::Output> for TaskCell<F> {
    fn poll_join(&self, cx: &mut Context<'_>) -> Poll<Result<F::Output, JoinError>> {
        if self.state.load() & COMPLETE == 0 {
            let mut slot = self.join_waker.lock().unwrap_or_else(|e| e.into_inner());
            match slot.as_ref() {
                Some(w) if w.will_wake(cx.waker()) => {}
                _ => *slot = Some(cx.waker().clone()),
            }
            drop(slot);
            if self.state.load() & COMPLETE == 0 {
                return Poll::Pending;
            }
        }
        // SAFETY: COMPLETE was observed (acquire) and the handle is the output's sole owner now.
        let output = unsafe { (*self.output.get()).take() };
        Poll::Ready(output.expect("JoinHandle polled again after it returned Ready"))
    }

    fn request_cancel(self: Arc<Self>) {
        let prev = self.state.set(CANCELLED);
        if prev & (COMPLETE | CANCELLED) == 0 {
            self.schedule();
        }
    }

    fn is_complete(&self) -> bool {
        self.state.load() & COMPLETE != 0
    }

    fn detach(&self) {
        let prev = self.state.set(JOIN_DROPPED);
        if prev & COMPLETE != 0 {
            // SAFETY: COMPLETE was set before JOIN_DROPPED, so the handle owns the unread output.
            drop(unsafe { (*self.output.get()).take() });
        }
    }
}
