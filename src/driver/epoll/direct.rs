//! Direct transfers on ready stream sockets, for the stream transport on epoll.
//!
//! An op future costs a context clone, a state machine and a driver start per transfer;
//! with readiness most transfers complete inside the syscall that starts them, so the
//! transport's read and write loops call these instead. They try the syscall when the
//! direction is not known drained and, on `EAGAIN`, park the task in the registration's
//! one direct slot for that direction (the transport is the socket's only reader and only
//! writer). Nothing is ever in flight, so dropping the caller cancels nothing; a task
//! still marked parked at most gets woken once more.

use super::{would_block, EpollDriver};
use crate::driver::shared_fd::{FdKind, SharedFd};
use crate::driver::Interest;
use crate::sys::syscall::Syscall;
use std::io;
use std::task::{Context, Poll, Waker};

impl EpollDriver {
    /// Receives into `buf`'s capacity (from its start; its length becomes the byte count).
    pub(crate) fn poll_recv(
        &mut self,
        fd: &SharedFd,
        buf: &mut Vec<u8>,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<usize>> {
        let syscall = Syscall::Recv {
            fd: fd.raw(),
            buf: buf.as_mut_ptr(),
            len: crate::op::op_len(buf.capacity()) as usize,
            flags: 0,
        };
        let polled = self.poll_transfer(fd, Interest::Read, &syscall, cx);
        if let Poll::Ready(Ok(n)) = polled {
            // SAFETY: the kernel wrote `n` bytes (at most the capacity it was given) at
            // the buffer's start.
            unsafe { buf.set_len((n as usize).min(buf.capacity())) };
        }
        polled.map_ok(|n| n as usize)
    }

    /// Sends a prefix of `data`; the count says how much.
    pub(crate) fn poll_send(
        &mut self,
        fd: &SharedFd,
        data: &[u8],
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<usize>> {
        let syscall = Syscall::Send {
            fd: fd.raw(),
            buf: data.as_ptr(),
            len: crate::op::op_len(data.len()) as usize,
            flags: 0,
        };
        self.poll_transfer(fd, Interest::Write, &syscall, cx)
            .map_ok(|n| n as usize)
    }

    /// Sends a prefix of `data` if the socket takes it now, without parking anyone:
    /// `None` when it would block (the socket is then registered and known not
    /// writable, so whoever sends next parks at once).
    pub(crate) fn try_send(&mut self, fd: &SharedFd, data: &[u8]) -> Option<io::Result<usize>> {
        let syscall = Syscall::Send {
            fd: fd.raw(),
            buf: data.as_ptr(),
            len: crate::op::op_len(data.len()) as usize,
            flags: 0,
        };
        match self.try_transfer(fd, Interest::Write, &syscall) {
            Transfer::Done(result) => Some(result.map(|n| n as usize)),
            Transfer::WouldBlock(_) => None,
        }
    }

    fn poll_transfer(
        &mut self,
        fd: &SharedFd,
        interest: Interest,
        syscall: &Syscall,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<u32>> {
        match self.try_transfer(fd, interest, syscall) {
            Transfer::Done(result) => Poll::Ready(result),
            Transfer::WouldBlock(registration) => {
                self.park_direct(registration, interest, cx);
                Poll::Pending
            }
        }
    }

    /// Performs the transfer unless the direction is known drained.
    fn try_transfer(&mut self, fd: &SharedFd, interest: Interest, syscall: &Syscall) -> Transfer {
        let known = self.registered(fd);
        if let Some(registration) = known {
            if !self.is_ready(registration, interest) {
                return Transfer::WouldBlock(registration);
            }
        }
        match Self::perform(syscall) {
            Err(e) if would_block(&e) => match self.register(fd) {
                Ok(registration) => {
                    self.set_ready(registration, interest, false);
                    Transfer::WouldBlock(registration)
                }
                Err(e) => Transfer::Done(self.finish_direct(Err(e))),
            },
            Ok(done) => {
                if let (Some(registration), FdKind::Stream) = (known, fd.kind()) {
                    if let Some(drained) = super::drained_by(syscall, done) {
                        self.set_ready(registration, drained, false);
                    }
                }
                Transfer::Done(self.finish_direct(Ok(done)))
            }
            Err(e) => Transfer::Done(self.finish_direct(Err(e))),
        }
    }

    /// Counts a finished transfer as an op (a parked attempt is not one).
    fn finish_direct(&mut self, result: io::Result<u32>) -> io::Result<u32> {
        self.counters.ops_submitted += 1;
        self.counters.ops_completed += 1;
        self.counters.completions += 1;
        result
    }

    /// Parks the task in the direction's direct slot until the next edge.
    fn park_direct(&mut self, registration: u32, interest: Interest, cx: &mut Context<'_>) {
        let Some(reg) = self.registrations.get_mut(registration as usize) else {
            return;
        };
        match interest {
            Interest::Read => reg.direct_reader.park(cx.waker()),
            Interest::Write => reg.direct_writer.park(cx.waker()),
        }
    }
}

/// How a direct transfer went.
enum Transfer {
    Done(io::Result<u32>),
    /// The direction is drained; the registration to park on.
    WouldBlock(u32),
}

/// Where a stream transport's task waits for one direction's next edge. The waker stays
/// between parks (no clone per message); `parked` says whether the next edge wakes it, so
/// edges that arrive while the transport is busy elsewhere wake nobody.
#[derive(Default)]
pub(super) struct DirectSlot {
    pub(super) waker: Option<Waker>,
    parked: bool,
}

impl DirectSlot {
    fn park(&mut self, waker: &Waker) {
        match &self.waker {
            Some(known) if known.will_wake(waker) => {}
            _ => self.waker = Some(waker.clone()),
        }
        self.parked = true;
    }

    /// An edge came: wakes the parked task, if any.
    pub(super) fn wake(&mut self) {
        if std::mem::take(&mut self.parked) {
            if let Some(waker) = &self.waker {
                waker.wake_by_ref();
            }
        }
    }
}
