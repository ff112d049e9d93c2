//! A reference-counted descriptor shared by a socket or file and its in-flight ops.
//!
//! Every op holds a clone, and a dropped op's data (clone included) stays in its slot
//! until the completion arrives, so the descriptor is closed only after the last op
//! on it is finished: its number can never be reused under an in-flight op.

use crate::driver::deferred::Deferred;
use crate::driver::uring::fixed_files::FixedSlot;
use crate::runtime::context;
use std::cell::{Cell, OnceCell};
use std::fmt;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::rc::Rc;

/// Whether readiness means anything for this descriptor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FdKind {
    /// Sockets, pipes: epoll reports readiness and syscalls say `EAGAIN`.
    Pollable,
    /// A connected stream socket (TCP, Unix stream): pollable, and a read that returns
    /// less than asked for has drained the socket, so the epoll shim waits for the next
    /// edge instead of trying a read that would only say `EAGAIN`.
    Stream,
    /// Regular files: always "ready", may block; the epoll shim uses the blocking pool.
    File,
}

struct FdInner {
    /// `None` only after `into_owned` moved it out, just before the inner value drops.
    fd: Option<OwnedFd>,
    raw: RawFd,
    kind: FdKind,
    /// (loop id, registration index) once the epoll shim has registered the fd.
    registration: Cell<Option<(u64, u32)>>,
    /// Its slot in a ring's fixed-file table, once it has one (emptied when this drops,
    /// before the descriptor closes).
    fixed: OnceCell<FixedSlot>,
    /// Ops built for it so far, up to `SLOT_AFTER_OPS`.
    uses: Cell<u8>,
}

/// A stream socket gets a fixed-file slot on this op: a slot costs two syscalls (taking
/// and emptying it) and saves a lookup per op, so short connections never pay for one.
const SLOT_AFTER_OPS: u8 = 8;

#[derive(Clone)]
pub(crate) struct SharedFd {
    inner: Rc<FdInner>,
}

impl SharedFd {
    pub(crate) fn new(fd: OwnedFd, kind: FdKind) -> Self {
        Self {
            inner: Rc::new(FdInner {
                raw: fd.as_raw_fd(),
                fd: Some(fd),
                kind,
                registration: Cell::new(None),
                fixed: OnceCell::new(),
                uses: Cell::new(0),
            }),
        }
    }

    pub(crate) fn raw(&self) -> RawFd {
        self.inner.raw
    }

    pub(crate) fn kind(&self) -> FdKind {
        self.inner.kind
    }

    pub(crate) fn registration(&self) -> Option<(u64, u32)> {
        self.inner.registration.get()
    }

    pub(crate) fn set_registration(&self, registration: Option<(u64, u32)>) {
        self.inner.registration.set(registration);
    }

    pub(crate) fn fixed_slot(&self) -> Option<&FixedSlot> {
        self.inner.fixed.get()
    }

    /// Counts an op built for it; `true` exactly once, on the op that should take a slot.
    pub(crate) fn count_use(&self) -> bool {
        let uses = self.inner.uses.get();
        if uses >= SLOT_AFTER_OPS {
            return false;
        }
        self.inner.uses.set(uses + 1);
        uses + 1 == SLOT_AFTER_OPS
    }

    pub(crate) fn set_fixed_slot(&self, slot: FixedSlot) {
        // Only `FixedFiles::register` sets it, after checking it is unset.
        let _ = self.inner.fixed.set(slot);
    }

    /// Takes the descriptor out if nothing else (no in-flight op) holds it, deregistering
    /// it from epoll first; otherwise gives the shared handle back.
    pub(crate) fn into_owned(self) -> Result<OwnedFd, SharedFd> {
        let mut inner = Rc::try_unwrap(self.inner).map_err(|inner| SharedFd { inner })?;
        let fd = inner.fd.take();
        // Dropping the inner value deregisters the (still open) fd from epoll.
        drop(inner);
        Ok(fd.expect("only into_owned takes the descriptor out, and it consumes the last handle"))
    }
}

impl fmt::Debug for SharedFd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("SharedFd").field(&self.raw()).finish()
    }
}

impl Drop for FdInner {
    fn drop(&mut self) {
        // Empty the fixed-file slot first: the socket closes with its descriptor only once
        // the ring's table lets go of it.
        drop(self.fixed.take());
        let Some((loop_id, registration)) = self.registration.get() else {
            return;
        };
        let fd = self.raw;
        context::with_current(|ctx| {
            if ctx.shared.loop_id.get() != loop_id {
                return;
            }
            match ctx.driver.try_borrow_mut() {
                Ok(mut driver) => driver.deregister(registration, fd),
                // The driver is mid-dispatch: closing the fd removes it from the epoll set;
                // the bookkeeping record is freed after the turn.
                Err(_) => ctx
                    .deferred
                    .borrow_mut()
                    .push(Deferred::Deregister(registration)),
            }
        });
    }
}
