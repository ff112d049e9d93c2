//! One operation described as plain data, performed as an ordinary syscall.
//!
//! The epoll shim runs these inline on non-blocking descriptors and the blocking
//! pool runs them on its threads. The raw pointers point into memory the op keeps
//! alive (its buffer, sockaddr, path) until the completion has been delivered,
//! exactly as for an io_uring SQE.

use super::cvt;
use std::ffi::c_char;
use std::io;
use std::os::fd::RawFd;

/// An operation's syscall, with pointers into memory owned by the op.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Syscall {
    Nop,
    /// `offset == None` reads at the current position (pipes, sockets).
    Read {
        fd: RawFd,
        buf: *mut u8,
        len: usize,
        offset: Option<u64>,
    },
    Write {
        fd: RawFd,
        buf: *const u8,
        len: usize,
        offset: Option<u64>,
    },
    Readv {
        fd: RawFd,
        iov: *const libc::iovec,
        iovcnt: i32,
        offset: Option<u64>,
    },
    Writev {
        fd: RawFd,
        iov: *const libc::iovec,
        iovcnt: i32,
        offset: Option<u64>,
    },
    Recv {
        fd: RawFd,
        buf: *mut u8,
        len: usize,
        flags: i32,
    },
    Send {
        fd: RawFd,
        buf: *const u8,
        len: usize,
        flags: i32,
    },
    RecvMsg {
        fd: RawFd,
        msg: *mut libc::msghdr,
        flags: i32,
    },
    SendMsg {
        fd: RawFd,
        msg: *const libc::msghdr,
        flags: i32,
    },
    Accept {
        fd: RawFd,
        addr: *mut libc::sockaddr,
        len: *mut libc::socklen_t,
        flags: i32,
    },
    /// On retry after `EINPROGRESS`, the shim asks [`Syscall::finish_connect`] instead.
    Connect {
        fd: RawFd,
        addr: *const libc::sockaddr,
        len: libc::socklen_t,
    },
    Shutdown {
        fd: RawFd,
        how: i32,
    },
    Close {
        fd: RawFd,
    },
    OpenAt {
        dirfd: RawFd,
        path: *const c_char,
        flags: i32,
        mode: u32,
    },
    Fsync {
        fd: RawFd,
        datasync: bool,
    },
    Statx {
        dirfd: RawFd,
        path: *const c_char,
        flags: i32,
        mask: u32,
        buf: *mut libc::statx,
    },
    UnlinkAt {
        dirfd: RawFd,
        path: *const c_char,
        flags: i32,
    },
    RenameAt {
        olddirfd: RawFd,
        oldpath: *const c_char,
        newdirfd: RawFd,
        newpath: *const c_char,
    },
    MkdirAt {
        dirfd: RawFd,
        path: *const c_char,
        mode: u32,
    },
    /// Readable yet? `poll` with a zero timeout: `EAGAIN` while not.
    PollIn {
        fd: RawFd,
    },
}

// SAFETY: the pointers are only dereferenced by `perform`, whose contract requires the memory
// to stay alive and unaliased until the result is delivered back to the loop thread; handing the
// description to a pool thread is how regular-file I/O runs on epoll.
unsafe impl Send for Syscall {}

fn offset_arg(offset: Option<u64>) -> libc::off_t {
    offset.map_or(-1, |o| o.min(i64::MAX as u64) as libc::off_t)
}

