//! The one wrapper around raw syscalls.
//!
//! Every `libc` call the crate makes goes through this module, so the rest of the
//! crate stays safe Rust. Each function turns the C convention (-1 and `errno`)
//! into `io::Result`.

pub(crate) mod process;
pub(crate) mod signal;
pub(crate) mod socket;
pub(crate) mod syscall;
pub(crate) mod tsc;

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

/// Converts a C return value into `io::Result`, reading `errno` on -1.
pub(crate) fn cvt<T: Copy + PartialOrd + Default + From<i8>>(ret: T) -> io::Result<T> {
    if ret == T::from(-1) {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// Takes ownership of a freshly returned descriptor.
pub(crate) fn owned_fd(fd: RawFd) -> OwnedFd {
    debug_assert!(fd >= 0);
    // SAFETY: callers pass a descriptor the kernel has just handed to us and that nothing else owns.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

/// Closes a raw descriptor that a late completion created and nobody will ever own.
pub(crate) fn close_raw(fd: RawFd) {
    drop(owned_fd(fd));
}

/// An `eventfd` used to wake a parked loop from any thread.
#[derive(Debug)]
pub(crate) struct EventFd {
    fd: OwnedFd,
}

impl EventFd {
    pub(crate) fn new() -> io::Result<Self> {
        // SAFETY: eventfd takes no pointers.
        let fd = cvt(unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) })?;
        Ok(Self { fd: owned_fd(fd) })
    }

    /// Adds one to the counter; the loop sees the descriptor become readable.
    pub(crate) fn notify(&self) {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a live u64. EAGAIN (counter saturated) already means "notified".
        unsafe {
            libc::write(self.fd.as_raw_fd(), (&one as *const u64).cast(), 8);
        }
    }

    /// Resets the counter so the next `notify` produces a new readiness edge.
    pub(crate) fn drain(&self) {
        let mut value: u64 = 0;
        // SAFETY: reads 8 bytes into a live u64; EAGAIN means it was already drained.
        unsafe {
            libc::read(self.fd.as_raw_fd(), (&mut value as *mut u64).cast(), 8);
        }
    }

    pub(crate) fn raw(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// Switches `O_NONBLOCK` on.
pub(crate) fn set_nonblocking(fd: RawFd) -> io::Result<()> {
    // SAFETY: fcntl with F_GETFL/F_SETFL takes no pointers.
    let flags = cvt(unsafe { libc::fcntl(fd, libc::F_GETFL) })?;
    if flags & libc::O_NONBLOCK == 0 {
        // SAFETY: as above.
        cvt(unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) })?;
    }
    Ok(())
}

/// Creates an epoll instance.
pub(crate) fn epoll_create() -> io::Result<OwnedFd> {
    // SAFETY: takes no pointers.
    let fd = cvt(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) })?;
    Ok(owned_fd(fd))
}

/// `epoll_ctl` for ADD/MOD/DEL with the given event mask and token.
pub(crate) fn epoll_ctl(
    epfd: RawFd,
    op: i32,
    fd: RawFd,
    events: u32,
    token: u64,
) -> io::Result<()> {
    let mut event = libc::epoll_event { events, u64: token };
    // SAFETY: `event` outlives the call; the kernel copies it.
    cvt(unsafe { libc::epoll_ctl(epfd, op, fd, &mut event) })?;
    Ok(())
}

