//! Child processes with async pipes and an async `wait` (asyncio's subprocess API).
//!
//! ```
//! use ringloop::process::Command;
//! ringloop::run(async {
//!     let out = Command::new("sh").args(["-c", "echo hello; echo oops >&2; exit 3"]).output().await?;
//!     assert_eq!(out.stdout, b"hello\n");
//!     assert_eq!(out.stderr, b"oops\n");
//!     assert_eq!(out.status.code(), Some(3));
//!     std::io::Result::Ok(())
//! }).unwrap().unwrap();
//! ```
//!
//! The exit is observed through a pidfd (Linux 5.3+) waited on like any other
//! descriptor, so waiting never blocks the loop; on older kernels the loop polls with
//! a short timer instead.

use crate::buf::{BufResult, IoBuf, IoBufMut};
use crate::driver::shared_fd::{FdKind, SharedFd};
use crate::op;
use std::ffi::OsStr;
use std::io;
use std::os::fd::OwnedFd;
use std::path::Path;
use std::process::{ExitStatus, Output, Stdio};
use std::time::Duration;

/// Builds a child process (wraps `std::process::Command`).
#[derive(Debug)]
pub struct Command {
    inner: std::process::Command,
}

impl Command {
    /// A command running `program`.
    pub fn new(program: impl AsRef<OsStr>) -> Self {
        Self {
            inner: std::process::Command::new(program),
        }
    }
    /// Adds an argument.
    pub fn arg(&mut self, arg: impl AsRef<OsStr>) -> &mut Self {
        self.inner.arg(arg);
        self
    }
    /// Adds arguments.
    pub fn args<I: IntoIterator<Item = S>, S: AsRef<OsStr>>(&mut self, args: I) -> &mut Self {
        self.inner.args(args);
        self
    }
    /// Sets an environment variable.
    pub fn env(&mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> &mut Self {
        self.inner.env(key, value);
        self
    }
    /// Sets the working directory.
    pub fn current_dir(&mut self, dir: impl AsRef<Path>) -> &mut Self {
        self.inner.current_dir(dir);
        self
    }
    /// Configures stdin (`Stdio::piped()` gives [`Child::stdin`]).
    pub fn stdin(&mut self, cfg: Stdio) -> &mut Self {
        self.inner.stdin(cfg);
        self
    }
    /// Configures stdout (`Stdio::piped()` gives [`Child::stdout`]).
    pub fn stdout(&mut self, cfg: Stdio) -> &mut Self {
        self.inner.stdout(cfg);
        self
    }
    /// Configures stderr (`Stdio::piped()` gives [`Child::stderr`]).
    pub fn stderr(&mut self, cfg: Stdio) -> &mut Self {
        self.inner.stderr(cfg);
        self
    }

    /// Starts the process.
    pub fn spawn(&mut self) -> io::Result<Child> {
        let program = self.inner.get_program().to_string_lossy().into_owned();
        let mut child = self
            .inner
            .spawn()
            .map_err(|e| io::Error::new(e.kind(), format!("cannot start {program:?}: {e}")))?;
        let stdin = child
            .stdin
            .take()
            .map(|p| pipe(p.into()))
            .transpose()?
            .map(|fd| ChildStdin { fd });
        let stdout = child
            .stdout
            .take()
            .map(|p| pipe(p.into()))
            .transpose()?
            .map(|fd| ChildPipe { fd });
        let stderr = child
            .stderr
            .take()
            .map(|p| pipe(p.into()))
            .transpose()?
            .map(|fd| ChildPipe { fd });
        let pidfd = crate::sys::process::pidfd_open(child.id())
            .ok()
            .map(|fd| SharedFd::new(fd, FdKind::Pollable));
        Ok(Child {
            inner: child,
            pidfd,
            stdin,
            stdout,
            stderr,
        })
    }

    /// Runs to completion with stdout and stderr captured (stdin closed).
    pub async fn output(&mut self) -> io::Result<Output> {
        self.inner
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        self.spawn()?.wait_with_output().await
    }

    /// Runs to completion, inheriting stdio; returns the exit status.
    pub async fn status(&mut self) -> io::Result<ExitStatus> {
        self.spawn()?.wait().await
    }
}

fn pipe(fd: OwnedFd) -> io::Result<SharedFd> {
    let file = std::fs::File::from(fd);
    // Non-blocking so the epoll shim gets EAGAIN; io_uring waits on it either way.
    set_nonblocking(&file)?;
    Ok(SharedFd::new(file.into(), FdKind::Pollable))
}

fn set_nonblocking(file: &std::fs::File) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    crate::sys::set_nonblocking(file.as_raw_fd())
}

