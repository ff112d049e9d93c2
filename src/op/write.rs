//! Write from an owned buffer, at an offset (files) or the current position (streams).

use super::{op_len, shim_for, Op};
use crate::driver::buf::{BufResult, IoBuf};
use crate::driver::shared_fd::SharedFd;
use crate::driver::{Files, Interest, OpSpec, Shim};
use crate::sys::syscall::Syscall;
use io_uring::{opcode, squeue, types};
use std::io;

pub(crate) struct Write<B> {
    fd: SharedFd,
    buf: B,
    offset: Option<u64>,
}

impl<B: IoBuf> OpSpec for Write<B> {
    type Output = BufResult<usize, B>;
    fn uring_entry(&mut self, _files: &Files<'_>) -> squeue::Entry {
        let len = op_len(self.buf.bytes_init());
        opcode::Write::new(types::Fd(self.fd.raw()), self.buf.stable_ptr(), len)
            .offset(self.offset.unwrap_or(u64::MAX))
            .build()
    }
    fn syscall(&mut self) -> Syscall {
        let len = op_len(self.buf.bytes_init()) as usize;
        Syscall::Write {
            fd: self.fd.raw(),
            buf: self.buf.stable_ptr(),
            len,
            offset: self.offset,
        }
    }
    fn shim(&self) -> Shim<'_> {
        shim_for(&self.fd, Interest::Write)
    }
    fn complete(self, res: io::Result<u32>) -> Self::Output {
        (res.map(|n| n as usize), self.buf)
    }
}

pub(crate) fn write<B: IoBuf>(fd: &SharedFd, buf: B, offset: Option<u64>) -> Op<Write<B>> {
    Op::new(Write {
        fd: fd.clone(),
        buf,
        offset,
    })
}
