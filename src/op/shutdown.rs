//! Shut down one or both directions of a socket.

use super::Op;
use crate::driver::shared_fd::SharedFd;
use crate::driver::{Files, OpSpec, Shim};
use crate::sys::syscall::Syscall;
use io_uring::{opcode, squeue, types};
use std::io;

pub(crate) struct Shutdown {
    fd: SharedFd,
    how: i32,
}

impl OpSpec for Shutdown {
    type Output = io::Result<()>;
    fn uring_entry(&mut self, _files: &Files<'_>) -> squeue::Entry {
        opcode::Shutdown::new(types::Fd(self.fd.raw()), self.how).build()
    }
    fn syscall(&mut self) -> Syscall {
        Syscall::Shutdown {
            fd: self.fd.raw(),
            how: self.how,
        }
    }
    fn shim(&self) -> Shim<'_> {
        Shim::Inline
    }
    fn complete(self, res: io::Result<u32>) -> io::Result<()> {
        res.map(drop)
    }
}

pub(crate) fn shutdown(fd: &SharedFd, how: std::net::Shutdown) -> Op<Shutdown> {
    let how = match how {
        std::net::Shutdown::Read => libc::SHUT_RD,
        std::net::Shutdown::Write => libc::SHUT_WR,
        std::net::Shutdown::Both => libc::SHUT_RDWR,
    };
    Op::new(Shutdown {
        fd: fd.clone(),
        how,
    })
}
