//! A "something changed" notifier for the tasks behind one transport, and a two-way race.

use std::cell::RefCell;
use std::future::{poll_fn, Future};
use std::pin::pin;
use std::task::{Poll, Waker};

/// Wakes every waiting task when state they watch changes.
#[derive(Default)]
pub(crate) struct Changed {
    waiters: RefCell<Vec<Waker>>,
}

impl Changed {
    pub(crate) fn notify(&self) {
        for waker in self.waiters.borrow_mut().drain(..) {
            waker.wake();
        }
    }

    /// Resolves once `ready()` holds (checked now and after every `notify`).
    pub(crate) async fn until(&self, mut ready: impl FnMut() -> bool) {
        poll_fn(|cx| {
            if ready() {
                return Poll::Ready(());
            }
            self.register(cx.waker());
            Poll::Pending
        })
        .await
    }

    /// Wakes `waker` on the next `notify` (once, however often it registers before it).
    pub(crate) fn register(&self, waker: &Waker) {
        let mut waiters = self.waiters.borrow_mut();
        if !waiters.iter().any(|w| w.will_wake(waker)) {
            waiters.push(waker.clone());
        }
    }
}

/// Polls both futures; returns the first output, dropping (cancelling) the other.
pub(crate) async fn race<A: Future, B: Future>(a: A, b: B) -> Result<A::Output, B::Output> {
    let mut a = pin!(a);
    let mut b = pin!(b);
    poll_fn(|cx| {
        if let Poll::Ready(v) = a.as_mut().poll(cx) {
            return Poll::Ready(Ok(v));
        }
        if let Poll::Ready(v) = b.as_mut().poll(cx) {
            return Poll::Ready(Err(v));
        }
        Poll::Pending
    })
    .await
}

/// Polls both futures to completion.
pub(crate) async fn join2<A: Future<Output = ()>, B: Future<Output = ()>>(a: A, b: B) {
    let mut a = pin!(a);
    let mut b = pin!(b);
    let (mut a_done, mut b_done) = (false, false);
    poll_fn(|cx| {
        if !a_done {
            a_done = a.as_mut().poll(cx).is_ready();
        }
        if !b_done {
            b_done = b.as_mut().poll(cx).is_ready();
        }
        if a_done && b_done {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await
}
