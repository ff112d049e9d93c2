//! TCP: listeners and streams over owned-buffer ops.

use super::addr::{each_addr, ToSocketAddrs};
use super::opts::{self, BindOptions};
use crate::driver::shared_fd::{FdKind, SharedFd};
use crate::op;
use crate::sys::socket::{self as sock, RawSockAddr};
use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::time::Duration;

/// A TCP socket listening for connections.
///
/// ```
/// use ringloop::net::{TcpListener, TcpStream};
/// ringloop::run(async {
///     let listener = TcpListener::bind("127.0.0.1:0")?;
///     let addr = listener.local_addr()?;
///     let client = ringloop::spawn(async move { TcpStream::connect(addr).await });
///     let (server_side, peer) = listener.accept().await?;
///     let client = client.await.unwrap()?;
///     assert_eq!(peer, client.local_addr()?);
///     let (res, _) = client.write_all(b"hi".to_vec()).await;
///     res?;
///     let (res, buf) = server_side.read(Vec::with_capacity(8)).await;
///     assert_eq!(&buf[..res?], b"hi");
///     std::io::Result::Ok(())
/// }).unwrap().unwrap();
/// ```
#[derive(Debug)]
pub struct TcpListener {
    fd: SharedFd,
}

impl TcpListener {
    /// Binds with `SO_REUSEADDR` and a backlog of 1024. Only literal addresses are
    /// accepted here (binding is synchronous); use [`lookup_host`](super::lookup_host) for names.
    pub fn bind(addr: impl std::net::ToSocketAddrs) -> io::Result<TcpListener> {
        Self::bind_with(addr, BindOptions::default())
    }

    /// Binds with explicit options (`SO_REUSEPORT`, backlog, IPv6-only).
    pub fn bind_with(
        addr: impl std::net::ToSocketAddrs,
        options: BindOptions,
    ) -> io::Result<TcpListener> {
        let mut last = None;
        for addr in addr.to_socket_addrs()? {
            match opts::bind_socket(
                &RawSockAddr::from_inet(&addr),
                libc::SOCK_STREAM,
                &options,
                true,
            ) {
                Ok(fd) => {
                    return Ok(TcpListener {
                        fd: SharedFd::new(fd, FdKind::Pollable),
                    })
                }
                Err(e) => last = Some(e),
            }
        }
        Err(last
            .unwrap_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no address to bind")))
    }

    /// Waits for a connection; returns the stream and the peer's address.
    pub async fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        let (fd, addr) = op::accept::accept(&self.fd).await?;
        let stream = TcpStream::from_connected(fd)?;
        Ok((stream, addr.to_inet()?))
    }

    pub(crate) fn shared_fd(&self) -> SharedFd {
        self.fd.clone()
    }

    /// Accepts a connection as a bare descriptor (for transports).
    pub(crate) async fn accept_fd(&self) -> io::Result<OwnedFd> {
        op::accept::accept(&self.fd).await.map(|(fd, _)| fd)
    }

    /// The bound address (with the real port when bound to port 0).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        sock::local_addr(self.fd.raw())?.to_inet()
    }

    /// Adopts a std listener (made non-blocking).
    pub fn from_std(listener: std::net::TcpListener) -> io::Result<TcpListener> {
        listener.set_nonblocking(true)?;
        Ok(TcpListener {
            fd: SharedFd::new(listener.into(), FdKind::Pollable),
        })
    }

    /// Closes the listener now.
    pub async fn close(self) -> io::Result<()> {
        super::stream::close(self.fd).await
    }
}

impl AsRawFd for TcpListener {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.raw()
    }
}

/// A TCP connection. `TCP_NODELAY` is on by default.
#[derive(Debug)]
pub struct TcpStream {
    fd: SharedFd,
}

impl TcpStream {
    /// Connects to the first address that accepts (names are resolved off the loop).
    pub async fn connect<A: ToSocketAddrs>(addr: A) -> io::Result<TcpStream> {
        each_addr(&addr, Self::connect_addr).await
    }

    /// Connects to one address.
    pub async fn connect_addr(addr: SocketAddr) -> io::Result<TcpStream> {
        let domain = if addr.is_ipv4() {
            libc::AF_INET
        } else {
            libc::AF_INET6
        };
        let socket = sock::socket(domain, libc::SOCK_STREAM, true)?;
        let fd = op::connect::connect(
            SharedFd::new(socket, FdKind::Stream),
            RawSockAddr::from_inet(&addr),
        )
        .await
        .map_err(|e| io::Error::new(e.kind(), format!("connect to {addr} failed: {e}")))?;
        let stream = TcpStream { fd };
        stream.set_nodelay(true)?;
        Ok(stream)
    }

    pub(crate) fn into_shared_fd(self) -> SharedFd {
        self.fd
    }

    pub(crate) fn from_connected(fd: OwnedFd) -> io::Result<TcpStream> {
        let stream = TcpStream {
            fd: SharedFd::new(fd, FdKind::Stream),
        };
        stream.set_nodelay(true)?;
        Ok(stream)
    }

    /// Adopts a connected std stream (made non-blocking).
    pub fn from_std(stream: std::net::TcpStream) -> io::Result<TcpStream> {
        stream.set_nonblocking(true)?;
        Ok(TcpStream {
            fd: SharedFd::new(stream.into(), FdKind::Stream),
        })
    }

    super::stream::stream_methods!();

    /// The peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        sock::peer_addr(self.fd.raw())?.to_inet()
    }

    /// This end's address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        sock::local_addr(self.fd.raw())?.to_inet()
    }

    /// Sets `TCP_NODELAY` (on by default: writes go out without Nagle's delay).
    pub fn set_nodelay(&self, on: bool) -> io::Result<()> {
        sock::set_opt_int(
            self.fd.raw(),
            libc::IPPROTO_TCP,
            libc::TCP_NODELAY,
            on as i32,
        )
    }

    /// Reads `TCP_NODELAY`.
    pub fn nodelay(&self) -> io::Result<bool> {
        Ok(sock::get_opt_int(self.fd.raw(), libc::IPPROTO_TCP, libc::TCP_NODELAY)? != 0)
    }

    /// Sets `SO_LINGER`: `Some(Duration::ZERO)` makes close send a reset.
    pub fn set_linger(&self, linger: Option<Duration>) -> io::Result<()> {
        sock::set_linger(self.fd.raw(), linger)
    }

    /// Reads `SO_LINGER`.
    pub fn linger(&self) -> io::Result<Option<Duration>> {
        sock::linger(self.fd.raw())
    }

    opts::buffer_size_methods!();
}

impl AsRawFd for TcpStream {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.raw()
    }
}
