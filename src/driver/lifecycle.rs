//! Op slots and the one function that moves them between states.
//!
//! ```text
//!            submit               completion: wake
//!   (free) ─────────► Waiting ───────────────────────────► Completed ──poll──► (free)
//!                      │   ▲                                   ▲   │
//!                quiet │   │ poll                              │   │ future dropped
//!                      ▼   │       completion: wake only if    │   ▼
//!                      Quiet ───── the result is unexpected ───┘  release(data) → (free)
//!                      │
//!                      │ future dropped (from Waiting or Quiet)
//!                      ▼
//!                   Orphaned ──completion──► release(data) → (free)
//! ```
//! An orphaned slot owns the op's buffers until the kernel (or the blocking pool)
//! is done with them; only then are they dropped. A quiet slot is one whose owner only
//! wants to hear of an unexpected result (a short or failed send): the expected one is
//! stored without a wake, and the owner collects it when it next polls. Pure: no
//! syscalls.

use super::user_data::OpKey;
use std::io;
use std::task::{Context, Waker};

/// A completed op's raw result: non-negative value, or a negated errno.
pub(crate) type RawResult = i32;

pub(crate) fn raw_to_io(res: RawResult) -> io::Result<u32> {
    if res < 0 {
        Err(io::Error::from_raw_os_error(-res))
    } else {
        Ok(res as u32)
    }
}

pub(crate) fn io_to_raw(res: &io::Result<u32>) -> RawResult {
    match res {
        Ok(n) => (*n).min(i32::MAX as u32) as i32,
        Err(e) => -e.raw_os_error().unwrap_or(libc::EIO),
    }
}

/// What an op's data does when its completion arrives after its future is gone.
pub(crate) trait Orphan {
    /// Frees whatever the late result created (an accepted or opened fd) and the op's buffers.
    fn release(self: Box<Self>, res: RawResult);
    /// A multishot op's item that nobody will consume (an accepted fd to close).
    fn release_item(&mut self, res: RawResult, flags: u32) {
        let _ = (res, flags);
    }
}

enum State {
    Vacant {
        next_free: u32,
    },
    Waiting(Option<Waker>),
    /// Waiting, but completing with `expected` wakes nobody.
    Quiet {
        expected: RawResult,
        waker: Option<Waker>,
    },
    Completed(RawResult),
    Orphaned(Box<dyn Orphan>),
    /// A multishot op: completions queue up until the final one (no `F_MORE`).
    Stream {
        items: std::collections::VecDeque<(RawResult, u32)>,
        waker: Option<Waker>,
        ended: bool,
    },
    /// A multishot op whose future is gone; items are released as they arrive.
    OrphanedStream(Box<dyn Orphan>),
}

struct Slot {
    generation: u32,
    state: State,
}

impl State {
    /// Whether dropping this state frees nothing (no waker, buffer, list or orphan).
    fn owns_nothing(&self) -> bool {
        matches!(
            self,
            State::Vacant { .. }
                | State::Completed(_)
                | State::Waiting(None)
                | State::Quiet { waker: None, .. }
        )
    }
}

/// Puts `new` in place of a state, skipping drop glue when the old state owns nothing:
/// the common transitions (a waiting slot completing, a completed one freed) otherwise
/// went through the whole enum's out-of-line drop, a few times per round trip.
#[inline(always)]
fn overwrite(state: &mut State, new: State) {
    let old = std::mem::replace(state, new);
    if old.owns_nothing() {
        std::mem::forget(old);
    } else {
        drop(old);
    }
}

/// What happened to a slot; the caller carries out the side effect.
pub(crate) enum Event<'a, 'b> {
    Poll(&'a mut Context<'b>),
    /// The owner stops waiting for the result unless it differs from `expected`.
    Quiet(RawResult),
    Complete(RawResult),
    Drop(Box<dyn Orphan>),
    /// A multishot completion; `more` is the CQE's `F_MORE`.
    Item {
        res: RawResult,
        flags: u32,
        more: bool,
    },
    /// Take the next multishot item.
    PollItem(&'a mut Context<'b>),
    /// A CQE for this slot, whatever the op: a completion for single-shot slots, an item
    /// for multishot ones (so the hot path needs one lookup, not two).
    Cqe {
        res: RawResult,
        flags: u32,
        more: bool,
    },
}

