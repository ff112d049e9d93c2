//! Receive a datagram and its source address (`recvmsg`).

use super::{op_len_exact as op_len, Op};
use crate::driver::buf::IoBufMut;
use crate::driver::shared_fd::SharedFd;
use crate::driver::{Files, Interest, OpSpec, Shim};
use crate::sys::socket::RawSockAddr;
use crate::sys::syscall::Syscall;
use io_uring::{opcode, squeue, types};
use std::io;

/// The kernel-visible parts, boxed so their addresses stay put while the op moves.
struct MsgParts {
    msghdr: libc::msghdr,
    iovec: libc::iovec,
    addr: RawSockAddr,
}

pub(crate) struct RecvMsg<B> {
    fd: SharedFd,
    buf: B,
    parts: Box<MsgParts>,
}

impl<B: IoBufMut> RecvMsg<B> {
    fn prepare(&mut self) -> *mut libc::msghdr {
        let parts = &mut *self.parts;
        parts.addr = RawSockAddr::empty();
        parts.iovec = libc::iovec {
            iov_base: self.buf.stable_mut_ptr().cast(),
            iov_len: op_len(self.buf.bytes_total()) as usize,
        };
        parts.msghdr.msg_name = parts.addr.as_mut_ptr().cast();
        parts.msghdr.msg_namelen = parts.addr.len();
        parts.msghdr.msg_iov = &mut parts.iovec;
        parts.msghdr.msg_iovlen = 1;
        &mut parts.msghdr
    }
}

impl<B: IoBufMut> OpSpec for RecvMsg<B> {
    type Output = (io::Result<(usize, RawSockAddr)>, B);
    fn uring_entry(&mut self, _files: &Files<'_>) -> squeue::Entry {
        let msg = self.prepare();
        opcode::RecvMsg::new(types::Fd(self.fd.raw()), msg).build()
    }
    fn syscall(&mut self) -> Syscall {
        let msg = self.prepare();
        Syscall::RecvMsg {
            fd: self.fd.raw(),
            msg,
            flags: 0,
        }
    }
    fn shim(&self) -> Shim<'_> {
        Shim::Poll(&self.fd, Interest::Read)
    }
    fn complete(mut self, res: io::Result<u32>) -> Self::Output {
        let res = res.map(|n| {
            crate::driver::buf::commit_read(&mut self.buf, n as usize);
            let mut addr = self.parts.addr.clone();
            addr.set_len(self.parts.msghdr.msg_namelen);
            (n as usize, addr)
        });
        (res, self.buf)
    }
}

pub(crate) fn recv_from<B: IoBufMut>(fd: &SharedFd, buf: B) -> Op<RecvMsg<B>> {
    let msghdr = crate::sys::socket::empty_msghdr();
    let parts = Box::new(MsgParts {
        msghdr,
        iovec: crate::sys::socket::empty_iovec(),
        addr: RawSockAddr::empty(),
    });
    Op::new(RecvMsg {
        fd: fd.clone(),
        buf,
        parts,
    })
}
