//! The write loop behind every stream transport: sends what the protocol wrote, in
//! batches (every write of a turn goes out in one send), then `shutdown(SHUT_WR)` after
//! `write_eof`, and ends once a closing transport has nothing left to send. On epoll,
//! what a read callback writes is usually sent by the read loop itself, right after the
//! callback (`flush_delivered`).

use super::outgoing::Batch;
use super::transfer::{self, Path};
use super::{Transport, KEEP_BUFFER_LIMIT};
use crate::buf::IoBuf;
use crate::driver::shared_fd::SharedFd;
use crate::future::Either;
use crate::op;
use crate::runtime::context::Context;
use std::future::{poll_fn, Future};
use std::io;
use std::task::Poll;

/// The batch handed to the kernel, and how much of it it has taken so far.
struct Sending {
    batch: Batch,
    sent: usize,
}

impl Sending {
    fn unsent(&self) -> &[u8] {
        &self.batch.bytes()[self.sent..]
    }

    fn done(&self) -> bool {
        self.unsent().is_empty()
    }
}

/// What the write side does next.
enum Next {
    /// `batch` has bytes to send.
    Send,
    /// Nothing to send: wait for a write, `write_eof`, `close` or `abort`.
    Idle,
    /// `write_eof` was called and everything before it is sent.
    Shutdown,
    /// Closing (or aborted, or failed) with nothing left to send.
    Stop,
}

pub(super) async fn write_loop(t: &Transport, fd: &SharedFd) {
    let path = Path::for_fd(fd);
    let mut sending = Sending {
        batch: Batch::Copied(Vec::new()),
        sent: 0,
    };
    loop {
        let next = match &path {
            Path::Direct(ctx) => send_burst(t, fd, ctx, &mut sending).await,
            Path::Ops => send_once(t, fd, &mut sending).await,
        };
        match next {
            Next::Send | Next::Idle => {}
            Next::Shutdown => {
                if let Err(e) = op::shutdown::shutdown(fd, std::net::Shutdown::Write).await {
                    t.fail(e);
                    return;
                }
            }
            Next::Stop => return,
        }
    }
}

/// Takes the protocol's pending bytes as the next batch once the current one is sent.
fn next_batch(t: &Transport, sending: &mut Sending) -> Next {
    let mut s = t.inner.state.borrow_mut();
    if s.aborted {
        return Next::Stop;
    }
    if !sending.done() {
        return Next::Send;
    }
    s.batch_unsent = false;
    if s.pending.is_empty() && !s.closing && !s.eof_requested {
        if let Batch::Copied(bytes) = &sending.batch {
            if bytes.capacity() <= KEEP_BUFFER_LIMIT {
                // Idle with a copy buffer to reuse: the usual state between messages.
                return Next::Idle;
            }
        }
    }
    // A sent batch gives its buffer back now: a kept provided buffer to the ring (not
    // held while idle), a copy buffer to the queue for the next writes.
    let spare = match std::mem::replace(&mut sending.batch, Batch::Copied(Vec::new())) {
        Batch::Copied(mut bytes) if bytes.capacity() <= KEEP_BUFFER_LIMIT => {
            bytes.clear();
            bytes
        }
        Batch::Copied(_) | Batch::Kept(_) => Vec::new(),
    };
    sending.sent = 0;
    if s.pending.is_empty() {
        sending.batch = Batch::Copied(spare);
        if s.eof_requested && !s.eof_sent {
            s.eof_sent = true;
            return Next::Shutdown;
        }
        return if s.closing { Next::Stop } else { Next::Idle };
    }
    sending.batch = s.pending.take(spare);
    s.batch_unsent = true;
    Next::Send
}

/// Copied bytes up to this size are sent by the read loop after a callback.
const FLUSH_COPIED_LIMIT: usize = 64 * 1024;

/// Epoll: sends what a read callback wrote as soon as it returns, from the read loop,
/// instead of in the write loop's next poll; an echo's claimed reply goes out straight
/// from `delivered`, the bytes just read, without being copied. Writes made in one
/// callback still go out in one send. What the socket does not take now (or what must
/// wait behind an unsent batch) is queued for the write loop, which the connection task
/// polls right after the read loop.
pub(super) fn flush_delivered(t: &Transport, fd: &SharedFd, ctx: &Context, delivered: &[u8]) {
    let mut s = t.inner.state.borrow_mut();
    let claim = s.pending.take_claim();
    if s.aborted || s.batch_unsent || !s.pending.only_copied() {
        if let Some(range) = claim {
            s.pending.push(&delivered[range], None);
        }
        return;
    }
    let data = match &claim {
        Some(range) => &delivered[range.clone()],
        None => s.pending.copied(),
    };
    // A large copied reply goes to the write loop, which sends it from an offset: sent
    // from here, a short send would leave its rest to be moved to the queue's front.
    if data.is_empty() || (claim.is_none() && data.len() > FLUSH_COPIED_LIMIT) {
        return;
    }
    let sent = transfer::try_send_now(ctx, fd, data);
    let n = match sent {
        Some(Ok(n)) => n,
        Some(Err(e)) if e.kind() != io::ErrorKind::Interrupted => {
            drop(s);
            t.fail(e);
            return;
        }
        // Would block, no budget left, or interrupted: the write loop sends it.
        _ => 0,
    };
    match claim {
        Some(range) if range.start + n < range.end => {
            s.pending.push(&delivered[range.start + n..range.end], None)
        }
        Some(_) => {}
        None => s.pending.consume_copied(n),
    }
    if n == 0 {
        return;
    }
    s.unbuffer(n);
    drop(s);
    t.deliver_edges();
}

