//! `wait` and `as_completed`: asyncio's ways of watching a set of futures.

use crate::time::sleep;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;

/// When [`wait`] returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Return {
    /// As soon as any future finishes.
    FirstCompleted,
    /// As soon as any future finishes with an error (or all finish).
    FirstError,
    /// When all have finished.
    AllCompleted,
}

/// What [`wait`] found: finished outputs and still-running futures, each with its index
/// in the input.
pub struct WaitResult<F: Future> {
    /// `(index, output)` of the futures that finished, in finishing order.
    pub done: Vec<(usize, F::Output)>,
    /// `(index, future)` of those still running; keep awaiting them or drop them.
    pub pending: Vec<(usize, Pin<Box<F>>)>,
}

/// Waits for a set of fallible futures until `mode` is satisfied or `timeout` passes
/// (asyncio's `asyncio.wait`). Unlike asyncio nothing is cancelled: unfinished futures come
/// back in `pending`.
///
/// ```
/// use ringloop::future::{wait, Return};
/// use std::time::Duration;
/// ringloop::run(async {
///     let futures = [1u64, 50, 5000].map(|ms| async move {
///         ringloop::time::sleep(Duration::from_millis(ms)).await;
///         Ok::<u64, ()>(ms)
///     });
///     let r = wait(futures, Return::AllCompleted, Some(Duration::from_millis(200))).await;
///     assert_eq!(r.done.len(), 2);
///     assert_eq!(r.pending.len(), 1);
/// }).unwrap();
/// ```
pub async fn wait<T, E, F>(
    futures: impl IntoIterator<Item = F>,
    mode: Return,
    timeout: Option<Duration>,
) -> WaitResult<F>
where
    F: Future<Output = Result<T, E>>,
{
    let mut running: Vec<(usize, Pin<Box<F>>)> =
        futures.into_iter().map(Box::pin).enumerate().collect();
    let mut done = Vec::new();
    let mut deadline = std::pin::pin!(sleep(timeout.unwrap_or(Duration::MAX)));
    poll_fn(|cx| {
        let mut i = 0;
        let mut stop = false;
        while i < running.len() {
            if let Poll::Ready(v) = running[i].1.as_mut().poll(cx) {
                let (index, _) = running.remove(i);
                stop |=
                    mode == Return::FirstCompleted || (mode == Return::FirstError && v.is_err());
                done.push((index, v));
            } else {
                i += 1;
            }
        }
        if stop || running.is_empty() || deadline.as_mut().poll(cx).is_ready() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await;
    WaitResult {
        done,
        pending: running,
    }
}

/// Yields outputs as their futures finish (asyncio's `as_completed`).
///
/// ```
/// use std::time::Duration;
/// ringloop::run(async {
///     let mut stream = ringloop::future::as_completed([20u64, 1].map(|ms| async move {
///         ringloop::time::sleep(Duration::from_millis(ms)).await;
///         ms
///     }));
///     assert_eq!(stream.next().await, Some((1, 1)));
///     assert_eq!(stream.next().await, Some((0, 20)));
///     assert_eq!(stream.next().await, None);
/// }).unwrap();
/// ```
pub fn as_completed<F: Future>(futures: impl IntoIterator<Item = F>) -> AsCompleted<F> {
    AsCompleted {
        running: futures.into_iter().map(Box::pin).enumerate().collect(),
    }
}

/// The stream from [`as_completed`].
pub struct AsCompleted<F: Future> {
    running: Vec<(usize, Pin<Box<F>>)>,
}

impl<F: Future> AsCompleted<F> {
    /// The next `(index, output)` to finish; `None` when all have been returned.
    pub async fn next(&mut self) -> Option<(usize, F::Output)> {
        if self.running.is_empty() {
            return None;
        }
        poll_fn(|cx| {
            for i in 0..self.running.len() {
                if let Poll::Ready(v) = self.running[i].1.as_mut().poll(cx) {
                    let (index, _) = self.running.remove(i);
                    return Poll::Ready(Some((index, v)));
                }
            }
            Poll::Pending
        })
        .await
    }

    /// Futures not yet returned.
    pub fn len(&self) -> usize {
        self.running.len()
    }

    /// Whether every future has been returned.
    pub fn is_empty(&self) -> bool {
        self.running.is_empty()
    }
}

/// Protects `future` from cancellation (asyncio's `shield`): it runs as its own task, so
/// dropping or cancelling the awaiting side leaves it running.
///
/// ```
/// use std::time::Duration;
/// use ringloop::time::{sleep, timeout};
/// ringloop::run(async {
///     let done = std::rc::Rc::new(std::cell::Cell::new(false));
///     let d2 = done.clone();
///     let shielded = ringloop::future::shield(async move { sleep(Duration::from_millis(20)).await; d2.set(true) });
///     assert!(timeout(Duration::from_millis(1), shielded).await.is_err());
///     sleep(Duration::from_millis(40)).await;
///     assert!(done.get(), "the shielded work finished although its waiter gave up");
/// }).unwrap();
/// ```
#[track_caller]
pub fn shield<F: Future + 'static>(future: F) -> crate::JoinHandle<F::Output> {
    crate::spawn(future)
}
