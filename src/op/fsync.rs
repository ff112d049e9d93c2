//! Flush a file's data (and metadata, unless `datasync`) to storage.

use super::Op;
use crate::driver::shared_fd::SharedFd;
use crate::driver::{Files, OpSpec, Shim};
use crate::sys::syscall::Syscall;
use io_uring::{opcode, squeue, types};
use std::io;

pub(crate) struct Fsync {
    fd: SharedFd,
    datasync: bool,
}

impl OpSpec for Fsync {
    type Output = io::Result<()>;
    fn uring_entry(&mut self, _files: &Files<'_>) -> squeue::Entry {
        let flags = if self.datasync {
            types::FsyncFlags::DATASYNC
        } else {
            types::FsyncFlags::empty()
        };
        opcode::Fsync::new(types::Fd(self.fd.raw()))
            .flags(flags)
            .build()
    }
    fn syscall(&mut self) -> Syscall {
        Syscall::Fsync {
            fd: self.fd.raw(),
            datasync: self.datasync,
        }
    }
    fn shim(&self) -> Shim<'_> {
        Shim::Pool
    }
    fn complete(self, res: io::Result<u32>) -> io::Result<()> {
        res.map(drop)
    }
}

pub(crate) fn fsync(fd: &SharedFd, datasync: bool) -> Op<Fsync> {
    Op::new(Fsync {
        fd: fd.clone(),
        datasync,
    })
}
