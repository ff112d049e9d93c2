//! Connect a socket. The op owns the new socket: if its future is dropped, the socket is
//! closed once the kernel is done with the attempt.

use super::Op;
use crate::driver::shared_fd::SharedFd;
use crate::driver::{Files, Interest, OpSpec, Shim};
use crate::sys::socket::RawSockAddr;
use crate::sys::syscall::Syscall;
use io_uring::{opcode, squeue, types};
use std::io;

pub(crate) struct Connect {
    fd: SharedFd,
    addr: Box<RawSockAddr>,
}

impl OpSpec for Connect {
    type Output = io::Result<SharedFd>;
    fn uring_entry(&mut self, _files: &Files<'_>) -> squeue::Entry {
        opcode::Connect::new(
            types::Fd(self.fd.raw()),
            self.addr.as_ptr(),
            self.addr.len(),
        )
        .build()
    }
    fn syscall(&mut self) -> Syscall {
        Syscall::Connect {
            fd: self.fd.raw(),
            addr: self.addr.as_ptr(),
            len: self.addr.len(),
        }
    }
    fn shim(&self) -> Shim<'_> {
        Shim::Poll(&self.fd, Interest::Write)
    }
    fn complete(self, res: io::Result<u32>) -> Self::Output {
        res.map(|_| self.fd)
    }
}

pub(crate) fn connect(fd: SharedFd, addr: RawSockAddr) -> Op<Connect> {
    Op::new(Connect {
        fd,
        addr: Box::new(addr),
    })
}
