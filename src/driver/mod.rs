//! The backend contract.
//!
//! An op is a value that owns everything the kernel may touch (buffers, socket
//! addresses, paths) and can describe itself two ways (the [`OpSpec`] trait):
//!
//! * as an io_uring submission entry ([`OpSpec::uring_entry`]): the ring driver pushes it
//!   with the op slot's `user_data` and the completion comes back through the CQ;
//! * as a plain syscall ([`OpSpec::syscall`]) plus how it waits ([`OpSpec::shim`]): the epoll
//!   shim tries it at once on the non-blocking descriptor and only on `EAGAIN` registers
//!   interest and retries on readiness; ops that can block without ever saying `EAGAIN`
//!   (regular files, open, fsync, statx, rename, …) run on the blocking pool, whose result
//!   comes back through the same op-slot lifecycle as a CQE.
//!
//! Both backends give the op future the same thing: `io::Result<u32>` and the op value
//! back, and both keep a dropped op's data alive until the kernel (or the pool thread) is
//! finished with it. [`Driver`] dispatches statically between them: no trait objects.

pub mod buf;
pub(crate) mod deferred;
pub(crate) mod epoll;
#[cfg(feature = "fault-injection")]
pub mod faults;
pub(crate) mod lifecycle;
pub(crate) mod shared_fd;
pub(crate) mod uring;
pub(crate) mod user_data;

use crate::runtime::stats::DriverCounters;
use crate::sys::syscall::Syscall;
use lifecycle::{Orphan, RawResult};
use shared_fd::SharedFd;
use std::fmt;
use std::io;
use std::str::FromStr;
use std::task::{Context, Poll};
use std::time::Duration;
use user_data::OpKey;

/// Which readiness an epoll-shimmed op waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Interest {
    Read,
    Write,
}

/// How the epoll shim runs an op.
pub(crate) enum Shim<'a> {
    /// Try the syscall on the non-blocking fd; on `EAGAIN` wait for this readiness and retry.
    Poll(&'a SharedFd, Interest),
    /// Run the syscall on the blocking pool (it may block and never says `EAGAIN`).
    Pool,
    /// Run the syscall inline: it never blocks.
    Inline,
}

/// One kind of operation, performable by either backend.
pub(crate) trait OpSpec: Unpin + 'static {
    type Output;
    /// The io_uring entry; the driver sets `user_data`. `files` names a descriptor's
    /// fixed-file slot in this ring, where it has one.
    fn uring_entry(&mut self, files: &Files<'_>) -> io_uring::squeue::Entry;
    /// The same operation as a syscall, for the epoll shim.
    fn syscall(&mut self) -> Syscall;
    fn shim(&self) -> Shim<'_>;
    /// Turns the raw result into the op's output, handing owned buffers back.
    fn complete(self, res: io::Result<u32>) -> Self::Output;
    /// The future was dropped and the result arrived later: free what it created
    /// (an accepted or opened fd). Buffers are freed when `self` drops.
    fn release_late(self, res: RawResult)
    where
        Self: Sized,
    {
        let _ = res;
    }
}

impl<T: OpSpec> Orphan for T {
    fn release(self: Box<Self>, res: RawResult) {
        (*self).release_late(res);
    }
}

/// The fixed-file table of the ring an entry is built for (see `uring::fixed_files`).
pub(crate) struct Files<'a>(pub(crate) Option<&'a std::rc::Rc<uring::fixed_files::FixedFiles>>);

impl Files<'_> {
    /// `fd`'s slot in this ring's table, if it has one there; a stream socket gets one
    /// here on its eighth op (see `uring::fixed_files`).
    pub(crate) fn slot(&self, fd: &shared_fd::SharedFd) -> Option<u32> {
        let table = self.0?;
        if let Some(slot) = table.slot_of(fd) {
            return Some(slot);
        }
        if fd.kind() == shared_fd::FdKind::Stream && fd.count_use() {
            return table.register(fd);
        }
        None
    }
}

/// How far `start` got.
pub(crate) enum Start {
    /// In the kernel or on the pool; poll the slot.
    InFlight(OpKey),
    /// Waiting for readiness (epoll); call `retry` when woken.
    Waiting(WaitToken),
    Done(io::Result<u32>),
}

