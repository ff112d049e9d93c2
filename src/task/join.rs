//! `JoinHandle` and `JoinError`: awaiting, cancelling and inspecting a spawned task.

use super::raw::RawTask;
use super::state::{CANCELLED, COMPLETE};
use std::fmt;
use std::future::Future;
use std::io;
use std::marker::PhantomData;
use std::mem::ManuallyDrop;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

/// Why a task produced no value.
#[derive(Debug)]
pub enum JoinError {
    /// The task was cancelled (by [`JoinHandle::cancel`] or because its runtime shut down).
    Cancelled,
    /// The task panicked; the loop caught the panic and kept running.
    Panicked {
        /// The panic payload, if it was a string.
        message: String,
    },
}

impl JoinError {
    /// Whether the task was cancelled.
    pub fn is_cancelled(&self) -> bool {
        matches!(self, JoinError::Cancelled)
    }

    /// Whether the task panicked.
    pub fn is_panic(&self) -> bool {
        matches!(self, JoinError::Panicked { .. })
    }
}

impl fmt::Display for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JoinError::Cancelled => f.write_str("task was cancelled"),
            JoinError::Panicked { message } => write!(f, "task panicked: {message}"),
        }
    }
}

impl std::error::Error for JoinError {}

impl From<JoinError> for io::Error {
    fn from(err: JoinError) -> Self {
        io::Error::other(err)
    }
}

/// What a `JoinHandle` needs from a result cell other than a task (`spawn_blocking`'s).
pub(crate) trait JoinTarget<T>: Send + Sync {
    fn poll_join(&self, cx: &mut Context<'_>) -> Poll<Result<T, JoinError>>;
    fn is_complete(&self) -> bool;
}

enum Target<T> {
    /// A spawned task; the bool says the output was already taken.
    Task(ManuallyDrop<RawTask>, bool),
    Blocking(Arc<dyn JoinTarget<T>>),
}

/// An owned permission to await a spawned task's result (asyncio's `Task`).
///
/// Awaiting it yields `Ok(value)`, or `Err(JoinError)` if the task was cancelled or
/// panicked. Dropping it detaches the task, which keeps running; call
/// [`cancel`](JoinHandle::cancel) to stop it.
///
/// ```
/// let out = ringloop::run(async {
///     let handle = ringloop::spawn(async { 6 * 7 });
///     handle.await
/// }).unwrap();
/// assert_eq!(out.unwrap(), 42);
/// ```
pub struct JoinHandle<T> {
    target: Target<T>,
    /// The task is `Send` whatever `T` is; the handle hands out a `T`, so it is `Send` only
    /// when `T` is (see the impls below).
    _output: PhantomData<*const T>,
}

// SAFETY: the handle only moves a `T` out of the cell (or drops it) on the thread it lives on,
// and the task's state protocol makes that the one access; so it may move across threads
// exactly when `T` may.
unsafe impl<T: Send> Send for JoinHandle<T> {}
// SAFETY: `&JoinHandle` only reads the state bits and requests cancellation, both atomic.
unsafe impl<T: Send> Sync for JoinHandle<T> {}

impl<T> JoinHandle<T> {
    /// The handle of a task, adopting the task reference it is given.
    pub(crate) fn from_task(task: RawTask) -> Self {
        Self {
            target: Target::Task(ManuallyDrop::new(task), false),
            _output: PhantomData,
        }
    }

    pub(crate) fn new(target: Arc<dyn JoinTarget<T>>) -> Self {
        Self {
            target: Target::Blocking(target),
            _output: PhantomData,
        }
    }

    /// Asks the task to stop: its future is dropped on the loop's next turn (running the
    /// destructors of everything it owns, cancelling its in-flight I/O) and awaiting this
    /// handle yields `JoinError::Cancelled`. No effect on a task that has already finished.
    ///
    /// A `spawn_blocking` closure already running cannot be interrupted (as with asyncio's
    /// `run_in_executor`); cancelling it has no effect.
    pub fn cancel(&self) {
        if let Target::Task(task, _) = &self.target {
            let prev = task.header().state.set(CANCELLED);
            if prev & (COMPLETE | CANCELLED) == 0 {
                task.wake_by_ref();
            }
        }
    }

    /// Whether the task has finished (with a value, a panic or a cancellation).
    pub fn is_finished(&self) -> bool {
        match &self.target {
            Target::Task(task, taken) => *taken || task.header().state.load() & COMPLETE != 0,
            Target::Blocking(target) => target.is_complete(),
        }
    }
}

impl<T> Future for JoinHandle<T> {
    type Output = Result<T, JoinError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        match &mut this.target {
            Target::Task(task, taken) => {
                let mut out: Poll<Result<T, JoinError>> = Poll::Pending;
                task.read_output(&mut out as *mut _ as *mut (), cx.waker());
                *taken |= out.is_ready();
                out
            }
            Target::Blocking(target) => target.poll_join(cx),
        }
    }
}

impl<T> Unpin for JoinHandle<T> {}

impl<T> Drop for JoinHandle<T> {
    fn drop(&mut self) {
        if let Target::Task(task, taken) = &mut self.target {
            // SAFETY: the handle's reference is handed to the task's join-drop, once.
            let task = unsafe { ManuallyDrop::take(task) };
            if *taken {
                drop(task); // only the reference is left to release
            } else {
                task.drop_join_handle();
            }
        }
    }
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle")
            .field("finished", &self.is_finished())
            .finish()
    }
}
