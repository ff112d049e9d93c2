//! A task's state word: flag bits plus a reference count, in one atomic so that the hot
//! transitions (spawn, run, complete, join) take one atomic operation each.
//!
//! The future is only ever polled or dropped on the loop thread. The output is written by
//! the loop thread before `COMPLETE` is set (release) and read by the `JoinHandle` after it
//! sees `COMPLETE` (acquire). Whoever sets the second of `COMPLETE` and `JOIN_DROPPED`
//! disposes of an unread output: exactly one side.
//!
//! The join waker slot belongs to the `JoinHandle` while `JOIN_WAKER` is clear, and to
//! the loop (read-only) while it is set; the handle clears it only with a compare-exchange
//! that fails once `COMPLETE` is set, so the loop never reads a slot being written.

use std::sync::atomic::{AtomicUsize, Ordering};

/// In the loop's remote queue (woken or spawned off the loop thread): a second remote wake
/// must not enqueue again. Whether it is in the loop thread's own run queue is
/// `Header::queued`, a plain flag, so that local wakes and polls take no locked instruction.
pub(crate) const REMOTE_QUEUED: usize = 1;
/// The output (or the error) has been stored.
pub(crate) const COMPLETE: usize = 1 << 1;
/// `JoinHandle::cancel` was called.
pub(crate) const CANCELLED: usize = 1 << 2;
/// The `JoinHandle` is gone: nobody will read the output.
pub(crate) const JOIN_DROPPED: usize = 1 << 3;
/// The join waker slot holds a waker the loop must wake on completion.
pub(crate) const JOIN_WAKER: usize = 1 << 4;
/// One reference; the count lives in the bits above the flags.
pub(crate) const REF_ONE: usize = 1 << 6;
const FLAGS: usize = REF_ONE - 1;

/// The reference count in a state word.
pub(crate) fn refs(word: usize) -> usize {
    word >> 6
}

#[derive(Debug)]
pub(crate) struct State(AtomicUsize);

impl State {
    /// A new task holding `refs` references; `remote_queued` when the spawner puts it in
    /// the remote queue (so its first remote wake does not queue it twice).
    pub(crate) fn new(refs: usize, remote_queued: bool) -> Self {
        let flags = if remote_queued { REMOTE_QUEUED } else { 0 };
        Self(AtomicUsize::new((refs * REF_ONE) | flags))
    }

    pub(crate) fn load(&self) -> usize {
        self.0.load(Ordering::Acquire)
    }

    /// Marks the task remote-queued; `true` when the caller must put it in the remote queue.
    pub(crate) fn try_queue_remote(&self) -> bool {
        self.0.fetch_or(REMOTE_QUEUED, Ordering::AcqRel) & (REMOTE_QUEUED | COMPLETE) == 0
    }

    /// Clears `REMOTE_QUEUED` as the loop takes the task from the remote queue, before it
    /// can be polled, so that remote wakes from then on queue it again.
    pub(crate) fn clear_remote_queued(&self) -> usize {
        self.0.fetch_and(!REMOTE_QUEUED, Ordering::AcqRel)
    }

    /// Sets flag bits; returns the previous word.
    pub(crate) fn set(&self, bits: usize) -> usize {
        debug_assert_eq!(bits & !FLAGS, 0);
        self.0.fetch_or(bits, Ordering::AcqRel)
    }

    pub(crate) fn ref_inc(&self) {
        let prev = self.0.fetch_add(REF_ONE, Ordering::Relaxed);
        // Like Arc: a count this large means leaked references; abort before it wraps.
        if prev > usize::MAX / 2 {
            std::process::abort();
        }
    }

    /// Drops one reference; `true` when it was the last (the caller frees the task).
    pub(crate) fn ref_dec(&self) -> bool {
        // The sole owner frees without a locked instruction: with only the caller's
        // reference left, no other thread can reach the task to take another, and the
        // acquire load sees everything the other holders did before letting go.
        if refs(self.0.load(Ordering::Acquire)) == 1 {
            return true;
        }
        refs(self.0.fetch_sub(REF_ONE, Ordering::AcqRel)) == 1
    }

    pub(crate) fn compare_exchange(&self, current: usize, new: usize) -> Result<usize, usize> {
        self.0
            .compare_exchange(current, new, Ordering::AcqRel, Ordering::Acquire)
    }

    /// Publishes the join waker unless the task completed first (`Err(word)`).
    pub(crate) fn set_join_waker(&self) -> Result<usize, usize> {
        self.update(|word| (word & COMPLETE == 0).then_some(word | JOIN_WAKER))
    }

    /// Takes the join waker slot back for writing unless the task completed (`Err(word)`).
    pub(crate) fn unset_join_waker(&self) -> Result<usize, usize> {
        self.update(|word| (word & COMPLETE == 0).then_some(word & !JOIN_WAKER))
    }