impl Syscall {
    /// Runs the syscall once (no `EINTR` retry: the caller decides).
    ///
    /// # Safety
    /// Every pointer in `self` must be valid for the access the syscall makes, and stay so
    /// until this returns.
    pub(crate) unsafe fn perform(&self) -> io::Result<u32> {
        // SAFETY: the caller upholds the pointer contract for every arm below.
        let ret: i64 = unsafe {
            match *self {
                Syscall::Nop => 0,
                Syscall::Read {
                    fd,
                    buf,
                    len,
                    offset: None,
                } => libc::read(fd, buf.cast(), len) as i64,
                Syscall::Read {
                    fd,
                    buf,
                    len,
                    offset,
                } => libc::pread(fd, buf.cast(), len, offset_arg(offset)) as i64,
                Syscall::Write {
                    fd,
                    buf,
                    len,
                    offset: None,
                } => libc::write(fd, buf.cast(), len) as i64,
                Syscall::Write {
                    fd,
                    buf,
                    len,
                    offset,
                } => libc::pwrite(fd, buf.cast(), len, offset_arg(offset)) as i64,
                Syscall::Readv {
                    fd,
                    iov,
                    iovcnt,
                    offset: None,
                } => libc::readv(fd, iov, iovcnt) as i64,
                Syscall::Readv {
                    fd,
                    iov,
                    iovcnt,
                    offset,
                } => libc::preadv(fd, iov, iovcnt, offset_arg(offset)) as i64,
                Syscall::Writev {
                    fd,
                    iov,
                    iovcnt,
                    offset: None,
                } => libc::writev(fd, iov, iovcnt) as i64,
                Syscall::Writev {
                    fd,
                    iov,
                    iovcnt,
                    offset,
                } => libc::pwritev(fd, iov, iovcnt, offset_arg(offset)) as i64,
                Syscall::Recv {
                    fd,
                    buf,
                    len,
                    flags,
                } => libc::recv(fd, buf.cast(), len, flags) as i64,
                Syscall::Send {
                    fd,
                    buf,
                    len,
                    flags,
                } => libc::send(fd, buf.cast(), len, flags | libc::MSG_NOSIGNAL) as i64,
                Syscall::RecvMsg { fd, msg, flags } => libc::recvmsg(fd, msg, flags) as i64,
                Syscall::SendMsg { fd, msg, flags } => {
                    libc::sendmsg(fd, msg, flags | libc::MSG_NOSIGNAL) as i64
                }
                Syscall::Accept {
                    fd,
                    addr,
                    len,
                    flags,
                } => libc::accept4(fd, addr, len, flags) as i64,
                Syscall::Connect { fd, addr, len } => libc::connect(fd, addr, len) as i64,
                Syscall::Shutdown { fd, how } => libc::shutdown(fd, how) as i64,
                Syscall::Close { fd } => libc::close(fd) as i64,
                Syscall::OpenAt {
                    dirfd,
                    path,
                    flags,
                    mode,
                } => libc::openat(dirfd, path, flags | libc::O_CLOEXEC, mode) as i64,
                Syscall::Fsync {
                    fd,
                    datasync: false,
                } => libc::fsync(fd) as i64,
                Syscall::Fsync { fd, datasync: true } => libc::fdatasync(fd) as i64,
                Syscall::Statx {
                    dirfd,
                    path,
                    flags,
                    mask,
                    buf,
                } => libc::statx(dirfd, path, flags, mask, buf) as i64,
                Syscall::UnlinkAt { dirfd, path, flags } => {
                    libc::unlinkat(dirfd, path, flags) as i64
                }
                Syscall::RenameAt {
                    olddirfd,
                    oldpath,
                    newdirfd,
                    newpath,
                } => libc::renameat(olddirfd, oldpath, newdirfd, newpath) as i64,
                Syscall::MkdirAt { dirfd, path, mode } => libc::mkdirat(dirfd, path, mode) as i64,
                Syscall::PollIn { fd } => {
                    let mut pfd = libc::pollfd {
                        fd,
                        events: libc::POLLIN,
                        revents: 0,
                    };
                    match libc::poll(&mut pfd, 1, 0) {
                        0 => {
                            *libc::__errno_location() = libc::EAGAIN;
                            -1
                        }
                        n if n > 0 => pfd.revents as i64,
                        n => n as i64,
                    }
                }
            }
        };
        let ret = cvt(ret)?;
        Ok(ret.min(u32::MAX as i64) as u32)
    }

    /// After a non-blocking `connect` said `EINPROGRESS` and the socket became writable:
    /// `Ok` once connected, the connect error if it failed, `EAGAIN` if still pending.
    pub(crate) fn finish_connect(fd: RawFd) -> io::Result<u32> {
        if let Some(err) = super::socket::take_error(fd)? {
            return Err(err);
        }
        match super::socket::peer_addr(fd) {
            Ok(_) => Ok(0),
            Err(e) if e.raw_os_error() == Some(libc::ENOTCONN) => {
                Err(io::Error::from_raw_os_error(libc::EAGAIN))
            }
            Err(e) => Err(e),
        }
    }
}
