//! Wait until a descriptor is readable (pidfds, eventfds): `POLL_ADD` on io_uring, the
//! readiness shim on epoll.

use super::Op;
use crate::driver::shared_fd::SharedFd;
use crate::driver::{Files, Interest, OpSpec, Shim};
use crate::sys::syscall::Syscall;
use io_uring::{opcode, squeue, types};
use std::io;

pub(crate) struct PollReadable {
    fd: SharedFd,
}

impl OpSpec for PollReadable {
    type Output = io::Result<()>;
    fn uring_entry(&mut self, _files: &Files<'_>) -> squeue::Entry {
        opcode::PollAdd::new(types::Fd(self.fd.raw()), libc::POLLIN as u32).build()
    }
    fn syscall(&mut self) -> Syscall {
        Syscall::PollIn { fd: self.fd.raw() }
    }
    fn shim(&self) -> Shim<'_> {
        Shim::Poll(&self.fd, Interest::Read)
    }
    fn complete(self, res: io::Result<u32>) -> io::Result<()> {
        res.map(drop)
    }
}

pub(crate) fn readable(fd: &SharedFd) -> Op<PollReadable> {
    Op::new(PollReadable { fd: fd.clone() })
}
