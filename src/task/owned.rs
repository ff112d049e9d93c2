//! The tasks a loop owns: an intrusive doubly-linked list threaded through the task
//! headers, holding one counted reference per task, so that shutdown can drop every
//! unfinished future on the loop thread.
//!
//! Linking and unlinking are a few pointer writes in headers the loop has just touched; a
//! side table (a slab indexed from the header) cost several times that per spawn. The
//! links are loop-thread-only and live in atomics used with relaxed plain loads and
//! stores, which keeps the header `Sync` for wakers on other threads.

use super::raw::{Header, RawTask};
use std::cell::Cell;
use std::ptr::{self, NonNull};
use std::sync::atomic::{AtomicPtr, AtomicU8, Ordering};

/// Where a task stands with its loop's owned list (`Header::owned_membership`, kept out of
/// `Links` so that it packs with the header's other byte-sized flag).
const NEVER: u8 = 0;
const LINKED: u8 = 1;
/// Removed (finished, or taken for shutdown): never linked again, so a wake still queued
/// remotely for a finished task does not bring it back.
const LEFT: u8 = 2;

/// The list links in every task header (loop thread only).
#[derive(Default)]
pub(crate) struct Links {
    prev: AtomicPtr<Header>,
    next: AtomicPtr<Header>,
}

/// A header's `owned_membership` before its first link.
pub(crate) fn never_linked_membership() -> AtomicU8 {
    AtomicU8::new(NEVER)
}

impl Header {
    /// Whether the task has never been linked (spawned from another thread, not yet taken
    /// from the remote queue).
    pub(crate) fn never_linked(&self) -> bool {
        self.owned_membership.load(Ordering::Relaxed) == NEVER
    }
}

/// # Safety
/// `ptr` must be the header of a live task, for as long as the result is used.
unsafe fn live<'a>(ptr: *mut Header) -> &'a Header {
    // SAFETY: live, by the caller's promise.
    unsafe { &*ptr }
}

/// A loop's owned tasks (loop thread only).
pub(crate) struct OwnedTasks {
    head: Cell<*mut Header>,
    len: Cell<usize>,
}

