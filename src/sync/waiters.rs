//! A FIFO list of waiting tasks for the single-loop primitives.
//!
//! A waiter is either waiting or *granted* (it was chosen and woken, and owns whatever
//! was handed to it: a permit, an item slot). A granted waiter that is dropped before it
//! observes the grant must hand it back; the primitives do that in their `Drop`.

use slab::Slab;
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::task::{Context, Waker};

struct Waiter {
    id: u64,
    waker: Option<Waker>,
    granted: bool,
}

#[derive(Default)]
pub(crate) struct Waiters {
    slots: RefCell<Slab<Waiter>>,
    order: RefCell<VecDeque<(u64, usize)>>,
    next_id: Cell<u64>,
}

/// A waiter's place in the list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ticket {
    id: u64,
    slot: usize,
}

impl Waiters {
    /// Joins the end of the queue.
    pub(crate) fn enqueue(&self, cx: &Context<'_>) -> Ticket {
        let id = self.next_id.get();
        self.next_id.set(id + 1);
        let slot = self.slots.borrow_mut().insert(Waiter {
            id,
            waker: Some(cx.waker().clone()),
            granted: false,
        });
        self.order.borrow_mut().push_back((id, slot));
        Ticket { id, slot }
    }

    /// Refreshes the waker; returns whether the waiter has been granted.
    pub(crate) fn poll(&self, ticket: Ticket, cx: &Context<'_>) -> bool {
        let mut slots = self.slots.borrow_mut();
        let Some(w) = slots.get_mut(ticket.slot).filter(|w| w.id == ticket.id) else {
            return false;
        };
        if w.granted {
            return true;
        }
        match &w.waker {
            Some(old) if old.will_wake(cx.waker()) => {}
            _ => w.waker = Some(cx.waker().clone()),
        }
        false
    }

    /// Leaves the queue; returns whether the waiter had been granted (the caller then
    /// owns the grant and must use it or pass it on).
    pub(crate) fn remove(&self, ticket: Ticket) -> bool {
        let mut slots = self.slots.borrow_mut();
        let granted = match slots.get(ticket.slot) {
            Some(w) if w.id == ticket.id => slots.remove(ticket.slot).granted,
            _ => return false,
        };
        // A cancelled waiter leaves its entry in the FIFO; drop stale entries once they
        // outnumber the live ones, so loops like `race(work, event.wait())` stay bounded.
        let mut order = self.order.borrow_mut();
        if order.len() > 2 * slots.len() + 64 {
            order.retain(|(id, slot)| slots.get(*slot).is_some_and(|w| w.id == *id && !w.granted));
        }
        granted
    }

    /// Grants and wakes the longest-waiting ungranted waiter; `false` if there is none.
    pub(crate) fn grant_one(&self) -> bool {
        let mut order = self.order.borrow_mut();
        let mut slots = self.slots.borrow_mut();
        while let Some((id, slot)) = order.pop_front() {
            if let Some(w) = slots.get_mut(slot).filter(|w| w.id == id && !w.granted) {
                w.granted = true;
                if let Some(waker) = w.waker.take() {
                    waker.wake();
                }
                return true;
            }
        }
        false
    }

    /// Whether any waiter has not been granted yet.
    pub(crate) fn has_waiting(&self) -> bool {
        self.slots.borrow().iter().any(|(_, w)| !w.granted)
    }
}

impl Waiters {
    /// Grants and wakes every waiter.
    pub(crate) fn grant_all(&self) {
        while self.grant_one() {}
    }

    /// Waits in FIFO order until granted. Dropping the future after it was granted but
    /// before it completed passes the grant to the next waiter.
    pub(crate) fn wait(&self) -> Wait<'_> {
        Wait {
            waiters: self,
            ticket: None,
        }
    }
}

pub(crate) struct Wait<'a> {
    waiters: &'a Waiters,
    ticket: Option<Ticket>,
}

impl std::future::Future for Wait<'_> {
    type Output = ();

    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> std::task::Poll<()> {
        match self.ticket {
            None => {
                self.ticket = Some(self.waiters.enqueue(cx));
                std::task::Poll::Pending
            }
            Some(t) if self.waiters.poll(t, cx) => {
                self.waiters.remove(t);
                self.ticket = None;
                std::task::Poll::Ready(())
            }
            Some(_) => std::task::Poll::Pending,
        }
    }
}

impl Drop for Wait<'_> {
    fn drop(&mut self) {
        if let Some(t) = self.ticket.take() {
            if self.waiters.remove(t) {
                self.waiters.grant_one();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::Future;
    use std::pin::pin;
    use std::task::Waker;

    #[test]
    fn cancelled_waits_do_not_accumulate() {
        let waiters = Waiters::default();
        let mut cx = Context::from_waker(Waker::noop());
        for _ in 0..10_000 {
            let mut wait = pin!(waiters.wait());
            assert!(wait.as_mut().poll(&mut cx).is_pending());
            // dropped here: a cancelled wait
        }
        assert!(
            waiters.order.borrow().len() < 200,
            "the FIFO kept {} stale entries",
            waiters.order.borrow().len()
        );
        assert!(!waiters.has_waiting());
        // Still FIFO afterwards.
        let mut a = pin!(waiters.wait());
        let mut b = pin!(waiters.wait());
        assert!(a.as_mut().poll(&mut cx).is_pending() && b.as_mut().poll(&mut cx).is_pending());
        assert!(waiters.grant_one());
        assert!(a.as_mut().poll(&mut cx).is_ready());
        assert!(b.as_mut().poll(&mut cx).is_pending());
    }
}
