//! The I/O methods TCP and Unix streams share, generated for each type by one macro.

use crate::buf::{BufResult, IoBuf, IoBufMut};
use crate::driver::shared_fd::SharedFd;
use crate::op;
use std::io;

/// Reads until `buf` is full (up to its capacity); EOF first is `UnexpectedEof`.
pub(crate) async fn read_exact<B: IoBufMut>(fd: &SharedFd, buf: B) -> BufResult<(), B> {
    op::read_exact_by(buf, |rest, _| op::recv::recv(fd, rest, 0)).await
}

/// Writes every initialised byte of `buf`, retrying short writes (`send`, so a closed peer
/// is `EPIPE`, never `SIGPIPE`).
pub(crate) async fn write_all<B: IoBuf>(fd: &SharedFd, buf: B) -> BufResult<(), B> {
    op::write_all_by(buf, |rest, _| op::send::send(fd, rest, 0)).await
}

/// Generates the owned-buffer stream methods on a type with a `fd: SharedFd` field.
macro_rules! stream_methods {
    () => {
        /// Reads into `buf` (from its start, up to its capacity). `Ok(0)` means the peer
        /// closed its side (EOF), or `buf` has no capacity.
        pub async fn read<B: $crate::buf::IoBufMut>(
            &self,
            buf: B,
        ) -> $crate::buf::BufResult<usize, B> {
            $crate::op::recv::recv(&self.fd, buf, 0).await
        }

        /// Reads until `buf` is full; EOF before that is `UnexpectedEof`.
        pub async fn read_exact<B: $crate::buf::IoBufMut>(
            &self,
            buf: B,
        ) -> $crate::buf::BufResult<(), B> {
            $crate::net::stream::read_exact(&self.fd, buf).await
        }

        /// Writes some of `buf`'s initialised bytes; returns how many.
        pub async fn write<B: $crate::buf::IoBuf>(
            &self,
            buf: B,
        ) -> $crate::buf::BufResult<usize, B> {
            $crate::op::send::send(&self.fd, buf, 0).await
        }

        /// Writes all of `buf`'s initialised bytes.
        pub async fn write_all<B: $crate::buf::IoBuf>(
            &self,
            buf: B,
        ) -> $crate::buf::BufResult<(), B> {
            $crate::net::stream::write_all(&self.fd, buf).await
        }

        /// Reads into several buffers in order (one `readv`).
        pub async fn readv<B: $crate::buf::IoBufMut>(
            &self,
            bufs: Vec<B>,
        ) -> $crate::buf::BufResult<usize, Vec<B>> {
            $crate::op::readv::readv(&self.fd, bufs, None).await
        }

        /// Writes several buffers in order (one `writev`); returns how many bytes went.
        pub async fn writev<B: $crate::buf::IoBuf>(
            &self,
            bufs: Vec<B>,
        ) -> $crate::buf::BufResult<usize, Vec<B>> {
            $crate::op::writev::writev(&self.fd, bufs, None).await
        }

        /// Shuts down the read, write, or both halves (`Write` sends EOF to the peer).
        pub async fn shutdown(&self, how: std::net::Shutdown) -> std::io::Result<()> {
            $crate::op::shutdown::shutdown(&self.fd, how).await
        }

        /// Closes the socket now, reporting the kernel's answer. Dropping the stream also
        /// closes it (once no op uses it any more).
        pub async fn close(self) -> std::io::Result<()> {
            $crate::net::stream::close(self.fd).await
        }
    };
}

pub(crate) use stream_methods;

/// Closes `fd` through the backend if nothing else holds it; otherwise the last holder's
/// drop closes it after its op completes.
pub(crate) async fn close(fd: SharedFd) -> io::Result<()> {
    match fd.into_owned() {
        Ok(owned) => op::close::close(owned).await,
        Err(_) => Ok(()),
    }
}
