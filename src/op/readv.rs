//! Vectored read into several owned buffers.

use super::{op_len_exact as op_len, shim_for, Op};
use crate::driver::buf::{BufResult, IoBufMut};
use crate::driver::shared_fd::SharedFd;
use crate::driver::{Files, Interest, OpSpec, Shim};
use crate::sys::syscall::Syscall;
use io_uring::{opcode, squeue, types};
use std::io;

pub(crate) struct Readv<B> {
    fd: SharedFd,
    bufs: Vec<B>,
    iovecs: Vec<libc::iovec>,
    offset: Option<u64>,
}

impl<B: IoBufMut> Readv<B> {
    fn fill_iovecs(&mut self) {
        self.iovecs = self
            .bufs
            .iter_mut()
            .map(|b| libc::iovec {
                iov_base: b.stable_mut_ptr().cast(),
                iov_len: op_len(b.bytes_total()) as usize,
            })
            .collect();
    }
}

impl<B: IoBufMut> OpSpec for Readv<B> {
    type Output = BufResult<usize, Vec<B>>;
    fn uring_entry(&mut self, _files: &Files<'_>) -> squeue::Entry {
        self.fill_iovecs();
        opcode::Readv::new(
            types::Fd(self.fd.raw()),
            self.iovecs.as_ptr(),
            self.iovecs.len() as u32,
        )
        .offset(self.offset.unwrap_or(u64::MAX))
        .build()
    }
    fn syscall(&mut self) -> Syscall {
        self.fill_iovecs();
        Syscall::Readv {
            fd: self.fd.raw(),
            iov: self.iovecs.as_ptr(),
            iovcnt: self.iovecs.len() as i32,
            offset: self.offset,
        }
    }
    fn shim(&self) -> Shim<'_> {
        shim_for(&self.fd, Interest::Read)
    }
    fn complete(mut self, res: io::Result<u32>) -> Self::Output {
        let res = res.map(|n| {
            let mut left = n as usize;
            for buf in &mut self.bufs {
                let here = left.min(buf.bytes_total());
                // The kernel fills the iovecs in order: `here` bytes landed in this one.
                crate::driver::buf::commit_read(buf, here);
                left -= here;
            }
            n as usize
        });
        (res, self.bufs)
    }
}

pub(crate) fn readv<B: IoBufMut>(fd: &SharedFd, bufs: Vec<B>, offset: Option<u64>) -> Op<Readv<B>> {
    Op::new(Readv {
        fd: fd.clone(),
        bufs,
        iovecs: Vec::new(),
        offset,
    })
}
