//! Vectored write from several owned buffers.

use super::{op_len_exact as op_len, shim_for, Op};
use crate::driver::buf::{BufResult, IoBuf};
use crate::driver::shared_fd::SharedFd;
use crate::driver::{Files, Interest, OpSpec, Shim};
use crate::sys::syscall::Syscall;
use io_uring::{opcode, squeue, types};
use std::io;

pub(crate) struct Writev<B> {
    fd: SharedFd,
    bufs: Vec<B>,
    iovecs: Vec<libc::iovec>,
    offset: Option<u64>,
}

impl<B: IoBuf> Writev<B> {
    fn fill_iovecs(&mut self) {
        self.iovecs = self
            .bufs
            .iter()
            .map(|b| libc::iovec {
                iov_base: b.stable_ptr() as *mut libc::c_void,
                iov_len: op_len(b.bytes_init()) as usize,
            })
            .collect();
    }
}

impl<B: IoBuf> OpSpec for Writev<B> {
    type Output = BufResult<usize, Vec<B>>;
    fn uring_entry(&mut self, _files: &Files<'_>) -> squeue::Entry {
        self.fill_iovecs();
        opcode::Writev::new(
            types::Fd(self.fd.raw()),
            self.iovecs.as_ptr(),
            self.iovecs.len() as u32,
        )
        .offset(self.offset.unwrap_or(u64::MAX))
        .build()
    }
    fn syscall(&mut self) -> Syscall {
        self.fill_iovecs();
        Syscall::Writev {
            fd: self.fd.raw(),
            iov: self.iovecs.as_ptr(),
            iovcnt: self.iovecs.len() as i32,
            offset: self.offset,
        }
    }
    fn shim(&self) -> Shim<'_> {
        shim_for(&self.fd, Interest::Write)
    }
    fn complete(self, res: io::Result<u32>) -> Self::Output {
        (res.map(|n| n as usize), self.bufs)
    }
}

pub(crate) fn writev<B: IoBuf>(fd: &SharedFd, bufs: Vec<B>, offset: Option<u64>) -> Op<Writev<B>> {
    Op::new(Writev {
        fd: fd.clone(),
        bufs,
        iovecs: Vec::new(),
        offset,
    })
}
