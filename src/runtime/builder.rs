//! `Builder`: backend choice, ring size, pool size, loop tuning.

use super::Runtime;
use crate::blocking::DEFAULT_THREADS;
use crate::driver::uring::{validate_entries, DEFAULT_ENTRIES};
use crate::driver::Backend;
use std::io;
use std::time::Duration;

/// Tasks polled per turn before the loop checks timers and I/O again.
pub(crate) const DEFAULT_EVENT_INTERVAL: u32 = 61;
/// Timers fired per turn before the loop polls I/O again.
pub(crate) const DEFAULT_TIMERS_PER_TURN: u32 = 4096;

/// Configures and builds a [`Runtime`].
///
/// ```
/// use ringloop::{Backend, Runtime};
/// let rt = Runtime::builder().backend(Backend::Epoll).ring_entries(256).build()?;
/// assert_eq!(rt.block_on(async { 1 + 1 })?, 2);
/// # std::io::Result::Ok(())
/// ```
#[derive(Debug, Clone)]
pub struct Builder {
    pub(crate) backend: Backend,
    pub(crate) ring_entries: u32,
    pub(crate) blocking_threads: usize,
    pub(crate) stall_threshold: Option<Duration>,
    pub(crate) event_interval: u32,
    pub(crate) timers_per_turn: u32,
    pub(crate) log_fallback: bool,
    pub(crate) shutdown_grace: Duration,
    pub(crate) spin_before_park: Duration,
}

impl Default for Builder {
    fn default() -> Self {
        Self {
            backend: Backend::Auto,
            ring_entries: DEFAULT_ENTRIES,
            blocking_threads: DEFAULT_THREADS,
            stall_threshold: None,
            event_interval: DEFAULT_EVENT_INTERVAL,
            timers_per_turn: DEFAULT_TIMERS_PER_TURN,
            log_fallback: true,
            shutdown_grace: Duration::from_secs(5),
            spin_before_park: Duration::ZERO,
        }
    }
}

impl Builder {
    /// A builder with defaults: `Backend::Auto`, 1024 SQ entries, 16 blocking threads.
    pub fn new() -> Self {
        Self::default()
    }

    /// Chooses the backend. `RINGLOOP_BACKEND` (`auto`, `uring`, `epoll`) overrides this.
    pub fn backend(mut self, backend: Backend) -> Self {
        self.backend = backend;
        self
    }

    /// io_uring submission-queue size (1..=32768; the CQ is twice that).
    pub fn ring_entries(mut self, entries: u32) -> Self {
        self.ring_entries = entries;
        self
    }

    /// Upper bound on blocking-pool threads (at least 1).
    pub fn blocking_threads(mut self, threads: usize) -> Self {
        self.blocking_threads = threads;
        self
    }

    /// Turns on the stall detector: a poll that holds the loop longer than `threshold` is
    /// reported on stderr with the task's spawn site. `RINGLOOP_DEBUG=1` turns it on at 100 ms.
    /// Off by default, like asyncio's debug mode: it reads a clock around every poll, which
    /// is also what fills `Stats::longest_poll`.
    pub fn stall_threshold(mut self, threshold: Duration) -> Self {
        self.stall_threshold = Some(threshold);
        self
    }

    /// Tasks polled per loop turn before timers and I/O are checked again (at least 1).
    pub fn event_interval(mut self, tasks: u32) -> Self {
        self.event_interval = tasks;
        self
    }

    /// Whether an automatic fallback to epoll is logged on stderr (default: yes).
    pub fn log_fallback(mut self, log: bool) -> Self {
        self.log_fallback = log;
        self
    }

    /// How long dropping the runtime waits for cancelled ops to complete (default 5 s);
    /// buffers of ops still in flight after that are leaked, never freed under the kernel.
    pub fn shutdown_grace(mut self, grace: Duration) -> Self {
        self.shutdown_grace = grace;
        self
    }

    /// When the loop runs out of work, keeps polling for new completions for up to `spin`
    /// before parking the thread in the kernel (default: zero, park at once).
    ///
    /// Parking and being woken costs both sides: the thread that makes a parked loop's
    /// work ready (often a client on another core, through the network stack) pays for
    /// waking it. A server whose requests arrive a few microseconds apart can answer
    /// sooner and let its clients run faster by spinning, at the price of CPU time the
    /// loop would otherwise leave idle: up to `spin` after every burst of work. Timers
    /// still fire on time (the spin never runs past the next one), and the loop counts
    /// spins that found work in [`Stats::parks_avoided`](crate::Stats::parks_avoided).
    /// Useful values are tens of microseconds; see docs/BENCHMARKS.md for what 20–50 µs
    /// did to a client-bound Redis benchmark.
    ///
    /// ```
    /// use std::time::Duration;
    /// let rt = ringloop::Runtime::builder()
    ///     .spin_before_park(Duration::from_micros(20))
    ///     .build()?;
    /// rt.block_on(async { ringloop::time::sleep(Duration::from_millis(1)).await })?;
    /// # std::io::Result::Ok(())
    /// ```
    pub fn spin_before_park(mut self, spin: Duration) -> Self {
        self.spin_before_park = spin;
        self
    }

    /// Builds the runtime. Fails with a message naming the cause and the fix when the
    /// settings are invalid or `Backend::Uring` was asked for and is unavailable.
    pub fn build(self) -> io::Result<Runtime> {
        validate_entries(self.ring_entries)?;
        // Starts the timers' clock calibration early (see `time::clock`).
        crate::time::clock::precise_now_ns();
        if self.blocking_threads == 0 || self.blocking_threads > 4096 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "blocking_threads = {} is out of range: use 1..=4096",
                    self.blocking_threads
                ),
            ));
        }
        if self.event_interval == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "event_interval must be at least 1",
            ));
        }
        let mut builder = self;
        if let Some(backend) = Backend::from_env()? {
            builder.backend = backend;
        }
        if builder.stall_threshold.is_none()
            && std::env::var("RINGLOOP_DEBUG").is_ok_and(|v| v == "1")
        {
            builder.stall_threshold = Some(Duration::from_millis(100));
        }
        Runtime::from_builder(builder)
    }
}
