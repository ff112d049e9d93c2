//! Socket syscalls and socket-address conversion.

use super::{cvt, owned_fd};
use std::ffi::OsStr;
use std::io;
use std::mem;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// A socket address in the kernel's layout, owned so that an in-flight op can point at it.
#[derive(Clone)]
pub(crate) struct RawSockAddr {
    storage: libc::sockaddr_storage,
    len: libc::socklen_t,
}

impl std::fmt::Debug for RawSockAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawSockAddr")
            .field("family", &self.storage.ss_family)
            .field("len", &self.len)
            .finish()
    }
}

impl RawSockAddr {
    /// An empty buffer for the kernel to fill (accept, recvmsg, getsockname).
    pub(crate) fn empty() -> Self {
        // SAFETY: sockaddr_storage is plain old data; all-zero is a valid value.
        let storage = unsafe { mem::zeroed::<libc::sockaddr_storage>() };
        Self {
            storage,
            len: mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t,
        }
    }

    pub(crate) fn from_inet(addr: &SocketAddr) -> Self {
        let mut out = Self::empty();
        match addr {
            SocketAddr::V4(v4) => {
                let sin = libc::sockaddr_in {
                    sin_family: libc::AF_INET as libc::sa_family_t,
                    sin_port: v4.port().to_be(),
                    sin_addr: libc::in_addr {
                        s_addr: u32::from_ne_bytes(v4.ip().octets()),
                    },
                    sin_zero: [0; 8],
                };
                // SAFETY: sockaddr_storage is larger than and suitably aligned for sockaddr_in.
                unsafe {
                    std::ptr::write(
                        (&mut out.storage as *mut libc::sockaddr_storage).cast(),
                        sin,
                    )
                };
                out.len = mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
            }
            SocketAddr::V6(v6) => {
                let sin6 = libc::sockaddr_in6 {
                    sin6_family: libc::AF_INET6 as libc::sa_family_t,
                    sin6_port: v6.port().to_be(),
                    sin6_flowinfo: v6.flowinfo(),
                    sin6_addr: libc::in6_addr {
                        s6_addr: v6.ip().octets(),
                    },
                    sin6_scope_id: v6.scope_id(),
                };
                // SAFETY: sockaddr_storage is larger than and suitably aligned for sockaddr_in6.
                unsafe {
                    std::ptr::write(
                        (&mut out.storage as *mut libc::sockaddr_storage).cast(),
                        sin6,
                    )
                };
                out.len = mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t;
            }
        }
        out
    }

