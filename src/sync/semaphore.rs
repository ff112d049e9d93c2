//! `Semaphore`: a FIFO-fair counting semaphore for tasks on one loop.

use super::waiters::{Ticket, Waiters};
use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Limits how many tasks hold a permit at once (asyncio's `Semaphore`). Fair: permits go
/// to waiters in the order they started waiting.
///
/// ```
/// use ringloop::sync::Semaphore;
/// use std::rc::Rc;
/// ringloop::run(async {
///     let sem = Rc::new(Semaphore::new(2));
///     let a = sem.acquire().await;
///     let _b = sem.acquire().await;
///     assert_eq!(sem.available_permits(), 0);
///     drop(a);
///     assert_eq!(sem.available_permits(), 1);
/// }).unwrap();
/// ```
#[derive(Default)]
pub struct Semaphore {
    permits: Cell<usize>,
    waiters: Waiters,
}

/// A held permit; dropping it releases the permit.
#[must_use = "the permit is released when dropped"]
pub struct Permit<'a> {
    semaphore: &'a Semaphore,
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        self.semaphore.release();
    }
}

impl Semaphore {
    /// A semaphore with `permits` permits.
    pub fn new(permits: usize) -> Self {
        Self {
            permits: Cell::new(permits),
            waiters: Waiters::default(),
        }
    }

    /// Permits free right now.
    pub fn available_permits(&self) -> usize {
        self.permits.get()
    }

    /// Waits for a permit (FIFO among waiters).
    pub fn acquire(&self) -> Acquire<'_> {
        Acquire {
            semaphore: self,
            ticket: None,
        }
    }

    /// A permit if one is free and nobody is queued for it.
    pub fn try_acquire(&self) -> Option<Permit<'_>> {
        if self.permits.get() > 0 && !self.waiters.has_waiting() {
            self.permits.set(self.permits.get() - 1);
            Some(Permit { semaphore: self })
        } else {
            None
        }
    }

    /// Adds a permit, handing it straight to the longest waiter if there is one.
    pub fn release(&self) {
        if !self.waiters.grant_one() {
            self.permits.set(self.permits.get() + 1);
        }
    }
}

/// The future from [`Semaphore::acquire`].
pub struct Acquire<'a> {
    semaphore: &'a Semaphore,
    ticket: Option<Ticket>,
}

impl<'a> Future for Acquire<'a> {
    type Output = Permit<'a>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Permit<'a>> {
        let sem = self.semaphore;
        match self.ticket {
            None => {
                if let Some(permit) = sem.try_acquire() {
                    return Poll::Ready(permit);
                }
                self.ticket = Some(sem.waiters.enqueue(cx));
                Poll::Pending
            }
            Some(ticket) => {
                if sem.waiters.poll(ticket, cx) {
                    sem.waiters.remove(ticket);
                    self.ticket = None;
                    // The releaser handed its permit to us directly.
                    Poll::Ready(Permit { semaphore: sem })
                } else {
                    Poll::Pending
                }
            }
        }
    }
}

impl Drop for Acquire<'_> {
    fn drop(&mut self) {
        if let Some(ticket) = self.ticket.take() {
            if self.semaphore.waiters.remove(ticket) {
                // Granted but never taken: pass the permit on.
                self.semaphore.release();
            }
        }
    }
}

/// Runs `futures` with at most `limit` running at once, returning outputs in input order
/// (a bounded `gather`).
///
/// ```
/// ringloop::run(async {
///     let squares = ringloop::sync::bounded(2, (1..=5).map(|i| async move { i * i })).await;
///     assert_eq!(squares, vec![1, 4, 9, 16, 25]);
/// }).unwrap();
/// ```
pub async fn bounded<F: Future>(
    limit: usize,
    futures: impl IntoIterator<Item = F>,
) -> Vec<F::Output> {
    let semaphore = Semaphore::new(limit.max(1));
    let gated = futures.into_iter().map(|f| {
        let semaphore = &semaphore;
        async move {
            let _permit = semaphore.acquire().await;
            f.await
        }
    });
    crate::future::join_all(gated).await
}
