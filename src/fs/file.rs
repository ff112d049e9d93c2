//! `File`: positional reads and writes with owned buffers.

use super::{cstring, Metadata, OpenOptions};
use crate::buf::{BufResult, IoBuf, IoBufMut};
use crate::driver::shared_fd::{FdKind, SharedFd};
use crate::op;
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::path::Path;

/// An open file. `read_at`/`write_at` name their offset; `read`/`write`/`write_all` use
/// and advance the file's cursor (as `read(2)`/`write(2)` do).
///
/// On io_uring, file I/O goes through the ring; on epoll it runs on the blocking pool
/// (regular files never report `EAGAIN`), so the loop never stalls on a disk.
///
/// ```
/// use ringloop::fs::File;
/// let dir = std::env::temp_dir().join(format!("ringloop-file-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir).unwrap();
/// let path = dir.join("hello.txt");
/// ringloop::run(async move {
///     let file = File::create(&path).await?;
///     file.write_all_at(b"hello, file".to_vec(), 0).await.0?;
///     file.sync_all().await?;
///     let contents = File::open(&path).await?.read_to_end().await?;
///     assert_eq!(contents, b"hello, file");
///     std::io::Result::Ok(())
/// }).unwrap().unwrap();
/// std::fs::remove_dir_all(&dir).unwrap();
/// ```
#[derive(Debug)]
pub struct File {
    fd: SharedFd,
}

impl File {
    /// Opens an existing file read-only.
    pub async fn open(path: impl AsRef<Path>) -> io::Result<File> {
        OpenOptions::new().read(true).open(path).await
    }

    /// Creates (or truncates) a file for writing.
    pub async fn create(path: impl AsRef<Path>) -> io::Result<File> {
        OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)
            .await
    }

    pub(crate) async fn open_with(path: &Path, flags: i32, mode: u32) -> io::Result<File> {
        let fd = op::open::open(cstring(path)?, flags, mode)
            .await
            .map_err(|e| {
                io::Error::new(e.kind(), format!("cannot open {}: {e}", path.display()))
            })?;
        Ok(File {
            fd: SharedFd::new(fd, FdKind::File),
        })
    }

    /// Reads into `buf` (from its start, up to its capacity) at `offset`; `Ok(0)` is EOF.
    pub async fn read_at<B: IoBufMut>(&self, buf: B, offset: u64) -> BufResult<usize, B> {
        op::read::read(&self.fd, buf, Some(offset)).await
    }

    /// Reads until `buf` is full; EOF first is `UnexpectedEof`.
    pub async fn read_exact_at<B: IoBufMut>(&self, buf: B, offset: u64) -> BufResult<(), B> {
        op::read_exact_by(buf, |rest, done| self.read_at(rest, offset + done)).await
    }

    /// Writes some of `buf` at `offset`; returns how many bytes.
    pub async fn write_at<B: IoBuf>(&self, buf: B, offset: u64) -> BufResult<usize, B> {
        op::write::write(&self.fd, buf, Some(offset)).await
    }

    /// Writes all of `buf` at `offset`, retrying short writes.
    pub async fn write_all_at<B: IoBuf>(&self, buf: B, offset: u64) -> BufResult<(), B> {
        op::write_all_by(buf, |rest, done| self.write_at(rest, offset + done)).await
    }

    /// Reads at the file's cursor and advances it; `Ok(0)` is EOF.
    pub async fn read<B: IoBufMut>(&self, buf: B) -> BufResult<usize, B> {
        op::read::read(&self.fd, buf, None).await
    }

    /// Writes at the file's cursor (the end, for append-mode files) and advances it.
    pub async fn write<B: IoBuf>(&self, buf: B) -> BufResult<usize, B> {
        op::write::write(&self.fd, buf, None).await
    }

    /// Writes all of `buf` at the file's cursor, retrying short writes.
    pub async fn write_all<B: IoBuf>(&self, buf: B) -> BufResult<(), B> {
        op::write_all_by(buf, |rest, _| self.write(rest)).await
    }

    /// Reads the whole file from offset 0.
    pub async fn read_to_end(&self) -> io::Result<Vec<u8>> {
        let size_hint = self.metadata().await.map(|m| m.len()).unwrap_or(0);
        let mut out = Vec::with_capacity(
            usize::try_from(size_hint)
                .unwrap_or(0)
                .saturating_add(1)
                .max(4096),
        );
        loop {
            if out.len() == out.capacity() {
                out.reserve(out.capacity().max(4096));
            }
            let start = out.len();
            let (res, slice) = self.read_at(out.slice(start..), start as u64).await;
            out = slice.into_inner();
            match res {
                Ok(0) => return Ok(out),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Flushes data and metadata to storage (`fsync`).
    pub async fn sync_all(&self) -> io::Result<()> {
        op::fsync::fsync(&self.fd, false).await
    }

    /// Flushes data to storage (`fdatasync`).
    pub async fn sync_data(&self) -> io::Result<()> {
        op::fsync::fsync(&self.fd, true).await
    }

    /// Size, type, permissions and times.
    pub async fn metadata(&self) -> io::Result<Metadata> {
        op::statx::statx_fd(&self.fd)
            .await
            .map(Metadata::from_statx)
    }

    /// Closes the file now, reporting the kernel's answer (dropping also closes it).
    pub async fn close(self) -> io::Result<()> {
        crate::net::stream::close(self.fd).await
    }
}

impl AsRawFd for File {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.raw()
    }
}