/// A registered readiness waiter (epoll).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct WaitToken {
    pub(crate) registration: u32,
    pub(crate) waiter: u64,
    pub(crate) interest: Interest,
}

/// The I/O backend a runtime uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Backend {
    /// io_uring if it can be set up and has what ringloop needs, else epoll (the reason is
    /// recorded in [`Runtime::fallback_reason`](crate::Runtime::fallback_reason)).
    #[default]
    Auto,
    /// io_uring, or an error saying why it is unavailable.
    Uring,
    /// epoll, with regular-file I/O on the blocking pool.
    Epoll,
}

impl Backend {
    /// Reads `RINGLOOP_BACKEND` (`auto`, `uring`, `epoll`); `None` when unset.
    pub fn from_env() -> io::Result<Option<Backend>> {
        match std::env::var("RINGLOOP_BACKEND") {
            Ok(value) if value.trim().is_empty() => Ok(None),
            Ok(value) => value.parse().map(Some),
            Err(std::env::VarError::NotPresent) => Ok(None),
            Err(std::env::VarError::NotUnicode(_)) => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "RINGLOOP_BACKEND is not valid UTF-8; use auto, uring or epoll",
            )),
        }
    }
}

impl FromStr for Backend {
    type Err = io::Error;

    fn from_str(s: &str) -> io::Result<Backend> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(Backend::Auto),
            "uring" | "io_uring" | "io-uring" => Ok(Backend::Uring),
            "epoll" => Ok(Backend::Epoll),
            other => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("unknown backend {other:?}: expected auto, uring or epoll"),
            )),
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Backend::Auto => "auto",
            Backend::Uring => "io_uring",
            Backend::Epoll => "epoll",
        })
    }
}

/// The backend in use: static dispatch over the two drivers.
// One per runtime, so its size does not matter; boxing would put a pointer hop on every op.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Driver {
    Uring(uring::UringDriver),
    Epoll(epoll::EpollDriver),
}

/// Results of ops whose futures were dropped, to be released once the driver is no longer
/// borrowed (releasing may close an fd, which talks to the driver again).
pub(crate) type Releases = Vec<(Box<dyn Orphan>, RawResult)>;

impl Driver {
    pub(crate) fn backend(&self) -> Backend {
        match self {
            Driver::Uring(_) => Backend::Uring,
            Driver::Epoll(_) => Backend::Epoll,
        }
    }

    /// The readiness driver, when this loop runs on epoll (direct stream transfers).
    pub(crate) fn as_epoll(&mut self) -> Option<&mut epoll::EpollDriver> {
        match self {
            Driver::Uring(_) => None,
            Driver::Epoll(d) => Some(d),
        }
    }

    pub(crate) fn start<T: OpSpec>(&mut self, spec: &mut T, cx: &mut Context<'_>) -> Start {
        match self {
            Driver::Uring(d) => d.start(spec, cx),
            Driver::Epoll(d) => d.start(spec, cx, None),
        }
    }

    /// Re-runs a readiness-waiting op after its wake (epoll only).
    pub(crate) fn retry<T: OpSpec>(
        &mut self,
        spec: &mut T,
        token: WaitToken,
        cx: &mut Context<'_>,
    ) -> Start {
        match self {
            Driver::Uring(d) => d.start(spec, cx),
            Driver::Epoll(d) => d.start(spec, cx, Some(token)),
        }
    }

    pub(crate) fn poll_op(&mut self, key: OpKey, cx: &mut Context<'_>) -> Poll<RawResult> {
        match self {
            Driver::Uring(d) => d.poll_op(key, cx),
            Driver::Epoll(d) => d.poll_op(key, cx),
        }
    }

    /// The owner of in-flight op `key` wants a wake only for a result other than
    /// `expected` (see `lifecycle`); it collects the result when it next polls.
    pub(crate) fn quiet(&mut self, key: OpKey, expected: RawResult) {
        let ops = match self {
            Driver::Uring(d) => &mut d.ops,
            Driver::Epoll(d) => &mut d.ops,
        };
        ops.transition(key, lifecycle::Event::Quiet(expected));
    }

