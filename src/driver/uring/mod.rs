//! The io_uring driver: one SQE push path, batched submission with the wait, CQE dispatch.
//!
//! Steady state is one `io_uring_enter` per loop turn: SQEs pushed during the turn are
//! submitted by the same call that waits for completions, and the wait carries the next
//! timer deadline (`IORING_ENTER_EXT_ARG`). SQ full: submit early and push again. CQ
//! overflow: the kernel keeps the extra CQEs (`FEAT_NODROP`) and flags the ring; the driver
//! enters again to flush them, so no completion is lost. `EINTR`/`EBUSY` are retried.

pub(crate) mod buf_ring;
mod buf_window;
pub(crate) mod fixed_files;
mod setup;

pub(crate) use setup::{validate_entries, DEFAULT_ENTRIES};

use super::lifecycle::{Action, Event, OpSlab, Orphan, RawResult};
use super::user_data::{OpKey, IGNORED_TOKEN, WAKER_TOKEN};
use super::{Files, OpSpec, Releases, Start};
use crate::runtime::shared::Shared;
use crate::runtime::stats::DriverCounters;
use fixed_files::FixedFiles;
use io_uring::{opcode, squeue, types, EnterFlags, IoUring};
use setup::TaskRunMode;
use std::io;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

/// Provided buffers for multishot receives: count and size.
const PROVIDED_BUFFERS: u16 = 256;
const PROVIDED_BUFFER_SIZE: usize = 16 * 1024;
const PROVIDED_GROUP: u16 = 1;

pub(crate) struct UringDriver {
    ring: IoUring,
    /// Present when the kernel has multishot recv with provided-buffer rings (6.0+).
    buf_ring: Option<buf_ring::BufRing>,
    mode: TaskRunMode,
    /// Present when the kernel takes a sparse fixed-file table (5.19+).
    fixed: Option<Rc<FixedFiles>>,
    pub(crate) ops: OpSlab,
    pub(crate) counters: DriverCounters,
    pub(crate) releases: Releases,
    shared: Arc<Shared>,
    /// Whether a POLL_ADD on the wake eventfd is outstanding.
    waker_armed: bool,
}

impl UringDriver {
    pub(crate) fn new(entries: u32, shared: Arc<Shared>) -> io::Result<Self> {
        let (ring, mode) = setup::build_ring(entries)?;
        let buf_ring = if crate::sys::kernel_version() >= (6, 0) {
            buf_ring::BufRing::new(
                &ring,
                PROVIDED_GROUP,
                PROVIDED_BUFFERS,
                PROVIDED_BUFFER_SIZE,
            )
            .ok()
        } else {
            None
        };
        let fixed = FixedFiles::new(&ring);
        Ok(Self {
            ring,
            buf_ring,
            mode,
            fixed,
            ops: OpSlab::new(),
            counters: DriverCounters::default(),
            releases: Vec::new(),
            shared,
            waker_armed: false,
        })
    }

    pub(crate) fn describe(&self) -> String {
        let multishot = if self.buf_ring.is_some() {
            ", multishot recv/accept"
        } else {
            ""
        };
        format!(
            "io_uring ({:?} task run, {} SQ entries{multishot})",
            self.mode,
            self.ring.params().sq_entries()
        )
    }

    /// The counters, with the fixed-file slots in use as the registration gauge.
    pub(crate) fn counters(&self) -> DriverCounters {
        let registrations = self.fixed.as_ref().map_or(0, |t| t.in_use() as u64);
        let buffers_lent = self
            .buf_ring
            .as_ref()
            .map_or(0, |r| u64::from(r.lent_out()));
        DriverCounters {
            registrations,
            buffers_lent,
            ..self.counters
        }
    }

    /// Provided buffers neither lent nor held by the kernel (`None` without a ring).
    #[cfg(test)]
    pub(crate) fn provided_free(&self) -> Option<usize> {
        self.buf_ring.as_ref().map(|r| r.free())
    }

    /// The provided-buffer group for multishot receives, if the kernel supports them.
    pub(crate) fn provided_group(&self) -> Option<u16> {
        self.buf_ring.as_ref().map(|r| r.group())
    }

    /// Submits a multishot op; its CQEs become items of the returned slot.
    pub(crate) fn start_stream(&mut self, entry: squeue::Entry, cx: &mut Context<'_>) -> OpKey {
        let key = self.ops.insert_stream(Some(cx.waker().clone()));
        self.push(&entry.user_data(key.to_user_data()));
        self.counters.ops_submitted += 1;
        key
    }