/// The side effect the caller must perform after a transition.
pub(crate) enum Action {
    None,
    /// The op is still in flight.
    Pending,
    /// The op's result, handed to its future; the slot is free again.
    Ready(RawResult),
    Wake(Waker),
    /// The future is gone and the kernel still owns the op: ask it to cancel.
    Cancel,
    /// The future is gone and the completion is in: release the op's data now.
    Release(Box<dyn Orphan>, RawResult),
    /// The key names no live slot (a late completion for a reused slot).
    Stale,
    /// The next multishot item.
    Item(RawResult, u32),
    /// The multishot op is over (its final item was consumed); the slot is free.
    Ended,
    /// A multishot item arrived for an orphaned stream and was released to its owner; the
    /// caller recycles any provided buffer the CQE carried.
    Released,
}

const NO_FREE: u32 = u32::MAX;

/// Op slots with generation-checked keys.
pub(crate) struct OpSlab {
    slots: Vec<Slot>,
    free_head: u32,
    live: usize,
}

impl Default for OpSlab {
    fn default() -> Self {
        Self::new()
    }
}

impl OpSlab {
    pub(crate) fn new() -> Self {
        Self {
            slots: Vec::new(),
            free_head: NO_FREE,
            live: 0,
        }
    }

    /// Ops whose completion has not been consumed yet (including orphaned ones).
    pub(crate) fn live(&self) -> usize {
        self.live
    }

    /// Ops whose futures were dropped and whose completions have not arrived.
    #[cfg(test)]
    pub(crate) fn orphaned(&self) -> usize {
        self.slots
            .iter()
            .filter(|s| matches!(s.state, State::Orphaned(_)))
            .count()
    }

    /// Whether `key` names a live multishot slot (its CQEs are items, not completions).
    #[cfg(test)]
    pub(crate) fn is_stream(&self, key: OpKey) -> bool {
        self.slots.get(key.index as usize).is_some_and(|s| {
            s.generation == key.generation
                && matches!(s.state, State::Stream { .. } | State::OrphanedStream(_))
        })
    }

    /// Takes a slot for a newly submitted multishot op.
    pub(crate) fn insert_stream(&mut self, waker: Option<Waker>) -> OpKey {
        let key = self.insert(waker);
        let slot = &mut self.slots[key.index as usize];
        let State::Waiting(waker) = std::mem::replace(&mut slot.state, State::Completed(0)) else {
            unreachable!("insert leaves the slot waiting")
        };
        slot.state = State::Stream {
            items: std::collections::VecDeque::new(),
            waker,
            ended: false,
        };
        key
    }

    /// Takes a slot for a newly submitted op.
    pub(crate) fn insert(&mut self, waker: Option<Waker>) -> OpKey {
        self.live += 1;
        if self.free_head != NO_FREE {
            let index = self.free_head;
            let slot = &mut self.slots[index as usize];
            if let State::Vacant { next_free } = slot.state {
                self.free_head = next_free;
            }
            overwrite(&mut slot.state, State::Waiting(waker));
            return OpKey::new(index, slot.generation);
        }
        let index = self.slots.len() as u32;
        self.slots.push(Slot {
            generation: 0,
            state: State::Waiting(waker),
        });
        OpKey::new(index, 0)
    }

    fn free(&mut self, index: u32) {
        let slot = &mut self.slots[index as usize];
        slot.generation = OpKey::next_generation(slot.generation);
        let next_free = self.free_head;
        overwrite(&mut slot.state, State::Vacant { next_free });
        self.free_head = index;
        self.live -= 1;
    }

