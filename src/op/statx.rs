//! File metadata by descriptor or path (`statx`).

use super::Op;
use crate::driver::shared_fd::SharedFd;
use crate::driver::{Files, OpSpec, Shim};
use crate::sys::syscall::Syscall;
use io_uring::{opcode, squeue, types};
use std::ffi::CString;
use std::io;

pub(crate) struct Statx {
    /// Keeps the descriptor open while the kernel reads it.
    fd: Option<SharedFd>,
    path: CString,
    flags: i32,
    buf: Box<libc::statx>,
}

impl Statx {
    fn dirfd(&self) -> i32 {
        self.fd.as_ref().map_or(libc::AT_FDCWD, |fd| fd.raw())
    }
}

impl OpSpec for Statx {
    type Output = io::Result<libc::statx>;
    fn uring_entry(&mut self, _files: &Files<'_>) -> squeue::Entry {
        let buf: *mut libc::statx = &mut *self.buf;
        opcode::Statx::new(
            types::Fd(self.dirfd()),
            self.path.as_ptr(),
            buf.cast::<types::statx>(),
        )
        .flags(self.flags)
        .mask(libc::STATX_BASIC_STATS | libc::STATX_BTIME)
        .build()
    }
    fn syscall(&mut self) -> Syscall {
        Syscall::Statx {
            dirfd: self.dirfd(),
            path: self.path.as_ptr(),
            flags: self.flags,
            mask: libc::STATX_BASIC_STATS | libc::STATX_BTIME,
            buf: &mut *self.buf,
        }
    }
    fn shim(&self) -> Shim<'_> {
        Shim::Pool
    }
    fn complete(self, res: io::Result<u32>) -> Self::Output {
        res.map(|_| *self.buf)
    }
}

fn empty_statx() -> Box<libc::statx> {
    Box::new(crate::sys::zeroed_statx())
}

/// Metadata of an open descriptor.
pub(crate) fn statx_fd(fd: &SharedFd) -> Op<Statx> {
    Op::new(Statx {
        fd: Some(fd.clone()),
        path: CString::default(),
        flags: libc::AT_EMPTY_PATH,
        buf: empty_statx(),
    })
}

/// Metadata of a path (following symlinks).
pub(crate) fn statx_path(path: CString) -> Op<Statx> {
    Op::new(Statx {
        fd: None,
        path,
        flags: 0,
        buf: empty_statx(),
    })
}
