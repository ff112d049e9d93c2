//! Receive from a connected socket into an owned buffer.

use super::{op_len, Op};
use crate::driver::buf::{BufResult, IoBufMut};
use crate::driver::shared_fd::SharedFd;
use crate::driver::{Files, Interest, OpSpec, Shim};
use crate::sys::syscall::Syscall;
use io_uring::{opcode, squeue, types};
use std::io;

pub(crate) struct Recv<B> {
    fd: SharedFd,
    buf: B,
    flags: i32,
}

impl<B: IoBufMut> OpSpec for Recv<B> {
    type Output = BufResult<usize, B>;
    fn uring_entry(&mut self, files: &Files<'_>) -> squeue::Entry {
        let (ptr, len) = (self.buf.stable_mut_ptr(), op_len(self.buf.bytes_total()));
        match files.slot(&self.fd) {
            Some(slot) => opcode::Recv::new(types::Fixed(slot), ptr, len),
            None => opcode::Recv::new(types::Fd(self.fd.raw()), ptr, len),
        }
        .flags(self.flags)
        .build()
    }
    fn syscall(&mut self) -> Syscall {
        let len = op_len(self.buf.bytes_total()) as usize;
        Syscall::Recv {
            fd: self.fd.raw(),
            buf: self.buf.stable_mut_ptr(),
            len,
            flags: self.flags,
        }
    }
    fn shim(&self) -> Shim<'_> {
        Shim::Poll(&self.fd, Interest::Read)
    }
    fn complete(mut self, res: io::Result<u32>) -> Self::Output {
        let res = res.map(|n| {
            crate::driver::buf::commit_read(&mut self.buf, n as usize);
            n as usize
        });
        (res, self.buf)
    }
}

pub(crate) fn recv<B: IoBufMut>(fd: &SharedFd, buf: B, flags: i32) -> Op<Recv<B>> {
    Op::new(Recv {
        fd: fd.clone(),
        buf,
        flags,
    })
}