    /// The one transition function: every state change of every slot goes through here.
    /// Inlined so that each call site, which passes one kind of event, keeps only the
    /// arms for that event.
    #[inline(always)]
    pub(crate) fn transition(&mut self, key: OpKey, event: Event<'_, '_>) -> Action {
        let Some(slot) = self.slots.get_mut(key.index as usize) else {
            return Action::Stale;
        };
        if slot.generation != key.generation || matches!(slot.state, State::Vacant { .. }) {
            return Action::Stale;
        }
        let event = match (event, &slot.state) {
            (Event::Cqe { res, flags, more }, State::Stream { .. } | State::OrphanedStream(_)) => {
                Event::Item { res, flags, more }
            }
            (Event::Cqe { res, .. }, _) => Event::Complete(res),
            (event, _) => event,
        };
        match (&mut slot.state, event) {
            (State::Waiting(waker), Event::Poll(cx)) => {
                match waker {
                    Some(w) if w.will_wake(cx.waker()) => {}
                    _ => *waker = Some(cx.waker().clone()),
                }
                Action::Pending
            }
            (State::Waiting(waker), Event::Complete(res)) => {
                let waker = waker.take();
                overwrite(&mut slot.state, State::Completed(res));
                waker.map_or(Action::None, Action::Wake)
            }
            (State::Waiting(_) | State::Quiet { .. }, Event::Drop(data)) => {
                slot.state = State::Orphaned(data);
                Action::Cancel
            }
            (State::Waiting(waker), Event::Quiet(expected)) => {
                let waker = waker.take();
                overwrite(&mut slot.state, State::Quiet { expected, waker });
                Action::Pending
            }
            (State::Quiet { expected, .. }, Event::Quiet(new)) => {
                *expected = new;
                Action::Pending
            }
            (State::Quiet { waker, .. }, Event::Poll(cx)) => {
                // The owner is waiting again: every result wakes it.
                let waker = match waker.take() {
                    Some(w) if w.will_wake(cx.waker()) => w,
                    _ => cx.waker().clone(),
                };
                overwrite(&mut slot.state, State::Waiting(Some(waker)));
                Action::Pending
            }
            (State::Quiet { expected, waker }, Event::Complete(res)) => {
                let waker = if res == *expected { None } else { waker.take() };
                overwrite(&mut slot.state, State::Completed(res));
                waker.map_or(Action::None, Action::Wake)
            }
            (State::Completed(res), Event::Poll(_)) => {
                let res = *res;
                self.free(key.index);
                Action::Ready(res)
            }
            (State::Completed(res), Event::Drop(data)) => {
                let res = *res;
                self.free(key.index);
                Action::Release(data, res)
            }
            (State::Orphaned(_), Event::Complete(res)) => {
                let State::Orphaned(data) =
                    std::mem::replace(&mut slot.state, State::Completed(res))
                else {
                    unreachable!("matched Orphaned above")
                };
                self.free(key.index);
                Action::Release(data, res)
            }
            (
                State::Stream {
                    items,
                    waker,
                    ended,
                },
                Event::Item { res, flags, more },
            ) => {
                items.push_back((res, flags));
                *ended |= !more;
                waker.take().map_or(Action::None, Action::Wake)
            }
            (
                State::Stream {
                    items,
                    waker,
                    ended,
                },
                Event::PollItem(cx),
            ) => {
                if let Some((res, flags)) = items.pop_front() {
                    return Action::Item(res, flags);
                }
                if *ended {
                    self.free(key.index);
                    return Action::Ended;
                }
                match waker {
                    Some(w) if w.will_wake(cx.waker()) => {}
                    _ => *waker = Some(cx.waker().clone()),
                }
                Action::Pending
            }
            (State::Stream { ended, .. }, Event::Drop(data)) => {
                // Unconsumed items were drained by the dropping future (it knows their type).
                if *ended {
                    self.free(key.index);
                    Action::Release(data, 0)
                } else {
                    slot.state = State::OrphanedStream(data);
                    Action::Cancel
                }
            }
            (State::OrphanedStream(data), Event::Item { res, flags, more }) => {
                data.release_item(res, flags);
                if !more {
                    let State::OrphanedStream(data) =
                        std::mem::replace(&mut slot.state, State::Completed(0))
                    else {
                        unreachable!("matched OrphanedStream above")
                    };
                    self.free(key.index);
                    drop(data);
                }
                Action::Released
            }
            // A second completion for a single-shot op, or a poll after the future was dropped:
            // both are driver bugs; ignoring them keeps the loop alive.
            // A quiet request for a result already in: the owner finds it when it polls.
            (State::Completed(_), Event::Quiet(_)) => Action::None,
            (State::Completed(_), Event::Complete(_) | Event::Item { .. } | Event::PollItem(_))
            | (State::Orphaned(_), _)
            | (State::Waiting(_) | State::Quiet { .. }, Event::Item { .. } | Event::PollItem(_))
            | (State::Stream { .. }, Event::Poll(_) | Event::Complete(_) | Event::Quiet(_))
            | (State::OrphanedStream(_), _) => Action::None,
            (State::Vacant { .. }, _) | (_, Event::Cqe { .. }) => Action::Stale,
        }
    }

    /// Takes every orphaned op's data out, for a runtime that is shutting down and has
    /// confirmed that the kernel no longer touches their memory.
    pub(crate) fn drain_orphans(&mut self) -> Vec<Box<dyn Orphan>> {
        let mut out = Vec::new();
        for index in 0..self.slots.len() as u32 {
            if matches!(self.slots[index as usize].state, State::Orphaned(_)) {
                let slot = &mut self.slots[index as usize];
                if let State::Orphaned(data) =
                    std::mem::replace(&mut slot.state, State::Completed(0))
                {
                    out.push(data);
                }
                self.free(index);
            }
        }
        out
    }
}

#[cfg(test)]
#[path = "lifecycle_tests.rs"]
mod tests;
