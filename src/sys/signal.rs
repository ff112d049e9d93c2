//! Signal delivery into loops: a `sigaction` handler that counts signals and pokes the
//! eventfds of every listening loop.
//!
//! A handler (not `signalfd`) because a signalfd only sees signals that every thread
//! blocks, and threads the program started before the loop (a test harness, a logger)
//! would still take the default action (for `SIGINT`: death). The handler does only
//! async-signal-safe work: atomic adds and `write(2)`.

use super::{cvt, owned_fd};
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};
use std::sync::Mutex;

const MAX_SIGNAL: usize = 65;
const MAX_LISTENERS: usize = 64;

static COUNTS: [AtomicU64; MAX_SIGNAL] = [const { AtomicU64::new(0) }; MAX_SIGNAL];
static INSTALLED: [AtomicBool; MAX_SIGNAL] = [const { AtomicBool::new(false) }; MAX_SIGNAL];
/// Eventfds the handler writes to; -1 is an empty slot.
static LISTENER_FDS: [AtomicI32; MAX_LISTENERS] = [const { AtomicI32::new(-1) }; MAX_LISTENERS];
extern "C" fn on_signal(signum: libc::c_int) {
    if let Some(count) = COUNTS.get(signum as usize) {
        count.fetch_add(1, Ordering::SeqCst);
    }
    let one: u64 = 1;
    for slot in &LISTENER_FDS {
        let fd = slot.load(Ordering::SeqCst);
        if fd >= 0 {
            // SAFETY: write(2) is async-signal-safe; fd is an eventfd that is never closed.
            unsafe { libc::write(fd, (&one as *const u64).cast(), 8) };
        }
    }
}

/// Checks that `signum` can be handled (not SIGKILL/SIGSTOP, not out of range, not a
/// synchronous fault like SIGSEGV).
pub(crate) fn validate(signum: i32) -> io::Result<()> {
    let forbidden = [
        libc::SIGKILL,
        libc::SIGSTOP,
        libc::SIGSEGV,
        libc::SIGBUS,
        libc::SIGILL,
        libc::SIGFPE,
    ];
    if signum <= 0 || signum as usize >= MAX_SIGNAL || forbidden.contains(&signum) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("signal {signum} cannot be handled by ringloop (SIGKILL, SIGSTOP and fault signals are refused)"),
        ));
    }
    Ok(())
}

/// Installs the counting handler for `signum` (once per process).
pub(crate) fn install(signum: i32) -> io::Result<()> {
    validate(signum)?;
    if INSTALLED[signum as usize].swap(true, Ordering::SeqCst) {
        return Ok(());
    }
    // SAFETY: sigaction is plain data; all-zero then filled in is a valid value.
    let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
    action.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as usize;
    action.sa_flags = libc::SA_RESTART;
    // SAFETY: the mask pointer addresses the live struct field.
    unsafe { libc::sigemptyset(&mut action.sa_mask) };
    // SAFETY: `action` is a valid sigaction; the old action is not needed.
    let installed = cvt(unsafe { libc::sigaction(signum, &action, std::ptr::null_mut()) });
    if let Err(e) = installed {
        INSTALLED[signum as usize].store(false, Ordering::SeqCst);
        return Err(e);
    }
    Ok(())
}

/// How many times `signum` has arrived since the process started.
pub(crate) fn count(signum: i32) -> u64 {
    COUNTS
        .get(signum as usize)
        .map_or(0, |c| c.load(Ordering::SeqCst))
}

struct PoolEntry {
    slot: usize,
    in_use: bool,
    fd: OwnedFd,
}

/// Every listener eventfd ever registered. They are never closed (the handler may write to
/// one at any moment); a dropped listener's entry is reused by the next one.
static POOL: Mutex<Vec<PoolEntry>> = Mutex::new(Vec::new());

/// Borrows a registered eventfd: its slot and a duplicate descriptor to wait on.
pub(crate) fn acquire_listener() -> io::Result<(usize, OwnedFd)> {
    let mut pool = POOL.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(entry) = pool.iter_mut().find(|e| !e.in_use) {
        entry.in_use = true;
        return Ok((entry.slot, entry.fd.try_clone()?));
    }
    // SAFETY: eventfd takes no pointers.
    let fd = owned_fd(cvt(unsafe {
        libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK)
    })?);
    let slot = LISTENER_FDS
        .iter()
        .position(|s| {
            s.compare_exchange(-1, fd.as_raw_fd(), Ordering::SeqCst, Ordering::SeqCst)
                .is_ok()
        })
        .ok_or_else(|| {
            io::Error::other(format!(
                "more than {MAX_LISTENERS} signal listeners at once"
            ))
        })?;
    let dup = fd.try_clone()?;
    pool.push(PoolEntry {
        slot,
        in_use: true,
        fd,
    });
    Ok((slot, dup))
}

/// Returns a listener's eventfd to the pool.
pub(crate) fn release_listener(slot: usize) {
    let mut pool = POOL.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(entry) = pool.iter_mut().find(|e| e.slot == slot) {
        entry.in_use = false;
    }
}

/// Resets an eventfd's counter (reads it; `EAGAIN` means it was already zero).
pub(crate) fn drain_eventfd(fd: std::os::fd::RawFd) {
    let mut value: u64 = 0;
    // SAFETY: reads 8 bytes into a live u64.
    unsafe { libc::read(fd, (&mut value as *mut u64).cast(), 8) };
}

/// Sends `signum` to this process.
pub(crate) fn raise_in_process(signum: i32) -> io::Result<()> {
    validate(signum)?;
    // SAFETY: kill and getpid take integers only.
    cvt(unsafe { libc::kill(libc::getpid(), signum) })?;
    Ok(())
}
