//! Open a file (`openat`); a file opened after the future was dropped is closed.

use super::Op;
use crate::driver::lifecycle::RawResult;
use crate::driver::{Files, OpSpec, Shim};
use crate::sys::syscall::Syscall;
use crate::sys::{close_raw, owned_fd};
use io_uring::{opcode, squeue, types};
use std::ffi::CString;
use std::io;
use std::os::fd::OwnedFd;

pub(crate) struct Open {
    path: CString,
    flags: i32,
    mode: u32,
}

impl OpSpec for Open {
    type Output = io::Result<OwnedFd>;
    fn uring_entry(&mut self, _files: &Files<'_>) -> squeue::Entry {
        opcode::OpenAt::new(types::Fd(libc::AT_FDCWD), self.path.as_ptr())
            .flags(self.flags | libc::O_CLOEXEC)
            .mode(self.mode)
            .build()
    }
    fn syscall(&mut self) -> Syscall {
        Syscall::OpenAt {
            dirfd: libc::AT_FDCWD,
            path: self.path.as_ptr(),
            flags: self.flags,
            mode: self.mode,
        }
    }
    fn shim(&self) -> Shim<'_> {
        Shim::Pool
    }
    fn complete(self, res: io::Result<u32>) -> Self::Output {
        res.map(|fd| owned_fd(fd as i32))
    }
    fn release_late(self, res: RawResult) {
        if res >= 0 {
            close_raw(res);
        }
    }
}

pub(crate) fn open(path: CString, flags: i32, mode: u32) -> Op<Open> {
    Op::new(Open { path, flags, mode })
}