    /// The op's future was dropped while in flight: keep its data until completion.
    pub(crate) fn orphan(&mut self, key: OpKey, data: Box<dyn Orphan>) {
        match self {
            Driver::Uring(d) => d.orphan(key, data),
            Driver::Epoll(d) => d.orphan(key, data),
        }
    }

    pub(crate) fn stop_waiting(&mut self, token: WaitToken) {
        if let Driver::Epoll(d) = self {
            d.stop_waiting(token);
        }
    }

    /// Submits queued work and waits for events, at most `timeout` (`None`: until woken).
    pub(crate) fn turn(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        match self {
            Driver::Uring(d) => d.turn(timeout),
            Driver::Epoll(d) => d.turn(timeout),
        }
    }

    /// Delivers a blocking-pool result.
    pub(crate) fn complete_remote(&mut self, key: OpKey, res: RawResult) {
        match self {
            Driver::Uring(d) => d.complete(key, res),
            Driver::Epoll(d) => d.complete(key, res),
        }
    }

    pub(crate) fn take_releases(&mut self) -> Releases {
        match self {
            Driver::Uring(d) => std::mem::take(&mut d.releases),
            Driver::Epoll(d) => std::mem::take(&mut d.releases),
        }
    }

    pub(crate) fn counters(&self) -> DriverCounters {
        match self {
            Driver::Uring(d) => d.counters(),
            Driver::Epoll(d) => d.counters,
        }
    }

    /// Ops whose completion has not been consumed (orphans included).
    pub(crate) fn live_ops(&self) -> usize {
        match self {
            Driver::Uring(d) => d.ops.live(),
            Driver::Epoll(d) => d.ops.live(),
        }
    }

    /// Gives up on ops that never completed during shutdown: their memory is leaked, not
    /// freed, because the kernel (or a pool thread) might still write into it.
    pub(crate) fn abandon_orphans(&mut self) -> usize {
        let ops = match self {
            Driver::Uring(d) => &mut d.ops,
            Driver::Epoll(d) => &mut d.ops,
        };
        let orphans = ops.drain_orphans();
        let count = orphans.len();
        for orphan in orphans {
            std::mem::forget(orphan);
        }
        count
    }

    pub(crate) fn deregister(&mut self, registration: u32, fd: std::os::fd::RawFd) {
        if let Driver::Epoll(d) = self {
            d.deregister(registration, Some(fd));
        }
    }

    pub(crate) fn forget_registration(&mut self, registration: u32) {
        if let Driver::Epoll(d) = self {
            d.deregister(registration, None);
        }
    }

    /// The provided-buffer group for multishot receives (io_uring on 6.0+ only).
    pub(crate) fn provided_group(&self) -> Option<u16> {
        match self {
            Driver::Uring(d) => d.provided_group(),
            Driver::Epoll(_) => None,
        }
    }

    /// Submits a multishot op (io_uring only).
    pub(crate) fn start_stream(
        &mut self,
        entry: io_uring::squeue::Entry,
        cx: &mut Context<'_>,
    ) -> Option<OpKey> {
        match self {
            Driver::Uring(d) => Some(d.start_stream(entry, cx)),
            Driver::Epoll(_) => None,
        }
    }

    pub(crate) fn poll_item(
        &mut self,
        key: OpKey,
        cx: &mut Context<'_>,
    ) -> Poll<Option<(RawResult, u32)>> {
        match self {
            Driver::Uring(d) => d.poll_item(key, cx),
            Driver::Epoll(_) => Poll::Ready(None),
        }
    }

    /// Lends the provided buffer a multishot item carries (io_uring only).
    pub(crate) fn lend_provided(
        &mut self,
        flags: u32,
        len: usize,
    ) -> Option<uring::buf_ring::Lent> {
        match self {
            Driver::Uring(d) => d.lend_provided(flags, len),
            Driver::Epoll(_) => None,
        }
    }

    pub(crate) fn recycle_provided(&mut self, flags: u32) {
        if let Driver::Uring(d) = self {
            d.recycle_provided(flags);
        }
    }

    /// The ring's setup flags, for diagnostics.
    pub(crate) fn describe(&self) -> String {
        match self {
            Driver::Uring(d) => d.describe(),
            Driver::Epoll(_) => "epoll".to_string(),
        }
    }
}
