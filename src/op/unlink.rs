//! Remove a file or an empty directory (`unlinkat`).

use super::Op;
use crate::driver::{Files, OpSpec, Shim};
use crate::sys::syscall::Syscall;
use io_uring::{opcode, squeue, types};
use std::ffi::CString;
use std::io;

pub(crate) struct Unlink {
    path: CString,
    flags: i32,
}

impl OpSpec for Unlink {
    type Output = io::Result<()>;
    fn uring_entry(&mut self, _files: &Files<'_>) -> squeue::Entry {
        opcode::UnlinkAt::new(types::Fd(libc::AT_FDCWD), self.path.as_ptr())
            .flags(self.flags)
            .build()
    }
    fn syscall(&mut self) -> Syscall {
        Syscall::UnlinkAt {
            dirfd: libc::AT_FDCWD,
            path: self.path.as_ptr(),
            flags: self.flags,
        }
    }
    fn shim(&self) -> Shim<'_> {
        Shim::Pool
    }
    fn complete(self, res: io::Result<u32>) -> io::Result<()> {
        res.map(drop)
    }
}

pub(crate) fn unlink(path: CString, directory: bool) -> Op<Unlink> {
    Op::new(Unlink {
        path,
        flags: if directory { libc::AT_REMOVEDIR } else { 0 },
    })
}
