//! `spawn_blocking`: run a blocking closure on the pool and await its result.

use crate::runtime::context;
use crate::task::join::JoinTarget;
use crate::task::{JoinError, JoinHandle};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

enum Stage<T> {
    Running(Option<Waker>),
    Done(Result<T, JoinError>),
    Taken,
}

/// The pool job's result slot; it is the join target of the handle `spawn_blocking` returns.
struct BlockingCell<T> {
    stage: Mutex<Stage<T>>,
}

impl<T> BlockingCell<T> {
    fn finish(&self, result: Result<T, JoinError>) {
        let mut stage = self.stage.lock().unwrap_or_else(|e| e.into_inner());
        let previous = std::mem::replace(&mut *stage, Stage::Done(result));
        drop(stage);
        if let Stage::Running(Some(waker)) = previous {
            waker.wake();
        }
    }
}

impl<T: Send> JoinTarget<T> for BlockingCell<T> {
    fn poll_join(&self, cx: &mut Context<'_>) -> Poll<Result<T, JoinError>> {
        let mut stage = self.stage.lock().unwrap_or_else(|e| e.into_inner());
        match &mut *stage {
            Stage::Running(waker) => {
                *waker = Some(cx.waker().clone());
                Poll::Pending
            }
            Stage::Done(_) => match std::mem::replace(&mut *stage, Stage::Taken) {
                Stage::Done(result) => Poll::Ready(result),
                _ => unreachable!("matched Done above"),
            },
            Stage::Taken => panic!("JoinHandle polled again after it returned Ready"),
        }
    }

    fn is_complete(&self) -> bool {
        !matches!(
            *self.stage.lock().unwrap_or_else(|e| e.into_inner()),
            Stage::Running(_)
        )
    }
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic payload".into())
}

/// Runs `f` on the runtime's blocking thread pool (asyncio's `run_in_executor`) and
/// returns a handle to await its result. The loop never waits on the pool: the result
/// wakes the awaiting task. A panic in `f` becomes `JoinError::Panicked`.
///
/// # Panics
/// When no ringloop loop is running on this thread.
///
/// ```
/// ringloop::run(async {
///     let sum = ringloop::spawn_blocking(|| (1..=10u64).sum::<u64>()).await.unwrap();
///     assert_eq!(sum, 55);
/// }).unwrap();
/// ```
#[track_caller]
pub fn spawn_blocking<F, T>(f: F) -> JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let Some(pool) = context::with_current(|ctx| ctx.shared.pool.clone()) else {
        panic!("ringloop::spawn_blocking called with no loop running on this thread");
    };
    let cell = Arc::new(BlockingCell {
        stage: Mutex::new(Stage::Running(None)),
    });
    let job_cell = cell.clone();
    let job = Box::new(move || {
        let result = catch_unwind(AssertUnwindSafe(f)).map_err(|p| JoinError::Panicked {
            message: panic_message(&*p),
        });
        job_cell.finish(result);
    });
    if let Err(err) = pool.execute(job) {
        cell.finish(Err(JoinError::Panicked {
            message: err.to_string(),
        }));
    }
    JoinHandle::new(cell)
}