/// A running child process.
#[derive(Debug)]
pub struct Child {
    inner: std::process::Child,
    pidfd: Option<SharedFd>,
    /// The child's stdin, if piped; drop it (or call `close`) to send EOF.
    pub stdin: Option<ChildStdin>,
    /// The child's stdout, if piped.
    pub stdout: Option<ChildPipe>,
    /// The child's stderr, if piped.
    pub stderr: Option<ChildPipe>,
}

impl Child {
    /// The process id.
    pub fn id(&self) -> u32 {
        self.inner.id()
    }

    /// Sends `SIGKILL` (no-op if it already exited and was reaped).
    pub fn kill(&mut self) -> io::Result<()> {
        match self.inner.kill() {
            Err(e) if e.kind() == io::ErrorKind::InvalidInput => Ok(()),
            other => other,
        }
    }

    /// The exit status if the child has exited, without waiting.
    pub fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        self.inner.try_wait()
    }

    /// Waits for the child to exit, without blocking the loop. Closes stdin first, as
    /// asyncio does, so a child reading it sees EOF.
    pub async fn wait(&mut self) -> io::Result<ExitStatus> {
        drop(self.stdin.take());
        loop {
            if let Some(status) = self.inner.try_wait()? {
                return Ok(status);
            }
            match &self.pidfd {
                Some(pidfd) => op::poll::readable(pidfd).await?,
                None => crate::time::sleep(Duration::from_millis(5)).await,
            }
        }
    }

    /// Reads stdout and stderr to the end while waiting for the exit.
    pub async fn wait_with_output(mut self) -> io::Result<Output> {
        drop(self.stdin.take());
        let (stdout, stderr) = (self.stdout.take(), self.stderr.take());
        let read = |pipe: Option<ChildPipe>| async move {
            match pipe {
                Some(p) => p.read_to_end().await,
                None => Ok(Vec::new()),
            }
        };
        let mut outputs = crate::future::join_all([read(stdout), read(stderr)])
            .await
            .into_iter();
        let (out, err) = (
            outputs.next().expect("two outputs"),
            outputs.next().expect("two outputs"),
        );
        let status = self.wait().await?;
        Ok(Output {
            status,
            stdout: out?,
            stderr: err?,
        })
    }
}

/// A readable pipe from the child (stdout or stderr).
#[derive(Debug)]
pub struct ChildPipe {
    fd: SharedFd,
}

impl ChildPipe {
    /// Reads into `buf`; `Ok(0)` at EOF.
    pub async fn read<B: IoBufMut>(&self, buf: B) -> BufResult<usize, B> {
        op::read::read(&self.fd, buf, None).await
    }

    /// Reads until EOF.
    pub async fn read_to_end(&self) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        loop {
            let (res, chunk) = self.read(Vec::with_capacity(16 * 1024)).await;
            if res? == 0 {
                return Ok(out);
            }
            out.extend_from_slice(&chunk);
        }
    }
}

/// The child's stdin.
#[derive(Debug)]
pub struct ChildStdin {
    fd: SharedFd,
}

impl ChildStdin {
    /// Writes some of `buf`.
    pub async fn write<B: IoBuf>(&self, buf: B) -> BufResult<usize, B> {
        op::write::write(&self.fd, buf, None).await
    }

    /// Writes all of `buf`.
    pub async fn write_all<B: IoBuf>(&self, buf: B) -> BufResult<(), B> {
        op::write_all_by(buf, |rest, _| self.write(rest)).await
    }

    /// Closes the pipe: the child reads EOF.
    pub async fn close(self) -> io::Result<()> {
        crate::net::stream::close(self.fd).await
    }
}
