//! Running many futures concurrently inside one task.

use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::task::Poll;

type Slot<F> = Option<Pin<Box<F>>>;

/// Runs every future concurrently; outputs in input order (asyncio's `gather`, with
/// errors returned as values when the outputs are `Result`s). Dropping the returned future
/// drops (cancels) the ones still running.
///
/// ```
/// use std::time::Duration;
/// use ringloop::time::sleep;
/// ringloop::run(async {
///     let out = ringloop::future::join_all([30u64, 10, 20].map(|ms| async move {
///         sleep(Duration::from_millis(ms)).await;
///         ms
///     })).await;
///     assert_eq!(out, [30, 10, 20]);
/// }).unwrap();
/// ```
pub async fn join_all<F: Future>(futures: impl IntoIterator<Item = F>) -> Vec<F::Output> {
    let mut slots: Vec<Slot<F>> = futures.into_iter().map(|f| Some(Box::pin(f))).collect();
    let mut outputs: Vec<Option<F::Output>> = slots.iter().map(|_| None).collect();
    let mut left = slots.len();
    poll_fn(|cx| {
        for (slot, out) in slots.iter_mut().zip(outputs.iter_mut()) {
            if let Some(fut) = slot {
                if let Poll::Ready(v) = fut.as_mut().poll(cx) {
                    *out = Some(v);
                    *slot = None;
                    left -= 1;
                }
            }
        }
        if left == 0 {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await;
    outputs
        .into_iter()
        .map(|o| o.expect("every future finished"))
        .collect()
}

/// Runs every future concurrently; the first error cancels (drops) the rest and is
/// returned (asyncio's `gather` without `return_exceptions`).
///
/// ```
/// ringloop::run(async {
///     let ok = ringloop::future::try_join_all([1, 2].map(|i| async move { Ok::<_, String>(i) })).await;
///     assert_eq!(ok, Ok(vec![1, 2]));
///     let err = ringloop::future::try_join_all([
///         Box::pin(async { Err::<u8, _>("boom") }) as std::pin::Pin<Box<dyn std::future::Future<Output = _>>>,
///         Box::pin(std::future::pending()),
///     ]).await;
///     assert_eq!(err, Err("boom"));
/// }).unwrap();
/// ```
pub async fn try_join_all<T, E, F>(futures: impl IntoIterator<Item = F>) -> Result<Vec<T>, E>
where
    F: Future<Output = Result<T, E>>,
{
    let mut slots: Vec<Slot<F>> = futures.into_iter().map(|f| Some(Box::pin(f))).collect();
    let mut outputs: Vec<Option<T>> = slots.iter().map(|_| None).collect();
    let mut left = slots.len();
    let result = poll_fn(|cx| {
        for (slot, out) in slots.iter_mut().zip(outputs.iter_mut()) {
            if let Some(fut) = slot {
                if let Poll::Ready(v) = fut.as_mut().poll(cx) {
                    *slot = None;
                    left -= 1;
                    match v {
                        Ok(v) => *out = Some(v),
                        Err(e) => return Poll::Ready(Err(e)),
                    }
                }
            }
        }
        if left == 0 {
            Poll::Ready(Ok(()))
        } else {
            Poll::Pending
        }
    })
    .await;
    drop(slots);
    result.map(|()| {
        outputs
            .into_iter()
            .map(|o| o.expect("every future finished"))
            .collect()
    })
}

/// Which of two raced futures finished first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Either<A, B> {
    /// The first future's output.
    Left(A),
    /// The second future's output.
    Right(B),
}

/// Waits for the first of two futures and drops (cancels) the other. An async fn keeps
/// both futures twice in the caller's state; for large ones use [`race!`](crate::race!).
///
/// ```
/// use ringloop::future::{race, Either};
/// use std::time::Duration;
/// ringloop::run(async {
///     let won = race(ringloop::time::sleep(Duration::from_secs(60)), async { "fast" }).await;
///     assert_eq!(won, Either::Right("fast"));
/// }).unwrap();
/// ```
pub async fn race<A: Future, B: Future>(a: A, b: B) -> Either<A::Output, B::Output> {
    let mut a = std::pin::pin!(a);
    let mut b = std::pin::pin!(b);
    poll_fn(|cx| {
        if let Poll::Ready(v) = a.as_mut().poll(cx) {
            return Poll::Ready(Either::Left(v));
        }
        if let Poll::Ready(v) = b.as_mut().poll(cx) {
            return Poll::Ready(Either::Right(v));
        }
        Poll::Pending
    })
    .await
}

/// Waits for the first of many futures: its output and index; the rest are dropped.
/// An empty input never completes.
pub async fn select_all<F: Future>(futures: impl IntoIterator<Item = F>) -> (F::Output, usize) {
    let mut futures: Vec<Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    poll_fn(|cx| {
        for (i, f) in futures.iter_mut().enumerate() {
            if let Poll::Ready(v) = f.as_mut().poll(cx) {
                return Poll::Ready((v, i));
            }
        }
        Poll::Pending
    })
    .await
}