    /// A Unix-domain address; rejects NUL bytes and paths longer than `sun_path`.
    pub(crate) fn from_unix(path: &Path) -> io::Result<Self> {
        let bytes = path.as_os_str().as_bytes();
        if bytes.contains(&0) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("unix socket path {path:?} contains a NUL byte"),
            ));
        }
        let mut out = Self::empty();
        // SAFETY: sockaddr_storage is larger than and suitably aligned for sockaddr_un.
        let sun = unsafe {
            &mut *(&mut out.storage as *mut libc::sockaddr_storage).cast::<libc::sockaddr_un>()
        };
        if bytes.len() >= sun.sun_path.len() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "unix socket path {path:?} is {} bytes; the limit is {} (use a shorter path or a relative one)",
                    bytes.len(),
                    sun.sun_path.len() - 1
                ),
            ));
        }
        sun.sun_family = libc::AF_UNIX as libc::sa_family_t;
        for (dst, src) in sun.sun_path.iter_mut().zip(bytes) {
            *dst = *src as libc::c_char;
        }
        let base = mem::size_of::<libc::sa_family_t>();
        out.len = (base + bytes.len() + 1) as libc::socklen_t;
        Ok(out)
    }

    pub(crate) fn family(&self) -> i32 {
        self.storage.ss_family as i32
    }

    pub(crate) fn as_ptr(&self) -> *const libc::sockaddr {
        (&self.storage as *const libc::sockaddr_storage).cast()
    }

    pub(crate) fn as_mut_ptr(&mut self) -> *mut libc::sockaddr {
        (&mut self.storage as *mut libc::sockaddr_storage).cast()
    }

    pub(crate) fn len(&self) -> libc::socklen_t {
        self.len
    }

    pub(crate) fn len_mut(&mut self) -> *mut libc::socklen_t {
        &mut self.len
    }

    pub(crate) fn set_len(&mut self, len: libc::socklen_t) {
        self.len = len.min(mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t);
    }

    /// Reads back an IPv4/IPv6 address.
    pub(crate) fn to_inet(&self) -> io::Result<SocketAddr> {
        match self.family() {
            libc::AF_INET => {
                // SAFETY: the family says the storage holds a sockaddr_in.
                let sin = unsafe {
                    &*(&self.storage as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>()
                };
                let ip = Ipv4Addr::from(sin.sin_addr.s_addr.to_ne_bytes());
                Ok(SocketAddr::V4(SocketAddrV4::new(
                    ip,
                    u16::from_be(sin.sin_port),
                )))
            }
            libc::AF_INET6 => {
                // SAFETY: the family says the storage holds a sockaddr_in6.
                let sin6 = unsafe {
                    &*(&self.storage as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>()
                };
                let ip = Ipv6Addr::from(sin6.sin6_addr.s6_addr);
                Ok(SocketAddr::V6(SocketAddrV6::new(
                    ip,
                    u16::from_be(sin6.sin6_port),
                    sin6.sin6_flowinfo,
                    sin6.sin6_scope_id,
                )))
            }
            other => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("expected an IPv4/IPv6 socket address, got address family {other}"),
            )),
        }
    }

    /// Reads back a Unix-domain address: `None` for unnamed and abstract sockets.
    pub(crate) fn to_unix_path(&self) -> Option<PathBuf> {
        if self.family() != libc::AF_UNIX {
            return None;
        }
        // SAFETY: the family says the storage holds a sockaddr_un.
        let sun = unsafe {
            &*(&self.storage as *const libc::sockaddr_storage).cast::<libc::sockaddr_un>()
        };
        let base = mem::size_of::<libc::sa_family_t>();
        let path_len = (self.len as usize)
            .saturating_sub(base)
            .min(sun.sun_path.len());
        let raw: Vec<u8> = sun.sun_path[..path_len].iter().map(|c| *c as u8).collect();
        if raw.first().is_none_or(|b| *b == 0) {
            return None;
        }
        let end = raw.iter().position(|b| *b == 0).unwrap_or(raw.len());
        Some(PathBuf::from(OsStr::from_bytes(&raw[..end])))
    }
}

/// Creates a socket with `SOCK_CLOEXEC` (and `SOCK_NONBLOCK` when asked).
pub(crate) fn socket(domain: i32, ty: i32, nonblocking: bool) -> io::Result<OwnedFd> {
    let mut flags = ty | libc::SOCK_CLOEXEC;
    if nonblocking {
        flags |= libc::SOCK_NONBLOCK;
    }
    // SAFETY: socket takes no pointers.
    let fd = cvt(unsafe { libc::socket(domain, flags, 0) })?;
    Ok(owned_fd(fd))
}

/// Creates a connected pair of Unix stream sockets.
pub(crate) fn socketpair(nonblocking: bool) -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as RawFd; 2];
    let mut flags = libc::SOCK_STREAM | libc::SOCK_CLOEXEC;
    if nonblocking {
        flags |= libc::SOCK_NONBLOCK;
    }
    // SAFETY: `fds` is a live array of two ints for the kernel to fill.
    cvt(unsafe { libc::socketpair(libc::AF_UNIX, flags, 0, fds.as_mut_ptr()) })?;
    Ok((owned_fd(fds[0]), owned_fd(fds[1])))
}

pub(crate) fn bind(fd: RawFd, addr: &RawSockAddr) -> io::Result<()> {
    // SAFETY: `addr` points at `addr.len()` initialised bytes.
    cvt(unsafe { libc::bind(fd, addr.as_ptr(), addr.len()) })?;
    Ok(())
}

pub(crate) fn listen(fd: RawFd, backlog: i32) -> io::Result<()> {
    // SAFETY: listen takes no pointers.
    cvt(unsafe { libc::listen(fd, backlog) })?;
    Ok(())
}

