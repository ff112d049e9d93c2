//! Socket creation with the options users expect, and shared option methods.

use crate::sys::socket::{self as sock, RawSockAddr};
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};

/// Options for binding a listening or datagram socket.
#[derive(Debug, Clone)]
pub struct BindOptions {
    /// `SO_REUSEADDR` (default on): rebind while old connections are in TIME_WAIT.
    pub reuse_addr: bool,
    /// `SO_REUSEPORT` (default off): several sockets share one port (one loop per core).
    pub reuse_port: bool,
    /// Listen backlog for stream sockets (default 1024).
    pub backlog: i32,
    /// `IPV6_V6ONLY` for IPv6 addresses (default: the system's setting).
    pub only_v6: Option<bool>,
}

impl Default for BindOptions {
    fn default() -> Self {
        Self {
            reuse_addr: true,
            reuse_port: false,
            backlog: 1024,
            only_v6: None,
        }
    }
}

/// Creates, configures and binds a socket; `listen` for stream sockets.
pub(crate) fn bind_socket(
    addr: &RawSockAddr,
    ty: i32,
    options: &BindOptions,
    listen: bool,
) -> io::Result<OwnedFd> {
    if options.backlog < 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "backlog must not be negative",
        ));
    }
    let fd = sock::socket(addr.family(), ty, true)?;
    let raw = fd.as_raw_fd();
    if options.reuse_addr && addr.family() != libc::AF_UNIX {
        sock::set_opt_int(raw, libc::SOL_SOCKET, libc::SO_REUSEADDR, 1)?;
    }
    if options.reuse_port {
        sock::set_opt_int(raw, libc::SOL_SOCKET, libc::SO_REUSEPORT, 1)?;
    }
    if let (Some(only), libc::AF_INET6) = (options.only_v6, addr.family()) {
        sock::set_opt_int(raw, libc::IPPROTO_IPV6, libc::IPV6_V6ONLY, only as i32)?;
    }
    sock::bind(raw, addr)?;
    if listen {
        sock::listen(raw, options.backlog)?;
    }
    Ok(fd)
}

/// Generates `SO_RCVBUF`/`SO_SNDBUF` accessors on a type with a `fd: SharedFd` field.
macro_rules! buffer_size_methods {
    () => {
        /// Sets `SO_RCVBUF` (the kernel doubles it for bookkeeping).
        pub fn set_recv_buffer_size(&self, bytes: usize) -> std::io::Result<()> {
            let bytes = i32::try_from(bytes).unwrap_or(i32::MAX);
            $crate::sys::socket::set_opt_int(
                self.fd.raw(),
                libc::SOL_SOCKET,
                libc::SO_RCVBUF,
                bytes,
            )
        }

        /// Reads `SO_RCVBUF`.
        pub fn recv_buffer_size(&self) -> std::io::Result<usize> {
            $crate::sys::socket::get_opt_int(self.fd.raw(), libc::SOL_SOCKET, libc::SO_RCVBUF)
                .map(|v| v as usize)
        }

        /// Sets `SO_SNDBUF` (the kernel doubles it for bookkeeping).
        pub fn set_send_buffer_size(&self, bytes: usize) -> std::io::Result<()> {
            let bytes = i32::try_from(bytes).unwrap_or(i32::MAX);
            $crate::sys::socket::set_opt_int(
                self.fd.raw(),
                libc::SOL_SOCKET,
                libc::SO_SNDBUF,
                bytes,
            )
        }

        /// Reads `SO_SNDBUF`.
        pub fn send_buffer_size(&self) -> std::io::Result<usize> {
            $crate::sys::socket::get_opt_int(self.fd.raw(), libc::SOL_SOCKET, libc::SO_SNDBUF)
                .map(|v| v as usize)
        }
    };
}

pub(crate) use buffer_size_methods;
