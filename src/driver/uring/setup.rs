//! Ring setup and the feature probe, with errors that say why io_uring is unavailable.

use io_uring::{opcode, IoUring, Probe};
use std::io;

/// Default submission-queue size.
pub(crate) const DEFAULT_ENTRIES: u32 = 1024;
/// The kernel's limit on SQ entries.
pub(crate) const MAX_ENTRIES: u32 = 32768;

/// How the ring was set up: the cheapest task-work mode the kernel accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TaskRunMode {
    /// `SINGLE_ISSUER | DEFER_TASKRUN` (6.1+): completions run only when we enter.
    Deferred,
    /// `COOP_TASKRUN | TASKRUN_FLAG` (5.19+): no IPI to interrupt the loop thread.
    Cooperative,
    /// Neither: the kernel interrupts the loop to post completions.
    Plain,
}

const REQUIRED_OPCODES: &[(u8, &str)] = &[
    (opcode::Nop::CODE, "NOP"),
    (opcode::Read::CODE, "READ"),
    (opcode::Write::CODE, "WRITE"),
    (opcode::Readv::CODE, "READV"),
    (opcode::Writev::CODE, "WRITEV"),
    (opcode::Recv::CODE, "RECV"),
    (opcode::Send::CODE, "SEND"),
    (opcode::RecvMsg::CODE, "RECVMSG"),
    (opcode::SendMsg::CODE, "SENDMSG"),
    (opcode::Accept::CODE, "ACCEPT"),
    (opcode::Connect::CODE, "CONNECT"),
    (opcode::Shutdown::CODE, "SHUTDOWN"),
    (opcode::Close::CODE, "CLOSE"),
    (opcode::OpenAt::CODE, "OPENAT"),
    (opcode::Fsync::CODE, "FSYNC"),
    (opcode::Statx::CODE, "STATX"),
    (opcode::UnlinkAt::CODE, "UNLINKAT"),
    (opcode::RenameAt::CODE, "RENAMEAT"),
    (opcode::MkDirAt::CODE, "MKDIRAT"),
    (opcode::AsyncCancel::CODE, "ASYNC_CANCEL"),
    (opcode::PollAdd::CODE, "POLL_ADD"),
];

/// Builds and probes a ring; the error message names the cause and the fix.
pub(crate) fn build_ring(entries: u32) -> io::Result<(IoUring, TaskRunMode)> {
    validate_entries(entries)?;
    let cq_entries = entries.saturating_mul(2).max(2);
    let attempts = [
        TaskRunMode::Deferred,
        TaskRunMode::Cooperative,
        TaskRunMode::Plain,
    ];
    let mut last_err = None;
    for mode in attempts {
        let mut builder = IoUring::builder();
        builder.setup_cqsize(cq_entries);
        match mode {
            TaskRunMode::Deferred => {
                builder.setup_single_issuer().setup_defer_taskrun();
            }
            TaskRunMode::Cooperative => {
                builder.setup_coop_taskrun().setup_taskrun_flag();
            }
            TaskRunMode::Plain => {}
        }
        match builder.build(entries) {
            Ok(ring) => {
                probe(&ring)?;
                return Ok((ring, mode));
            }
            // EINVAL: this kernel does not know the flags; try the next, older mode.
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => last_err = Some(e),
            Err(e) => return Err(explain_setup_error(e)),
        }
    }
    Err(explain_setup_error(last_err.unwrap_or_else(|| {
        io::Error::from_raw_os_error(libc::EINVAL)
    })))
}

pub(crate) fn validate_entries(entries: u32) -> io::Result<()> {
    if entries == 0 || entries > MAX_ENTRIES {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("ring size {entries} is out of range: use 1..={MAX_ENTRIES} (default {DEFAULT_ENTRIES})"),
        ));
    }
    Ok(())
}

fn probe(ring: &IoUring) -> io::Result<()> {
    let params = ring.params();
    if !params.is_feature_ext_arg() {
        return Err(unavailable("the kernel lacks IORING_FEAT_EXT_ARG (Linux 5.11+), needed to wait with a timer deadline"));
    }
    if !params.is_feature_nodrop() {
        return Err(unavailable("the kernel lacks IORING_FEAT_NODROP (Linux 5.5+), needed so no completion is ever lost"));
    }
    let mut probe = Probe::new();
    ring.submitter().register_probe(&mut probe).map_err(|e| {
        unavailable(&format!(
            "the opcode probe failed ({e}); the kernel is older than 5.6"
        ))
    })?;
    for (code, name) in REQUIRED_OPCODES {
        if !probe.is_supported(*code) {
            return Err(unavailable(&format!(
                "the kernel does not support io_uring opcode IORING_OP_{name}"
            )));
        }
    }
    Ok(())
}

fn unavailable(why: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::Unsupported,
        format!("io_uring is unavailable: {why}; use Backend::Epoll or RINGLOOP_BACKEND=epoll, or a newer kernel"),
    )
}

fn io_uring_disabled_sysctl() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/io_uring_disabled")
        .ok()
        .map(|s| s.trim().to_string())
}

/// Turns a failed `io_uring_setup` into an error naming the cause and the fix.
pub(crate) fn explain_setup_error(err: io::Error) -> io::Error {
    let sysctl = io_uring_disabled_sysctl();
    let why = match err.raw_os_error() {
        Some(libc::EPERM) if sysctl.as_deref().is_some_and(|v| v != "0") => format!(
            "io_uring_setup failed with EPERM: kernel.io_uring_disabled = {}; set it to 0 (sysctl -w \
             kernel.io_uring_disabled=0) or add this user to kernel.io_uring_group",
            sysctl.unwrap_or_default()
        ),
        Some(libc::EPERM) => "io_uring_setup failed with EPERM: a seccomp filter blocks it (Docker's, containerd's \
             and Kubernetes' default profiles do); allow io_uring_setup/io_uring_enter/io_uring_register in the \
             profile"
            .to_string(),
        Some(libc::ENOSYS) => "io_uring_setup failed with ENOSYS: this kernel has no io_uring (needs Linux 5.11+ \
             with CONFIG_IO_URING)"
            .to_string(),
        Some(libc::ENOMEM) => "io_uring_setup failed with ENOMEM: the locked-memory limit is too low for the \
             ring; raise RLIMIT_MEMLOCK (ulimit -l) or use a smaller Builder::ring_entries"
            .to_string(),
        Some(libc::EINVAL) => "io_uring_setup failed with EINVAL: the kernel rejected the ring parameters \
             (it is older than 5.11)"
            .to_string(),
        _ => format!("io_uring_setup failed: {err}"),
    };
    io::Error::new(
        err.kind(),
        format!("io_uring is unavailable: {why}; or use Backend::Epoll / RINGLOOP_BACKEND=epoll"),
    )
}
