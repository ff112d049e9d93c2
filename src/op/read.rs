//! Read into an owned buffer, at an offset (files) or the current position (streams).

use super::{op_len, shim_for, Op};
use crate::driver::buf::{BufResult, IoBufMut};
use crate::driver::shared_fd::SharedFd;
use crate::driver::{Files, Interest, OpSpec, Shim};
use crate::sys::syscall::Syscall;
use io_uring::{opcode, squeue, types};
use std::io;

pub(crate) struct Read<B> {
    fd: SharedFd,
    buf: B,
    offset: Option<u64>,
}

impl<B: IoBufMut> OpSpec for Read<B> {
    type Output = BufResult<usize, B>;
    fn uring_entry(&mut self, _files: &Files<'_>) -> squeue::Entry {
        let len = op_len(self.buf.bytes_total());
        opcode::Read::new(types::Fd(self.fd.raw()), self.buf.stable_mut_ptr(), len)
            .offset(self.offset.unwrap_or(u64::MAX))
            .build()
    }
    fn syscall(&mut self) -> Syscall {
        let len = op_len(self.buf.bytes_total()) as usize;
        Syscall::Read {
            fd: self.fd.raw(),
            buf: self.buf.stable_mut_ptr(),
            len,
            offset: self.offset,
        }
    }
    fn shim(&self) -> Shim<'_> {
        shim_for(&self.fd, Interest::Read)
    }
    fn complete(mut self, res: io::Result<u32>) -> Self::Output {
        let res = res.map(|n| {
            crate::driver::buf::commit_read(&mut self.buf, n as usize);
            n as usize
        });
        (res, self.buf)
    }
}

pub(crate) fn read<B: IoBufMut>(fd: &SharedFd, buf: B, offset: Option<u64>) -> Op<Read<B>> {
    Op::new(Read {
        fd: fd.clone(),
        buf,
        offset,
    })
}
