//! Accept a connection; a connection accepted after the future was dropped is closed.

use super::Op;
use crate::driver::lifecycle::RawResult;
use crate::driver::shared_fd::SharedFd;
use crate::driver::{Files, Interest, OpSpec, Shim};
use crate::sys::socket::RawSockAddr;
use crate::sys::syscall::Syscall;
use crate::sys::{close_raw, owned_fd};
use io_uring::{opcode, squeue, types};
use std::io;
use std::os::fd::OwnedFd;

pub(crate) struct Accept {
    fd: SharedFd,
    addr: Box<RawSockAddr>,
}

const FLAGS: i32 = libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK;

impl OpSpec for Accept {
    type Output = io::Result<(OwnedFd, RawSockAddr)>;
    fn uring_entry(&mut self, _files: &Files<'_>) -> squeue::Entry {
        *self.addr = RawSockAddr::empty();
        opcode::Accept::new(
            types::Fd(self.fd.raw()),
            self.addr.as_mut_ptr(),
            self.addr.len_mut(),
        )
        .flags(FLAGS)
        .build()
    }
    fn syscall(&mut self) -> Syscall {
        *self.addr = RawSockAddr::empty();
        Syscall::Accept {
            fd: self.fd.raw(),
            addr: self.addr.as_mut_ptr(),
            len: self.addr.len_mut(),
            flags: FLAGS,
        }
    }
    fn shim(&self) -> Shim<'_> {
        Shim::Poll(&self.fd, Interest::Read)
    }
    fn complete(self, res: io::Result<u32>) -> Self::Output {
        let fd = res?;
        Ok((owned_fd(fd as i32), *self.addr))
    }
    fn release_late(self, res: RawResult) {
        if res >= 0 {
            close_raw(res);
        }
    }
}

pub(crate) fn accept(fd: &SharedFd) -> Op<Accept> {
    Op::new(Accept {
        fd: fd.clone(),
        addr: Box::new(RawSockAddr::empty()),
    })
}
