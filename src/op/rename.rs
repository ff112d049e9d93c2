//! Rename a file or directory (`renameat`).

use super::Op;
use crate::driver::{Files, OpSpec, Shim};
use crate::sys::syscall::Syscall;
use io_uring::{opcode, squeue, types};
use std::ffi::CString;
use std::io;

pub(crate) struct Rename {
    from: CString,
    to: CString,
}

impl OpSpec for Rename {
    type Output = io::Result<()>;
    fn uring_entry(&mut self, _files: &Files<'_>) -> squeue::Entry {
        let cwd = types::Fd(libc::AT_FDCWD);
        opcode::RenameAt::new(cwd, self.from.as_ptr(), cwd, self.to.as_ptr()).build()
    }
    fn syscall(&mut self) -> Syscall {
        Syscall::RenameAt {
            olddirfd: libc::AT_FDCWD,
            oldpath: self.from.as_ptr(),
            newdirfd: libc::AT_FDCWD,
            newpath: self.to.as_ptr(),
        }
    }
    fn shim(&self) -> Shim<'_> {
        Shim::Pool
    }
    fn complete(self, res: io::Result<u32>) -> io::Result<()> {
        res.map(drop)
    }
}

pub(crate) fn rename(from: CString, to: CString) -> Op<Rename> {
    Op::new(Rename { from, to })
}
