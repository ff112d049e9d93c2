//! UDP sockets over owned-buffer ops.

use super::opts::{self, BindOptions};
use crate::buf::{BufResult, IoBuf, IoBufMut};
use crate::driver::shared_fd::{FdKind, SharedFd};
use crate::op;
use crate::sys::socket::{self as sock, RawSockAddr};
use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, RawFd};

/// A UDP socket.
///
/// ```
/// use ringloop::net::UdpSocket;
/// ringloop::run(async {
///     let a = UdpSocket::bind("127.0.0.1:0")?;
///     let b = UdpSocket::bind("127.0.0.1:0")?;
///     let (res, _) = a.send_to(b"ping".to_vec(), b.local_addr()?).await;
///     res?;
///     let (res, buf) = b.recv_from(Vec::with_capacity(64)).await;
///     let (n, from) = res?;
///     assert_eq!((&buf[..n], from), (&b"ping"[..], a.local_addr()?));
///     std::io::Result::Ok(())
/// }).unwrap().unwrap();
/// ```
#[derive(Debug)]
pub struct UdpSocket {
    fd: SharedFd,
}

impl UdpSocket {
    /// Binds to a literal address (port 0 picks a free port).
    pub fn bind(addr: impl std::net::ToSocketAddrs) -> io::Result<UdpSocket> {
        Self::bind_with(
            addr,
            BindOptions {
                reuse_addr: false,
                ..BindOptions::default()
            },
        )
    }

    /// Binds with explicit options (`SO_REUSEADDR`, `SO_REUSEPORT`, IPv6-only).
    pub fn bind_with(
        addr: impl std::net::ToSocketAddrs,
        options: BindOptions,
    ) -> io::Result<UdpSocket> {
        let mut last = None;
        for addr in addr.to_socket_addrs()? {
            match opts::bind_socket(
                &RawSockAddr::from_inet(&addr),
                libc::SOCK_DGRAM,
                &options,
                false,
            ) {
                Ok(fd) => {
                    return Ok(UdpSocket {
                        fd: SharedFd::new(fd, FdKind::Pollable),
                    })
                }
                Err(e) => last = Some(e),
            }
        }
        Err(last
            .unwrap_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no address to bind")))
    }

    /// Sends one datagram to `addr`.
    pub async fn send_to<B: IoBuf>(&self, buf: B, addr: SocketAddr) -> BufResult<usize, B> {
        op::sendmsg::send_to(&self.fd, buf, Some(RawSockAddr::from_inet(&addr))).await
    }

    /// Receives one datagram (truncated to the buffer's capacity) and its source.
    pub async fn recv_from<B: IoBufMut>(&self, buf: B) -> BufResult<(usize, SocketAddr), B> {
        let (res, buf) = op::recvmsg::recv_from(&self.fd, buf).await;
        (res.and_then(|(n, addr)| Ok((n, addr.to_inet()?))), buf)
    }

    /// Fixes the peer: `send`/`recv` then talk to it only.
    pub async fn connect(&self, addr: SocketAddr) -> io::Result<()> {
        let connect = op::connect::connect(self.fd.clone(), RawSockAddr::from_inet(&addr));
        connect.await.map(drop)
    }

    /// Sends one datagram to the connected peer.
    pub async fn send<B: IoBuf>(&self, buf: B) -> BufResult<usize, B> {
        op::send::send(&self.fd, buf, 0).await
    }

    /// Receives one datagram from the connected peer.
    pub async fn recv<B: IoBufMut>(&self, buf: B) -> BufResult<usize, B> {
        op::recv::recv(&self.fd, buf, 0).await
    }

    /// The bound address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        sock::local_addr(self.fd.raw())?.to_inet()
    }

    /// The connected peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        sock::peer_addr(self.fd.raw())?.to_inet()
    }

    /// Sets `SO_BROADCAST`.
    pub fn set_broadcast(&self, on: bool) -> io::Result<()> {
        sock::set_opt_int(
            self.fd.raw(),
            libc::SOL_SOCKET,
            libc::SO_BROADCAST,
            on as i32,
        )
    }

    opts::buffer_size_methods!();

    /// Closes the socket now.
    pub async fn close(self) -> io::Result<()> {
        super::stream::close(self.fd).await
    }
}

impl AsRawFd for UdpSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.raw()
    }
}