/// Waits for readiness events, at most `timeout` (None waits forever).
///
/// Uses `epoll_pwait2` (nanosecond timeout) when the kernel has it; otherwise
/// `epoll_wait` with the timeout rounded *up* to whole milliseconds, so a short
/// timer never turns into a busy spin of zero-millisecond waits.
pub(crate) fn epoll_wait(
    epfd: RawFd,
    events: &mut [libc::epoll_event],
    timeout: Option<Duration>,
    use_pwait2: &mut bool,
) -> io::Result<usize> {
    let max = events.len().min(i32::MAX as usize) as i32;
    if *use_pwait2 {
        let ts = timeout.map(|t| libc::timespec {
            tv_sec: t.as_secs().min(i64::MAX as u64) as libc::time_t,
            tv_nsec: t.subsec_nanos() as libc::c_long,
        });
        let ts_ptr = ts
            .as_ref()
            .map_or(std::ptr::null(), |t| t as *const libc::timespec);
        // SAFETY: `events` is a live writable slice of `max` entries; `ts_ptr` is null or points
        // to a live timespec; a null sigmask means "do not change the mask".
        let ret = unsafe {
            libc::syscall(
                libc::SYS_epoll_pwait2,
                epfd,
                events.as_mut_ptr(),
                max,
                ts_ptr,
                std::ptr::null::<libc::sigset_t>(),
                0usize,
            )
        };
        match cvt(ret) {
            Ok(n) => return Ok(n as usize),
            Err(e) if e.raw_os_error() == Some(libc::ENOSYS) => *use_pwait2 = false,
            Err(e) => return Err(e),
        }
    }
    let ms = match timeout {
        None => -1,
        Some(t) => {
            let rounded_up = t.as_nanos().div_ceil(1_000_000);
            rounded_up.min(i32::MAX as u128) as i32
        }
    };
    // SAFETY: `events` is a live writable slice of `max` entries.
    let n = cvt(unsafe { libc::epoll_wait(epfd, events.as_mut_ptr(), max, ms) })?;
    Ok(n as usize)
}

/// An all-zero `statx` buffer for the kernel to fill.
pub(crate) fn zeroed_statx() -> libc::statx {
    // SAFETY: statx is plain old data; all-zero is a valid value.
    unsafe { std::mem::zeroed() }
}

/// A cheap monotonic clock in whole milliseconds (`CLOCK_MONOTONIC_COARSE`: a few ns per
/// read, a few ms resolution) for per-poll bookkeeping where `Instant::now()` would
/// dominate the cost.
pub(crate) fn coarse_now_ms() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes the live timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC_COARSE, &mut ts) };
    ts.tv_sec as u64 * 1000 + ts.tv_nsec as u64 / 1_000_000
}

/// The running kernel's (major, minor) version.
pub(crate) fn kernel_version() -> (u32, u32) {
    // SAFETY: utsname is plain data; uname fills the live struct.
    let mut uts: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    if unsafe { libc::uname(&mut uts) } != 0 {
        return (0, 0);
    }
    let release: String = uts
        .release
        .iter()
        .take_while(|c| **c != 0)
        .map(|c| *c as u8 as char)
        .collect();
    let mut parts = release
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|p| p.parse().ok());
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0))
}

/// The soft `RLIMIT_NOFILE` (open descriptors allowed), saturated to `u32`.
pub(crate) fn open_files_limit() -> u32 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes the live struct.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return 0;
    }
    u32::try_from(limit.rlim_cur).unwrap_or(u32::MAX)
}

/// `struct io_uring_files_update` of the kernel's uapi.
#[repr(C)]
struct FilesUpdate {
    offset: u32,
    resv: u32,
    fds: u64,
}

const IORING_REGISTER_FILES_UPDATE: libc::c_uint = 6;

/// Puts `fd` (or -1 to empty it) in slot `slot` of `ring_fd`'s fixed-file table.
pub(crate) fn io_uring_files_update(ring_fd: RawFd, slot: u32, fd: RawFd) -> io::Result<()> {
    let fds = [fd];
    let update = FilesUpdate {
        offset: slot,
        resv: 0,
        fds: fds.as_ptr() as u64,
    };
    // SAFETY: the update and the one-element array it points to live across the call.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_io_uring_register,
            ring_fd,
            IORING_REGISTER_FILES_UPDATE,
            &update as *const FilesUpdate,
            1u32,
        )
    };
    match cvt(ret)? {
        1 => Ok(()),
        n => Err(io::Error::other(format!(
            "fixed-file update of slot {slot} changed {n} entries, not 1"
        ))),
    }
}
