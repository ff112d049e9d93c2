//! Process-related syscalls: pidfds.

use super::{cvt, owned_fd};
use std::io;
use std::os::fd::OwnedFd;

/// A pidfd for `pid` (Linux 5.3+): readable once the process exits.
pub(crate) fn pidfd_open(pid: u32) -> io::Result<OwnedFd> {
    // SAFETY: pidfd_open takes integers only.
    let fd =
        cvt(unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, libc::O_NONBLOCK) })?;
    Ok(owned_fd(fd as i32))
}
