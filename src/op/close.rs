//! Close a descriptor that no op uses any more, reporting the kernel's answer.

use super::Op;
use crate::driver::{Files, OpSpec, Shim};
use crate::sys::syscall::Syscall;
use io_uring::{opcode, squeue, types};
use std::io;
use std::os::fd::{IntoRawFd, OwnedFd, RawFd};

pub(crate) struct Close {
    fd: RawFd,
}

impl OpSpec for Close {
    type Output = io::Result<()>;
    fn uring_entry(&mut self, _files: &Files<'_>) -> squeue::Entry {
        opcode::Close::new(types::Fd(self.fd)).build()
    }
    fn syscall(&mut self) -> Syscall {
        Syscall::Close { fd: self.fd }
    }
    fn shim(&self) -> Shim<'_> {
        Shim::Inline
    }
    fn complete(self, res: io::Result<u32>) -> io::Result<()> {
        res.map(drop)
    }
}

/// Ownership passes to the op: the descriptor is closed even if the future is dropped
/// (the kernel runs the close once submitted; an unsubmitted op never took it).
pub(crate) fn close(fd: OwnedFd) -> Op<Close> {
    Op::new(Close {
        fd: fd.into_raw_fd(),
    })
}