impl OwnedTasks {
    pub(crate) fn new() -> Self {
        Self {
            head: Cell::new(ptr::null_mut()),
            len: Cell::new(0),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.len.get()
    }

    /// Links a task that was never linked, adopting this reference to it. A task that
    /// was linked before (and left) is not linked again; its reference is released.
    pub(crate) fn insert(&self, task: RawTask) {
        if !task.header().never_linked() {
            return;
        }
        let ptr = task.into_raw().as_ptr();
        let old_head = self.head.get();
        // SAFETY: the reference just adopted keeps the task live while it is linked.
        let new = unsafe { live(ptr) };
        new.owned.prev.store(ptr::null_mut(), Ordering::Relaxed);
        new.owned.next.store(old_head, Ordering::Relaxed);
        new.owned_membership.store(LINKED, Ordering::Relaxed);
        if !old_head.is_null() {
            // SAFETY: linked tasks are live: the list holds a reference to each.
            unsafe { live(old_head) }
                .owned
                .prev
                .store(ptr, Ordering::Relaxed);
        }
        self.head.set(ptr);
        self.len.set(self.len.get() + 1);
    }

    /// Unlinks the task at `header` if it is linked, returning the list's reference. The
    /// caller holds a reference to the task, which belongs to this list's loop (only that
    /// loop's list ever links it).
    pub(crate) fn remove(&self, header: NonNull<Header>) -> Option<RawTask> {
        let ptr = header.as_ptr();
        // SAFETY: the caller holds a reference to the task it asks about.
        let own = unsafe { live(ptr) };
        if own.owned_membership.load(Ordering::Relaxed) != LINKED {
            return None;
        }
        let (prev, next) = (
            own.owned.prev.load(Ordering::Relaxed),
            own.owned.next.load(Ordering::Relaxed),
        );
        if prev.is_null() {
            self.head.set(next);
        } else {
            // SAFETY: a linked neighbour: the list holds a reference to it.
            unsafe { live(prev) }
                .owned
                .next
                .store(next, Ordering::Relaxed);
        }
        if !next.is_null() {
            // SAFETY: as above.
            unsafe { live(next) }
                .owned
                .prev
                .store(prev, Ordering::Relaxed);
        }
        own.owned_membership.store(LEFT, Ordering::Relaxed);
        self.len.set(self.len.get() - 1);
        // SAFETY: the list held one counted reference to every linked task; it is handed
        // over now that the task is unlinked.
        Some(unsafe { RawTask::from_counted(header) })
    }

    /// Unlinks every task (for shutdown), handing over the list's references.
    pub(crate) fn take_all(&self) -> Vec<RawTask> {
        let mut tasks = Vec::with_capacity(self.len.get());
        let mut ptr = self.head.replace(ptr::null_mut());
        while let Some(header) = NonNull::new(ptr) {
            // SAFETY: a linked task: the list holds a reference to it until handed over below.
            let own = unsafe { live(ptr) };
            ptr = own.owned.next.load(Ordering::Relaxed);
            own.owned_membership.store(LEFT, Ordering::Relaxed);
            // SAFETY: as in `remove`: the list's reference, handed over as it unlinks.
            tasks.push(unsafe { RawTask::from_counted(header) });
        }
        self.len.set(0);
        tasks
    }
}

impl Drop for OwnedTasks {
    fn drop(&mut self) {
        // Shutdown empties the list; anything left is released here, on the loop thread.
        drop(self.take_all());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::task::cell::new_task;
    use crate::task::state::refs;
    use proptest::prelude::*;

    /// A task the test holds a reference to (its queue reference), plus the one it hands
    /// to the list; the join handle is dropped at once.
    fn task() -> (RawTask, RawTask) {
        let spawned = new_task(async {}, 1, std::panic::Location::caller(), true);
        drop(crate::task::JoinHandle::<()>::from_task(spawned.join));
        (
            spawned.queued,
            spawned.owned.expect("local spawns get an owned reference"),
        )
    }

    fn ptr(task: &RawTask) -> NonNull<Header> {
        NonNull::from(task.header())
    }

    #[test]
    fn insert_remove_and_take_all_hand_references_over() {
        let list = OwnedTasks::new();
        let (a, a_owned) = task();
        let (b, b_owned) = task();
        list.insert(a_owned);
        list.insert(b_owned);
        assert_eq!(list.len(), 2);
        assert_eq!(refs(a.header().state.load()), 2, "ours and the list's");
        let removed = list.remove(ptr(&a)).expect("a is linked");
        assert_eq!(list.len(), 1);
        assert!(list.remove(ptr(&a)).is_none(), "removed once");
        drop(removed);
        assert_eq!(refs(a.header().state.load()), 1);
        // A task that left is never linked again; the reference offered is released.
        list.insert(a.clone());
        assert_eq!((list.len(), refs(a.header().state.load())), (1, 1));
        let all = list.take_all();
        assert_eq!(all.len(), 1);
        assert_eq!(list.len(), 0);
        assert!(list.remove(ptr(&b)).is_none());
    }

    proptest! {
        /// Against a Vec model: any order of inserts and removes keeps the same set, the
        /// same count and one list reference per linked task.
        #[test]
        fn matches_a_model_set(ops in prop::collection::vec((any::<bool>(), 0usize..8), 0..64)) {
            let list = OwnedTasks::new();
            let mut tasks: Vec<(RawTask, Option<RawTask>)> =
                (0..8).map(|_| { let (t, o) = task(); (t, Some(o)) }).collect();
            let mut model: Vec<usize> = Vec::new();
            for (insert, i) in ops {
                if insert {
                    if let Some(owned) = tasks[i].1.take() {
                        list.insert(owned);
                        model.push(i);
                    }
                } else {
                    let removed = list.remove(ptr(&tasks[i].0));
                    let pos = model.iter().position(|&m| m == i);
                    prop_assert_eq!(removed.is_some(), pos.is_some());
                    if let Some(pos) = pos { model.remove(pos); }
                }
                prop_assert_eq!(list.len(), model.len());
                for (j, (t, _)) in tasks.iter().enumerate() {
                    let linked = model.contains(&j);
                    let expected = 1 + usize::from(linked) + usize::from(tasks[j].1.is_some());
                    prop_assert_eq!(refs(t.header().state.load()), expected);
                }
            }
            let mut taken: Vec<usize> = list
                .take_all()
                .iter()
                .map(|t| tasks.iter().position(|(u, _)| ptr(u) == ptr(t)).unwrap())
                .collect();
            taken.sort_unstable();
            model.sort_unstable();
            prop_assert_eq!(taken, model);
        }
    }
}