    fn update(&self, f: impl Fn(usize) -> Option<usize>) -> Result<usize, usize> {
        let mut current = self.load();
        loop {
            let next = f(current).ok_or(current)?;
            match self
                .0
                .compare_exchange_weak(current, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(prev) => return Ok(prev),
                Err(actual) => current = actual,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn queues_remotely_once_until_taken() {
        let s = State::new(1, true);
        assert!(
            !s.try_queue_remote(),
            "a remote-spawned task is already queued"
        );
        s.clear_remote_queued();
        assert!(s.try_queue_remote());
        assert!(!s.try_queue_remote());
        s.clear_remote_queued();
        assert!(s.try_queue_remote());
        let local = State::new(1, false);
        assert!(
            local.try_queue_remote(),
            "a local spawn is not in the remote queue"
        );
    }

    #[test]
    fn completed_tasks_are_never_scheduled() {
        let s = State::new(1, false);
        s.set(COMPLETE);
        assert!(!s.try_queue_remote());
    }

    #[test]
    fn exactly_one_side_disposes_of_the_output() {
        for complete_first in [true, false] {
            let s = State::new(2, false);
            let (a, b) = if complete_first {
                (s.set(COMPLETE), s.set(JOIN_DROPPED))
            } else {
                (s.set(JOIN_DROPPED), s.set(COMPLETE))
            };
            let first_saw_other = a & (COMPLETE | JOIN_DROPPED) != 0;
            let second_saw_other = b & (COMPLETE | JOIN_DROPPED) != 0;
            assert!(!first_saw_other && second_saw_other);
        }
    }

    #[test]
    fn join_waker_cannot_be_published_or_taken_back_after_completion() {
        let s = State::new(2, false);
        assert!(s.set_join_waker().is_ok());
        assert!(s.load() & JOIN_WAKER != 0);
        assert!(s.unset_join_waker().is_ok());
        assert!(s.set_join_waker().is_ok());
        let prev = s.set(COMPLETE);
        assert!(
            prev & JOIN_WAKER != 0,
            "the loop sees the waker it must wake"
        );
        assert!(s.unset_join_waker().is_err());
        assert!(s.set_join_waker().is_err());
    }

    #[test]
    fn references_count_down_to_the_last() {
        let s = State::new(3, true);
        s.ref_inc();
        assert_eq!(refs(s.load()), 4);
        assert!(!s.ref_dec());
        assert!(!s.ref_dec());
        assert!(!s.ref_dec());
        assert!(s.ref_dec());
        assert_eq!(
            s.load() & FLAGS,
            REMOTE_QUEUED,
            "flags survive reference changes"
        );
    }

    #[derive(Debug, Clone, Copy)]
    enum Step {
        Inc,
        Dec,
        QueueRemote,
        TakeRemote,
        Set(usize),
        SetWaker,
        UnsetWaker,
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            Just(Step::Inc),
            Just(Step::Dec),
            Just(Step::QueueRemote),
            Just(Step::TakeRemote),
            prop_oneof![Just(COMPLETE), Just(CANCELLED), Just(JOIN_DROPPED)].prop_map(Step::Set),
            Just(Step::SetWaker),
            Just(Step::UnsetWaker),
        ]
    }

    proptest! {
        /// Against a model of separate flags and a counter: every transition agrees, and
        /// reference changes never disturb the flags (or the reverse).
        #[test]
        fn matches_a_model_of_flags_and_count(steps in prop::collection::vec(step(), 0..64)) {
            let s = State::new(1, true);
            let (mut flags, mut count) = (REMOTE_QUEUED, 1usize);
            for step in steps {
                match step {
                    Step::Inc => { s.ref_inc(); count += 1; }
                    Step::Dec if count > 1 => {
                        prop_assert!(!s.ref_dec());
                        count -= 1;
                    }
                    Step::Dec => {}
                    Step::QueueRemote => {
                        let queue = flags & (REMOTE_QUEUED | COMPLETE) == 0;
                        prop_assert_eq!(s.try_queue_remote(), queue);
                        flags |= REMOTE_QUEUED;
                    }
                    Step::TakeRemote => {
                        prop_assert_eq!(s.clear_remote_queued() & FLAGS, flags);
                        flags &= !REMOTE_QUEUED;
                    }
                    Step::Set(bit) => {
                        prop_assert_eq!(s.set(bit) & FLAGS, flags);
                        flags |= bit;
                    }
                    Step::SetWaker => {
                        let ok = flags & COMPLETE == 0;
                        prop_assert_eq!(s.set_join_waker().is_ok(), ok);
                        if ok { flags |= JOIN_WAKER; }
                    }
                    Step::UnsetWaker => {
                        let ok = flags & COMPLETE == 0;
                        prop_assert_eq!(s.unset_join_waker().is_ok(), ok);
                        if ok { flags &= !JOIN_WAKER; }
                    }
                }
                prop_assert_eq!(s.load() & FLAGS, flags);
                prop_assert_eq!(refs(s.load()), count);
            }
        }
    }
}
