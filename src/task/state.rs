//! Task state bits and the rules for who may touch a task's output.
//!
//! The future is only ever polled or dropped on the loop thread. The output is
//! written by the loop thread before `COMPLETE` is set (release) and read by the
//! `JoinHandle` after it sees `COMPLETE` (acquire). Whoever sets the second of
//! `COMPLETE` and `JOIN_DROPPED` disposes of an unread output: exactly one side.

use std::sync::atomic::{AtomicU32, Ordering};

/// In a run queue (local or remote): a second wake must not enqueue again.
pub(crate) const SCHEDULED: u32 = 1;
/// The output (or the error) has been stored.
pub(crate) const COMPLETE: u32 = 1 << 1;
/// `JoinHandle::cancel` was called.
pub(crate) const CANCELLED: u32 = 1 << 2;
/// The `JoinHandle` is gone: nobody will read the output.
pub(crate) const JOIN_DROPPED: u32 = 1 << 3;

#[derive(Debug, Default)]
pub(crate) struct State(AtomicU32);

impl State {
    pub(crate) fn new() -> Self {
        Self(AtomicU32::new(0))
    }

    pub(crate) fn load(&self) -> u32 {
        self.0.load(Ordering::Acquire)
    }

    /// Marks the task scheduled; `true` when the caller must enqueue it.
    pub(crate) fn try_schedule(&self) -> bool {
        self.0.fetch_or(SCHEDULED, Ordering::AcqRel) & (SCHEDULED | COMPLETE) == 0
    }

    /// Clears `SCHEDULED` before a poll so that wakes during the poll enqueue again.
    pub(crate) fn begin_run(&self) -> u32 {
        self.0.fetch_and(!SCHEDULED, Ordering::AcqRel)
    }

    /// Returns the previous bits.
    pub(crate) fn set(&self, bits: u32) -> u32 {
        self.0.fetch_or(bits, Ordering::AcqRel)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules_once_until_run() {
        let s = State::new();
        assert!(s.try_schedule());
        assert!(!s.try_schedule());
        s.begin_run();
        assert!(s.try_schedule());
    }

    #[test]
    fn completed_tasks_are_never_scheduled() {
        let s = State::new();
        s.set(COMPLETE);
        assert!(!s.try_schedule());
    }

    #[test]
    fn exactly_one_side_disposes_of_the_output() {
        for complete_first in [true, false] {
            let s = State::new();
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
}
