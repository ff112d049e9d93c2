//! A "something changed" notifier for the tasks behind one transport, and the join macros
//! its loops are combined with (the loops race their transfers against it with the
//! public [`race!`](crate::race!)).

use std::cell::{Cell, RefCell};
use std::future::poll_fn;
use std::task::{Poll, Waker};

/// Wakes every waiting task when state they watch changes.
#[derive(Default)]
pub(crate) struct Changed {
    /// Nearly always the connection's own task: kept inline, with no allocation to reach.
    first: Cell<Option<Waker>>,
    others: RefCell<Vec<Waker>>,
}

impl Changed {
    pub(crate) fn notify(&self) {
        if let Some(waker) = self.first.take() {
            waker.wake();
        }
        let others = std::mem::take(&mut *self.others.borrow_mut());
        for waker in others {
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

    /// Whether the next `notify` wakes `waker`.
    pub(crate) fn holds(&self, waker: &Waker) -> bool {
        let first = self.first.take();
        let held = first.as_ref().is_some_and(|w| w.will_wake(waker));
        self.first.set(first);
        held || self.others.borrow().iter().any(|w| w.will_wake(waker))
    }

    /// Wakes `waker` on the next `notify` (once, however often it registers before it).
    pub(crate) fn register(&self, waker: &Waker) {
        match self.first.take() {
            None => self.first.set(Some(waker.clone())),
            Some(first) => {
                let known = first.will_wake(waker);
                self.first.set(Some(first));
                if !known {
                    let mut others = self.others.borrow_mut();
                    if !others.iter().any(|w| w.will_wake(waker)) {
                        others.push(waker.clone());
                    }
                }
            }
        }
    }
}

/// Polls two `()` futures to completion, the first with `flag` set while it is polled.
/// The second is skipped on a pass where `b_waits(waker)` says polling it could only
/// return `Pending` again with its wake-up already arranged. Must be used inside an async
/// body. A macro rather than an async fn: an async fn stores the futures it is given
/// twice (as its arguments and as the pinned locals), and these futures are most of a
/// connection task's memory, touched on every message.
macro_rules! join_flagged {
    ($flag:expr, $a:expr, $b:expr) => {
        $crate::transport::signal::join_flagged!($flag, $a, $b, |_: &std::task::Waker| false)
    };
    ($flag:expr, $a:expr, $b:expr, $b_waits:expr) => {{
        let flag: &std::cell::Cell<bool> = $flag;
        let b_waits = $b_waits;
        let mut a = std::pin::pin!($a);
        let mut b = std::pin::pin!($b);
        let (mut a_done, mut b_done) = (false, false);
        std::future::poll_fn(|cx| {
            if !a_done {
                flag.set(true);
                a_done = std::future::Future::poll(a.as_mut(), cx).is_ready();
                flag.set(false);
            }
            if !b_done && !b_waits(cx.waker()) {
                b_done = std::future::Future::poll(b.as_mut(), cx).is_ready();
            }
            if a_done && b_done {
                std::task::Poll::Ready(())
            } else {
                std::task::Poll::Pending
            }
        })
        .await
    }};
}
pub(crate) use join_flagged;

/// Polls two `()` futures to completion (see [`join_flagged`]).
macro_rules! join2 {
    ($a:expr, $b:expr) => {
        $crate::transport::signal::join_flagged!(&std::cell::Cell::new(false), $a, $b)
    };
}
pub(crate) use join2;
