//! Create a directory (`mkdirat`).

use super::Op;
use crate::driver::{Files, OpSpec, Shim};
use crate::sys::syscall::Syscall;
use io_uring::{opcode, squeue, types};
use std::ffi::CString;
use std::io;

pub(crate) struct Mkdir {
    path: CString,
    mode: u32,
}

impl OpSpec for Mkdir {
    type Output = io::Result<()>;
    fn uring_entry(&mut self, _files: &Files<'_>) -> squeue::Entry {
        opcode::MkDirAt::new(types::Fd(libc::AT_FDCWD), self.path.as_ptr())
            .mode(self.mode)
            .build()
    }
    fn syscall(&mut self) -> Syscall {
        Syscall::MkdirAt {
            dirfd: libc::AT_FDCWD,
            path: self.path.as_ptr(),
            mode: self.mode,
        }
    }
    fn shim(&self) -> Shim<'_> {
        Shim::Pool
    }
    fn complete(self, res: io::Result<u32>) -> io::Result<()> {
        res.map(drop)
    }
}

pub(crate) fn mkdir(path: CString, mode: u32) -> Op<Mkdir> {
    Op::new(Mkdir { path, mode })
}