    /// The next item of a multishot op: `Ready(None)` once it has ended.
    pub(crate) fn poll_item(
        &mut self,
        key: OpKey,
        cx: &mut Context<'_>,
    ) -> Poll<Option<(RawResult, u32)>> {
        match self.ops.transition(key, Event::PollItem(cx)) {
            Action::Item(res, flags) => {
                self.counters.ops_completed += 1;
                Poll::Ready(Some((res, flags)))
            }
            Action::Ended | Action::Stale => Poll::Ready(None),
            _ => Poll::Pending,
        }
    }

    /// Lends an item's provided buffer with the `len` bytes the kernel put in it.
    pub(crate) fn lend_provided(&mut self, flags: u32, len: usize) -> Option<buf_ring::Lent> {
        let bid = io_uring::cqueue::buffer_select(flags)?;
        self.buf_ring.as_mut()?.lend(bid, len)
    }

    /// Returns an item's provided buffer (if it carries one) unread.
    pub(crate) fn recycle_provided(&mut self, flags: u32) {
        if let (Some(ring), Some(bid)) = (
            self.buf_ring.as_mut(),
            io_uring::cqueue::buffer_select(flags),
        ) {
            ring.recycle(bid);
        }
    }

    pub(crate) fn start<T: OpSpec>(&mut self, spec: &mut T, cx: &mut Context<'_>) -> Start {
        let key = self.ops.insert(Some(cx.waker().clone()));
        let entry = spec
            .uring_entry(&Files(self.fixed.as_ref()))
            .user_data(key.to_user_data());
        self.push(&entry);
        self.counters.ops_submitted += 1;
        Start::InFlight(key)
    }

    /// The one SQE push. On a full SQ it submits what is queued and tries again.
    fn push(&mut self, entry: &squeue::Entry) {
        loop {
            // SAFETY: every entry's pointers address memory owned by its op, which the op
            // future or (after a drop) the op slot keeps alive until the CQE arrives.
            let pushed = unsafe { self.ring.submission().push(entry) };
            if pushed.is_ok() {
                return;
            }
            self.counters.sq_full_submits += 1;
            if let Err(err) = self.enter(false, None) {
                // Nothing sensible to do but keep trying: the SQ only drains through enter.
                debug_assert!(
                    false,
                    "io_uring_enter failed while flushing a full SQ: {err}"
                );
            }
            self.reap();
        }
    }

    pub(crate) fn poll_op(&mut self, key: OpKey, cx: &mut Context<'_>) -> Poll<RawResult> {
        match self.ops.transition(key, Event::Poll(cx)) {
            Action::Ready(res) => {
                self.counters.ops_completed += 1;
                Poll::Ready(res)
            }
            Action::Stale => Poll::Ready(-libc::ECANCELED),
            _ => Poll::Pending,
        }
    }

    pub(crate) fn orphan(&mut self, key: OpKey, data: Box<dyn Orphan>) {
        self.counters.ops_cancelled += 1;
        match self.ops.transition(key, Event::Drop(data)) {
            Action::Cancel => {
                let cancel = opcode::AsyncCancel::new(key.to_user_data())
                    .build()
                    .user_data(IGNORED_TOKEN);
                self.push(&cancel);
            }
            Action::Release(data, res) => {
                self.counters.ops_completed += 1;
                self.releases.push((data, res));
            }
            _ => {}
        }
    }

    pub(crate) fn complete(&mut self, key: OpKey, res: RawResult) {
        match self.ops.transition(key, Event::Complete(res)) {
            Action::Wake(waker) => waker.wake(),
            Action::Release(data, res) => {
                self.counters.ops_completed += 1;
                self.releases.push((data, res));
            }
            _ => {}
        }
    }

    pub(crate) fn turn(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        if !self.waker_armed {
            let poll =
                opcode::PollAdd::new(types::Fd(self.shared.eventfd.raw()), libc::POLLIN as u32)
                    .build()
                    .user_data(WAKER_TOKEN);
            self.push(&poll);
            self.waker_armed = true;
        }
        if let Some(ring) = self.buf_ring.as_mut() {
            ring.reclaim();
        }
        let may_block = timeout != Some(Duration::ZERO);
        if !may_block && self.ops.live() == 0 && self.ring.submission().is_empty() {
            // A busy loop with no I/O of its own in flight (spawning and running tasks):
            // a non-blocking enter could only deliver the wake eventfd's poll, and remote
            // work is flagged separately. Skip the syscall.
            self.reap();
            return Ok(());
        }
        let block = may_block && self.shared.park();
        let result = self.enter(block, timeout);
        if block {
            self.shared.unpark();
        }
        self.reap();
        result
    }

