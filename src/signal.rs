//! Signals as async streams (asyncio's `add_signal_handler`).
//!
//! ```no_run
//! ringloop::run(async {
//!     println!("press Ctrl-C");
//!     ringloop::signal::ctrl_c().await?;
//!     println!("shutting down");
//!     std::io::Result::Ok(())
//! }).unwrap().unwrap();
//! ```
//!
//! Listening for a signal replaces its default action for the whole process from then
//! on: after the first `ctrl_c()` call, Ctrl-C no longer kills the program; the program
//! decides. Works the same on both backends.

use crate::driver::shared_fd::{FdKind, SharedFd};
use crate::sys::signal as sys;
use std::io;

/// A signal to listen for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignalKind(i32);

impl SignalKind {
    /// `SIGINT` (Ctrl-C).
    pub const INTERRUPT: SignalKind = SignalKind(libc::SIGINT);
    /// `SIGTERM` (polite termination, e.g. from `kill` or an orchestrator).
    pub const TERMINATE: SignalKind = SignalKind(libc::SIGTERM);
    /// `SIGHUP`.
    pub const HANGUP: SignalKind = SignalKind(libc::SIGHUP);
    /// `SIGUSR1`.
    pub const USER_DEFINED1: SignalKind = SignalKind(libc::SIGUSR1);
    /// `SIGUSR2`.
    pub const USER_DEFINED2: SignalKind = SignalKind(libc::SIGUSR2);
    /// `SIGQUIT`.
    pub const QUIT: SignalKind = SignalKind(libc::SIGQUIT);
    /// `SIGCHLD`.
    pub const CHILD: SignalKind = SignalKind(libc::SIGCHLD);

    /// Any signal number (SIGKILL, SIGSTOP and fault signals are refused by [`signal`]).
    pub const fn from_raw(signum: i32) -> SignalKind {
        SignalKind(signum)
    }

    /// The signal number.
    pub const fn as_raw(self) -> i32 {
        self.0
    }
}

/// A stream of one kind of signal.
pub struct Signal {
    kind: SignalKind,
    seen: u64,
    slot: usize,
    fd: SharedFd,
}

/// Starts listening for `kind`; arrivals after this call are reported by [`Signal::recv`].
///
/// ```
/// use ringloop::signal::{signal, SignalKind};
/// ringloop::run(async {
///     let mut usr1 = signal(SignalKind::USER_DEFINED1)?;
///     ringloop::signal::raise(SignalKind::USER_DEFINED1)?;
///     usr1.recv().await;
///     std::io::Result::Ok(())
/// }).unwrap().unwrap();
/// ```
pub fn signal(kind: SignalKind) -> io::Result<Signal> {
    sys::install(kind.0)?;
    let seen = sys::count(kind.0);
    let (slot, fd) = sys::acquire_listener()?;
    Ok(Signal {
        kind,
        seen,
        slot,
        fd: SharedFd::new(fd, FdKind::Pollable),
    })
}

impl Signal {
    /// Waits for the next arrival (several arrivals while nobody waited count as one, as
    /// with Unix signals themselves). Never returns `None`; the `Option` mirrors other
    /// streams.
    pub async fn recv(&mut self) -> Option<()> {
        loop {
            let now = sys::count(self.kind.0);
            if now > self.seen {
                self.seen = now;
                return Some(());
            }
            // Drain before waiting so only arrivals after this point wake us.
            sys::drain_eventfd(self.fd.raw());
            if sys::count(self.kind.0) > self.seen {
                continue;
            }
            if crate::op::poll::readable(&self.fd).await.is_err() {
                crate::time::sleep(std::time::Duration::from_millis(10)).await;
            }
        }
    }

    /// The signal this stream reports.
    pub fn kind(&self) -> SignalKind {
        self.kind
    }
}

impl Drop for Signal {
    fn drop(&mut self) {
        sys::release_listener(self.slot);
    }
}

/// Sends `kind` to this process (like `os.kill(os.getpid(), sig)`).
pub fn raise(kind: SignalKind) -> io::Result<()> {
    sys::raise_in_process(kind.0)
}

/// Completes at the next Ctrl-C (`SIGINT`).
pub async fn ctrl_c() -> io::Result<()> {
    signal(SignalKind::INTERRUPT)?.recv().await;
    Ok(())
}