pub(crate) fn local_addr(fd: RawFd) -> io::Result<RawSockAddr> {
    let mut addr = RawSockAddr::empty();
    // SAFETY: the pointers address live storage and its length.
    cvt(unsafe { libc::getsockname(fd, addr.as_mut_ptr(), addr.len_mut()) })?;
    Ok(addr)
}

pub(crate) fn peer_addr(fd: RawFd) -> io::Result<RawSockAddr> {
    let mut addr = RawSockAddr::empty();
    // SAFETY: the pointers address live storage and its length.
    cvt(unsafe { libc::getpeername(fd, addr.as_mut_ptr(), addr.len_mut()) })?;
    Ok(addr)
}

/// Sets an integer-valued socket option.
pub(crate) fn set_opt_int(fd: RawFd, level: i32, name: i32, value: i32) -> io::Result<()> {
    // SAFETY: passes a pointer to a live int and its size.
    cvt(unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&value as *const i32).cast(),
            mem::size_of::<i32>() as libc::socklen_t,
        )
    })?;
    Ok(())
}

/// Reads an integer-valued socket option.
pub(crate) fn get_opt_int(fd: RawFd, level: i32, name: i32) -> io::Result<i32> {
    let mut value: i32 = 0;
    let mut len = mem::size_of::<i32>() as libc::socklen_t;
    // SAFETY: passes a pointer to a live int and its size.
    cvt(unsafe { libc::getsockopt(fd, level, name, (&mut value as *mut i32).cast(), &mut len) })?;
    Ok(value)
}

/// Sets `SO_LINGER` (`None` turns it off).
pub(crate) fn set_linger(fd: RawFd, linger: Option<std::time::Duration>) -> io::Result<()> {
    let value = libc::linger {
        l_onoff: linger.is_some() as i32,
        l_linger: linger.map_or(0, |d| d.as_secs().min(i32::MAX as u64) as i32),
    };
    // SAFETY: passes a pointer to a live linger struct and its size.
    cvt(unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&value as *const libc::linger).cast(),
            mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    })?;
    Ok(())
}

/// Reads `SO_LINGER`.
pub(crate) fn linger(fd: RawFd) -> io::Result<Option<std::time::Duration>> {
    let mut value = libc::linger {
        l_onoff: 0,
        l_linger: 0,
    };
    let mut len = mem::size_of::<libc::linger>() as libc::socklen_t;
    // SAFETY: passes a pointer to a live linger struct and its size.
    cvt(unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&mut value as *mut libc::linger).cast(),
            &mut len,
        )
    })?;
    Ok((value.l_onoff != 0).then(|| std::time::Duration::from_secs(value.l_linger as u64)))
}

/// Takes the pending socket error (`SO_ERROR`), as an `io::Error` if there is one.
pub(crate) fn take_error(fd: RawFd) -> io::Result<Option<io::Error>> {
    let raw = get_opt_int(fd, libc::SOL_SOCKET, libc::SO_ERROR)?;
    Ok((raw != 0).then(|| io::Error::from_raw_os_error(raw)))
}

/// `shutdown(2)` now, for the rare synchronous case (closing a listener at once).
pub(crate) fn shutdown_now(fd: RawFd, how: i32) -> io::Result<()> {
    // SAFETY: shutdown takes no pointers.
    cvt(unsafe { libc::shutdown(fd, how) })?;
    Ok(())
}

/// A `msghdr` with no name, data or control parts yet (an op fills them in place).
pub(crate) fn empty_msghdr() -> libc::msghdr {
    libc::msghdr {
        msg_name: std::ptr::null_mut(),
        msg_namelen: 0,
        msg_iov: std::ptr::null_mut(),
        msg_iovlen: 0,
        msg_control: std::ptr::null_mut(),
        msg_controllen: 0,
        msg_flags: 0,
    }
}

/// An empty `iovec`.
pub(crate) fn empty_iovec() -> libc::iovec {
    libc::iovec {
        iov_base: std::ptr::null_mut(),
        iov_len: 0,
    }
}
