//! ringloop: a completion-based event loop for Linux on io_uring, with an epoll fallback.
//!
//! It is asyncio's model in Rust: a single-threaded loop runs futures (coroutines),
//! spawned tasks can be awaited and cancelled, timers run on a hashed timing wheel, and
//! I/O ops own their buffers while the kernel uses them. Servers embed one loop per core.
//!
//! ```
//! use std::time::Duration;
//! let backend = ringloop::run(async {
//!     let task = ringloop::spawn(async {
//!         ringloop::time::sleep(Duration::from_millis(10)).await;
//!         "slept"
//!     });
//!     assert_eq!(task.await.unwrap(), "slept");
//!     ringloop::Handle::try_current().is_some()
//! }).unwrap();
//! assert!(backend);
//! ```
//!
//! # Architecture
//! * [`Runtime`] owns a run queue of tasks, a timing wheel and a driver. One turn polls
//!   ready tasks, fires due timers, then makes one kernel call that submits the ops queued
//!   during the turn and waits for completions until the next timer deadline.
//! * The driver is io_uring ([`Backend::Uring`]) or a readiness-to-completion shim over
//!   epoll ([`Backend::Epoll`]); every op and socket type works the same on both.
//! * Each in-flight op has a generation-tagged slot. Dropping an op's future moves its
//!   buffers into the slot and cancels the op; they are freed only when the kernel reports
//!   completion, and a resource created by a late success (an accepted socket, an opened
//!   file) is closed.
//!
//! `docs/ARCHITECTURE.md` has the diagrams and the reasoning.

#![warn(missing_docs)]

mod blocking;
mod blocking_task;
mod driver;
pub mod fs;
pub mod future;
pub mod net;
mod op;
pub mod process;
mod runtime;
pub mod signal;
pub mod sync;
mod sys;
mod task;
pub mod time;
pub mod transport;

pub use blocking_task::spawn_blocking;
pub use driver::buf;
#[cfg(feature = "fault-injection")]
pub use driver::faults;
pub use driver::Backend;
pub use runtime::{call_soon, run, spawn, Builder, Handle, Runtime, Stats};
pub use task::{JoinError, JoinHandle};

/// The README's examples, compiled and run as doc tests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

/// docs/GUIDE.md's examples, compiled and run as doc tests.
#[doc = include_str!("../docs/GUIDE.md")]
#[cfg(doctest)]
pub struct GuideDoctests;

mod yield_now;
pub use yield_now::yield_now;

/// A full round trip through the backend that does nothing (an io_uring `NOP`; inline on
/// epoll). Useful to measure the driver's per-op cost.
pub async fn nop() -> std::io::Result<()> {
    op::nop::nop().await
}
