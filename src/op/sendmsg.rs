//! Send a datagram to an address (`sendmsg`).

use super::{op_len_exact as op_len, Op};
use crate::driver::buf::{BufResult, IoBuf};
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
    addr: Option<RawSockAddr>,
}

pub(crate) struct SendMsg<B> {
    fd: SharedFd,
    buf: B,
    parts: Box<MsgParts>,
}

impl<B: IoBuf> SendMsg<B> {
    fn prepare(&mut self) -> *const libc::msghdr {
        let parts = &mut *self.parts;
        parts.iovec = libc::iovec {
            iov_base: self.buf.stable_ptr() as *mut _,
            iov_len: op_len(self.buf.bytes_init()) as usize,
        };
        match parts.addr.as_mut() {
            Some(addr) => {
                parts.msghdr.msg_name = addr.as_mut_ptr().cast();
                parts.msghdr.msg_namelen = addr.len();
            }
            None => {
                parts.msghdr.msg_name = std::ptr::null_mut();
                parts.msghdr.msg_namelen = 0;
            }
        }
        parts.msghdr.msg_iov = &mut parts.iovec;
        parts.msghdr.msg_iovlen = 1;
        &parts.msghdr
    }
}

impl<B: IoBuf> OpSpec for SendMsg<B> {
    type Output = BufResult<usize, B>;
    fn uring_entry(&mut self, _files: &Files<'_>) -> squeue::Entry {
        let msg = self.prepare();
        opcode::SendMsg::new(types::Fd(self.fd.raw()), msg)
            .flags(libc::MSG_NOSIGNAL as u32)
            .build()
    }
    fn syscall(&mut self) -> Syscall {
        let msg = self.prepare();
        Syscall::SendMsg {
            fd: self.fd.raw(),
            msg,
            flags: 0,
        }
    }
    fn shim(&self) -> Shim<'_> {
        Shim::Poll(&self.fd, Interest::Write)
    }
    fn complete(self, res: io::Result<u32>) -> Self::Output {
        (res.map(|n| n as usize), self.buf)
    }
}

pub(crate) fn send_to<B: IoBuf>(
    fd: &SharedFd,
    buf: B,
    addr: Option<RawSockAddr>,
) -> Op<SendMsg<B>> {
    let msghdr = crate::sys::socket::empty_msghdr();
    let parts = Box::new(MsgParts {
        msghdr,
        iovec: crate::sys::socket::empty_iovec(),
        addr,
    });
    Op::new(SendMsg {
        fd: fd.clone(),
        buf,
        parts,
    })
}
