//! Runtime statistics: cheap counters the loop and driver bump, and the public snapshot.

use std::cell::Cell;
use std::time::Duration;

/// Counters owned by the loop thread.
#[derive(Default)]
pub(crate) struct LoopCounters {
    pub(crate) turns: Cell<u64>,
    pub(crate) tasks_polled: Cell<u64>,
    pub(crate) tasks_spawned: Cell<u64>,
    pub(crate) timers_fired: Cell<u64>,
    pub(crate) longest_poll: Cell<Duration>,
    pub(crate) stalls: Cell<u64>,
    pub(crate) parks_avoided: Cell<u64>,
}

/// Counters owned by the driver.
#[derive(Default, Debug, Clone, Copy)]
pub(crate) struct DriverCounters {
    pub(crate) ops_submitted: u64,
    pub(crate) ops_completed: u64,
    pub(crate) ops_cancelled: u64,
    pub(crate) enters: u64,
    pub(crate) completions: u64,
    pub(crate) cq_overflows: u64,
    pub(crate) sq_full_submits: u64,
    /// Descriptors registered with the driver right now (a gauge): in the epoll set, or
    /// in the ring's fixed-file table.
    pub(crate) registrations: u64,
    /// Provided receive buffers lent out right now (a gauge; io_uring only).
    pub(crate) buffers_lent: u64,
}

pub(crate) fn bump(cell: &Cell<u64>) {
    cell.set(cell.get() + 1);
}

/// A snapshot of what a runtime has done, from [`Runtime::stats`](crate::Runtime::stats).
///
/// `kernel_waits` counts `io_uring_enter` calls on io_uring and `epoll_wait` calls on
/// epoll; `completions` counts CQEs reaped (io_uring) or ops finished (epoll).
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct Stats {
    /// Ops started (SQEs pushed on io_uring; syscalls attempted or pool jobs on epoll).
    pub ops_submitted: u64,
    /// Ops whose result was delivered (to a future or, for dropped futures, released).
    pub ops_completed: u64,
    /// Ops whose future was dropped while in flight.
    pub ops_cancelled: u64,
    /// Calls into the kernel to submit and/or wait.
    pub kernel_waits: u64,
    /// Completions reaped.
    pub completions: u64,
    /// Times the completion queue overflowed and was flushed.
    pub cq_overflows: u64,
    /// Loop turns.
    pub turns: u64,
    /// Task polls.
    pub tasks_polled: u64,
    /// Tasks spawned.
    pub tasks_spawned: u64,
    /// Timers that fired.
    pub timers_fired: u64,
    /// The longest single poll of a task, callback or the main future, measured while the
    /// stall detector is on (`Builder::stall_threshold` or `RINGLOOP_DEBUG=1`; zero when it
    /// is off, since timing every poll costs a clock read each). Uses the coarse monotonic
    /// clock: accurate to one kernel tick, a few milliseconds.
    pub longest_poll: Duration,
    /// Polls that exceeded the stall threshold (when the stall detector is on).
    pub stalls: u64,
    /// Times spinning before parking found work, so the loop did not park
    /// (`Builder::spin_before_park`; zero when it is off).
    pub parks_avoided: u64,
    /// Wake-ups of a parked loop by other threads.
    pub remote_wakes: u64,
    /// Descriptors registered with the driver right now: in the epoll set (epoll), or in
    /// the ring's fixed-file table (io_uring: stream sockets that receive with multishot
    /// receives, up to 4096 per ring). It should track the number of open sockets: growth
    /// beyond that is a leak.
    pub fd_registrations: u64,
    /// Provided receive buffers (io_uring's multishot receives) out of the ring right now:
    /// lent to a protocol while it reads one, or kept while a reply sent straight from one
    /// is in flight (an echo of received bytes is not copied). At most half the ring is
    /// kept past a delivery; idle, this goes back to 0. Always 0 on epoll.
    pub provided_buffers_lent: u64,
}

impl Stats {
    /// Completions reaped per kernel call: how well submissions and waits are batched.
    pub fn completions_per_wait(&self) -> f64 {
        if self.kernel_waits == 0 {
            0.0
        } else {
            self.completions as f64 / self.kernel_waits as f64
        }
    }

    pub(crate) fn collect(
        loop_counters: &LoopCounters,
        driver: DriverCounters,
        remote_wakes: u64,
    ) -> Self {
        Stats {
            ops_submitted: driver.ops_submitted,
            ops_completed: driver.ops_completed,
            ops_cancelled: driver.ops_cancelled,
            kernel_waits: driver.enters,
            completions: driver.completions,
            cq_overflows: driver.cq_overflows,
            turns: loop_counters.turns.get(),
            tasks_polled: loop_counters.tasks_polled.get(),
            tasks_spawned: loop_counters.tasks_spawned.get(),
            timers_fired: loop_counters.timers_fired.get(),
            longest_poll: loop_counters.longest_poll.get(),
            stalls: loop_counters.stalls.get(),
            parks_avoided: loop_counters.parks_avoided.get(),
            remote_wakes,
            fd_registrations: driver.registrations,
            provided_buffers_lent: driver.buffers_lent,
        }
    }
}
