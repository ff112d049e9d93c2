//! Unix-domain stream sockets.

use super::opts::{self, BindOptions};
use crate::driver::shared_fd::{FdKind, SharedFd};
use crate::op;
use crate::sys::socket::{self as sock, RawSockAddr};
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::path::{Path, PathBuf};

/// A Unix-domain socket listening for connections.
///
/// ```
/// use ringloop::net::{UnixListener, UnixStream};
/// let dir = std::env::temp_dir().join(format!("ringloop-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir).unwrap();
/// let path = dir.join("sock");
/// ringloop::run(async move {
///     let listener = UnixListener::bind(&path)?;
///     let client = ringloop::spawn(async move { UnixStream::connect(&path).await });
///     let (server_side, _) = listener.accept().await?;
///     let client = client.await.unwrap()?;
///     client.write_all(b"over unix".to_vec()).await.0?;
///     let (res, buf) = server_side.read(Vec::with_capacity(16)).await;
///     assert_eq!(&buf[..res?], b"over unix");
///     std::io::Result::Ok(())
/// }).unwrap().unwrap();
/// std::fs::remove_dir_all(&dir).unwrap();
/// ```
#[derive(Debug)]
pub struct UnixListener {
    fd: SharedFd,
}

impl UnixListener {
    /// Binds to `path` (which must not exist) and listens with a backlog of 1024.
    pub fn bind(path: impl AsRef<Path>) -> io::Result<UnixListener> {
        let addr = RawSockAddr::from_unix(path.as_ref())?;
        let fd = opts::bind_socket(&addr, libc::SOCK_STREAM, &BindOptions::default(), true)?;
        Ok(UnixListener {
            fd: SharedFd::new(fd, FdKind::Pollable),
        })
    }

    /// Waits for a connection; the address is the peer's path, if it bound one.
    pub async fn accept(&self) -> io::Result<(UnixStream, Option<PathBuf>)> {
        let (fd, addr) = op::accept::accept(&self.fd).await?;
        Ok((
            UnixStream {
                fd: SharedFd::new(fd, FdKind::Stream),
            },
            addr.to_unix_path(),
        ))
    }

    pub(crate) fn shared_fd(&self) -> SharedFd {
        self.fd.clone()
    }

    /// Accepts a connection as a bare descriptor (for transports).
    pub(crate) async fn accept_fd(&self) -> io::Result<std::os::fd::OwnedFd> {
        op::accept::accept(&self.fd).await.map(|(fd, _)| fd)
    }

    /// The bound path.
    pub fn local_path(&self) -> io::Result<Option<PathBuf>> {
        Ok(sock::local_addr(self.fd.raw())?.to_unix_path())
    }

    /// Closes the listener now (the socket file stays; remove it yourself).
    pub async fn close(self) -> io::Result<()> {
        super::stream::close(self.fd).await
    }
}

impl AsRawFd for UnixListener {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.raw()
    }
}

/// A Unix-domain stream connection.
#[derive(Debug)]
pub struct UnixStream {
    fd: SharedFd,
}

impl UnixStream {
    /// Connects to the socket at `path`.
    pub async fn connect(path: impl AsRef<Path>) -> io::Result<UnixStream> {
        let path = path.as_ref();
        let addr = RawSockAddr::from_unix(path)?;
        let socket = sock::socket(libc::AF_UNIX, libc::SOCK_STREAM, true)?;
        let fd = op::connect::connect(SharedFd::new(socket, FdKind::Stream), addr)
            .await
            .map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("connect to {} failed: {e}", path.display()),
                )
            })?;
        Ok(UnixStream { fd })
    }

    pub(crate) fn into_shared_fd(self) -> SharedFd {
        self.fd
    }

    /// A connected pair (like `socketpair(2)`).
    pub fn pair() -> io::Result<(UnixStream, UnixStream)> {
        let (a, b) = sock::socketpair(true)?;
        Ok((
            UnixStream {
                fd: SharedFd::new(a, FdKind::Stream),
            },
            UnixStream {
                fd: SharedFd::new(b, FdKind::Stream),
            },
        ))
    }

    /// Adopts a connected std stream (made non-blocking).
    pub fn from_std(stream: std::os::unix::net::UnixStream) -> io::Result<UnixStream> {
        stream.set_nonblocking(true)?;
        Ok(UnixStream {
            fd: SharedFd::new(stream.into(), FdKind::Stream),
        })
    }

    super::stream::stream_methods!();

    /// The peer's path, if it bound one.
    pub fn peer_path(&self) -> io::Result<Option<PathBuf>> {
        Ok(sock::peer_addr(self.fd.raw())?.to_unix_path())
    }

    opts::buffer_size_methods!();
}

impl AsRawFd for UnixStream {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.raw()
    }
}