/// Whether the write loop is idle on the direct path with nothing to do and `waker`
/// registered for the change that would give it some: polling it now would only
/// register again. (Every change it waits for is in `has_work` and comes with a
/// `notify`, or, for a write from a read callback, right before this is asked.)
pub(super) fn waits_idle(t: &Transport, waker: &std::task::Waker) -> bool {
    t.inner.writer_idle.get() && !has_work(t) && t.inner.changed.holds(waker)
}

/// Whether the write side has something to do (the condition `Next::Idle` waits for).
fn has_work(t: &Transport) -> bool {
    let s = t.inner.state.borrow();
    s.aborted || s.closing || !s.pending.is_empty() || (s.eof_requested && !s.eof_sent)
}

/// The kernel took `n` more bytes of the batch: shrink the buffered size and report a
/// resume edge if the buffer drained enough. (No loop waits for the buffer to shrink:
/// writers learn it from the resume edge.)
fn account_sent(
    t: &Transport,
    sending: &mut Sending,
    res: io::Result<usize>,
    shrink_buffered: bool,
) -> Result<(), ()> {
    let n = match res {
        Ok(n) => n,
        Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(()),
        Err(e) => {
            t.fail(e);
            return Err(());
        }
    };
    sending.sent += n;
    if !shrink_buffered {
        return Ok(());
    }
    {
        let mut s = t.inner.state.borrow_mut();
        if s.aborted {
            return Ok(());
        }
        s.unbuffer(n);
    }
    t.deliver_edges();
    Ok(())
}

/// One send op (or one wait for work), for io_uring.
///
/// A send that leaves nothing else to do (no more data, not paused, not closing) goes
/// quiet: its bytes count as handed over once it is queued for the kernel, and its
/// completion wakes the task only if it is short or failed. An echo-style connection
/// then wakes once per message (for the next request), not twice; the completed send
/// is collected when the loop is next polled, which any new write, `close` or `abort`
/// brings about.
async fn send_once(t: &Transport, fd: &SharedFd, sending: &mut Sending) -> Next {
    match next_batch(t, sending) {
        Next::Send => {}
        Next::Idle => {
            t.inner.changed.until(|| has_work(t)).await;
            return Next::Idle;
        }
        other => return other,
    }
    let unsent = sending.unsent().len();
    let bytes = match std::mem::replace(&mut sending.batch, Batch::Copied(Vec::new())) {
        Batch::Copied(bytes) => Either::Left(bytes),
        Batch::Kept(kept) => Either::Right(kept),
    };
    let mut send = std::pin::pin!(op::send::send(fd, bytes.slice(sending.sent..), 0));
    let mut counted = false;
    let sent = poll_fn(|cx| {
        if let Poll::Ready(out) = send.as_mut().poll(cx) {
            return Poll::Ready(Some(out));
        }
        if t.inner.state.borrow().aborted {
            return Poll::Ready(None);
        }
        // An abort ends the wait; while quiet, so does any new work.
        t.inner.changed.register(cx.waker());
        if may_go_quiet(t) {
            send.quiet_unless(u32::try_from(unsent).unwrap_or(u32::MAX));
            if !counted {
                counted = true;
                count_sent(t, unsent);
            }
        }
        Poll::Pending
    })
    .await;
    let Some((res, slice)) = sent else {
        return Next::Stop;
    };
    sending.batch = match slice.into_inner() {
        Either::Left(bytes) => Batch::Copied(bytes),
        Either::Right(kept) => Batch::Kept(kept),
    };
    if counted {
        // The bytes were counted as sent when the send went quiet: put back what the
        // kernel did not take.
        let taken = *res.as_ref().unwrap_or(&0);
        uncount_unsent(t, unsent.saturating_sub(taken));
    }
    match account_sent(t, sending, res, !counted) {
        Ok(()) => Next::Send,
        Err(()) => Next::Stop,
    }
}

/// Whether nothing but the completion of the send in flight is left to wait for.
fn may_go_quiet(t: &Transport) -> bool {
    !has_work(t) && !t.inner.state.borrow().flow.is_paused()
}

/// Counts `n` bytes as handed to the kernel before their send completes.
fn count_sent(t: &Transport, n: usize) {
    let mut s = t.inner.state.borrow_mut();
    s.unbuffer(n);
}

/// Puts back `n` bytes that `count_sent` counted and the kernel did not take.
fn uncount_unsent(t: &Transport, n: usize) {
    if n == 0 {
        return;
    }
    {
        let mut s = t.inner.state.borrow_mut();
        if s.aborted {
            return;
        }
        s.buffered += n;
        s.buffered_changed();
    }
    t.deliver_edges();
}

/// Epoll: sends batch after batch within one poll while the socket takes them; waits for
/// work or for the socket's next edge without an op.
async fn send_burst(t: &Transport, fd: &SharedFd, ctx: &Context, sending: &mut Sending) -> Next {
    poll_fn(|cx| loop {
        t.inner.writer_idle.set(false);
        match next_batch(t, sending) {
            Next::Send => {}
            Next::Idle => {
                t.inner.changed.register(cx.waker());
                t.inner.writer_idle.set(true);
                return Poll::Pending;
            }
            other => return Poll::Ready(other),
        }
        let unsent = sending.unsent();
        let res = match transfer::poll_direct(ctx, cx, |d, cx| d.poll_send(fd, unsent, cx)) {
            Poll::Ready(res) => res,
            Poll::Pending => {
                // Parked on the socket; an abort must still end the wait.
                t.inner.changed.register(cx.waker());
                return Poll::Pending;
            }
        };
        if account_sent(t, sending, res, true).is_err() {
            return Poll::Ready(Next::Stop);
        }
    })
    .await
}