    /// Submits the SQ and, if `wait`, waits for one completion or `timeout`.
    fn enter(&mut self, wait: bool, timeout: Option<Duration>) -> io::Result<()> {
        #[cfg(feature = "fault-injection")]
        if wait && super::faults::interrupt() {
            // As if a signal interrupted the wait: the loop simply turns again.
            self.counters.enters += 1;
            return Ok(());
        }
        loop {
            let to_submit = self.ring.submission().len() as u32;
            let min_complete = u32::from(wait);
            let flags = EnterFlags::GETEVENTS;
            self.counters.enters += 1;
            let result = match timeout.filter(|_| wait) {
                Some(t) => {
                    let ts = types::Timespec::new()
                        .sec(t.as_secs())
                        .nsec(t.subsec_nanos());
                    let args = types::SubmitArgs::new().timespec(&ts);
                    // SAFETY: `args` is a live io_uring_getevents_arg (SubmitArgs is
                    // repr(transparent)) and EXT_ARG tells the kernel that is what it gets.
                    unsafe {
                        self.ring.submitter().enter(
                            to_submit,
                            min_complete,
                            (flags | EnterFlags::EXT_ARG).bits(),
                            Some(&args),
                        )
                    }
                }
                // SAFETY: no argument is passed, and the flags say so.
                None => unsafe {
                    self.ring.submitter().enter::<libc::sigset_t>(
                        to_submit,
                        min_complete,
                        flags.bits(),
                        None,
                    )
                },
            };
            match result {
                Ok(_) => return Ok(()),
                Err(e) => match e.raw_os_error() {
                    // The deadline passed, or a signal interrupted the wait: a normal wake-up.
                    Some(libc::ETIME) | Some(libc::EINTR) => return Ok(()),
                    // The CQ is full (overflow backlog): make room, then submit again.
                    Some(libc::EBUSY) | Some(libc::EAGAIN) => {
                        self.reap();
                        if !wait {
                            continue;
                        }
                        return Ok(());
                    }
                    _ => return Err(e),
                },
            }
        }
    }

    /// Dispatches every available CQE, flushing an overflow backlog if the kernel has one.
    fn reap(&mut self) {
        loop {
            let mut completion = self.ring.completion();
            completion.sync();
            for cqe in &mut completion {
                self.counters.completions += 1;
                let (user_data, res) = (cqe.user_data(), cqe.result());
                let flags = cqe.flags();
                if let (Some(ring), Some(_)) = (
                    self.buf_ring.as_mut(),
                    io_uring::cqueue::buffer_select(flags),
                ) {
                    ring.taken();
                }
                match OpKey::from_user_data(user_data) {
                    Some(key) => {
                        let more = io_uring::cqueue::more(flags);
                        match self.ops.transition(key, Event::Cqe { res, flags, more }) {
                            Action::Wake(waker) => waker.wake(),
                            Action::Release(data, res) => {
                                self.counters.ops_completed += 1;
                                self.releases.push((data, res));
                            }
                            // A buffer filled for a stream nobody reads any more.
                            Action::Released | Action::Stale => {
                                if let (Some(ring), Some(bid)) = (
                                    self.buf_ring.as_mut(),
                                    io_uring::cqueue::buffer_select(flags),
                                ) {
                                    ring.recycle(bid);
                                }
                            }
                            _ => {}
                        }
                    }
                    None if user_data == WAKER_TOKEN => {
                        self.waker_armed = false;
                        self.shared.eventfd.drain();
                    }
                    None => {}
                }
            }
            drop(completion);
            if !self.ring.submission().cq_overflow() {
                return;
            }
            // The kernel holds completions that did not fit: ask it to flush them.
            self.counters.cq_overflows += 1;
            self.counters.enters += 1;
            // SAFETY: no argument is passed, and the flags say so.
            let _ = unsafe {
                self.ring.submitter().enter::<libc::sigset_t>(
                    0,
                    0,
                    EnterFlags::GETEVENTS.bits(),
                    None,
                )
            };
        }
    }
}

impl Drop for UringDriver {
    fn drop(&mut self) {
        if let Some(table) = &self.fixed {
            table.ring_closed();
        }
        if let Some(ring) = self.buf_ring.take() {
            ring.unregister(&self.ring);
            if self.ops.live() > 0 {
                // A receive the kernel never finished might still fill a buffer: leak the
                // buffers rather than free memory under the kernel.
                std::mem::forget(ring);
            }
        }
    }
}
