//! Send an owned buffer on a connected socket (never raising SIGPIPE).

use super::{op_len, Op};
use crate::driver::buf::{BufResult, IoBuf};
use crate::driver::shared_fd::SharedFd;
use crate::driver::{Files, Interest, OpSpec, Shim};
use crate::sys::syscall::Syscall;
use io_uring::{opcode, squeue, types};
use std::io;

pub(crate) struct Send<B> {
    fd: SharedFd,
    buf: B,
    flags: i32,
}

impl<B: IoBuf> OpSpec for Send<B> {
    type Output = BufResult<usize, B>;
    fn uring_entry(&mut self, files: &Files<'_>) -> squeue::Entry {
        let (ptr, len) = (self.buf.stable_ptr(), op_len(self.buf.bytes_init()));
        match files.slot(&self.fd) {
            Some(slot) => opcode::Send::new(types::Fixed(slot), ptr, len),
            None => opcode::Send::new(types::Fd(self.fd.raw()), ptr, len),
        }
        .flags(self.flags | libc::MSG_NOSIGNAL)
        .build()
    }
    fn syscall(&mut self) -> Syscall {
        let len = op_len(self.buf.bytes_init()) as usize;
        Syscall::Send {
            fd: self.fd.raw(),
            buf: self.buf.stable_ptr(),
            len,
            flags: self.flags,
        }
    }
    fn shim(&self) -> Shim<'_> {
        Shim::Poll(&self.fd, Interest::Write)
    }
    fn complete(self, res: io::Result<u32>) -> Self::Output {
        (res.map(|n| n as usize), self.buf)
    }
}

pub(crate) fn send<B: IoBuf>(fd: &SharedFd, buf: B, flags: i32) -> Op<Send<B>> {
    Op::new(Send {
        fd: fd.clone(),
        buf,
        flags,
    })
}
