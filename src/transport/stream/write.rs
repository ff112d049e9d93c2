//! The write loop behind every stream transport: sends what the protocol wrote, in
//! batches (every write of a turn goes out in one send), then `shutdown(SHUT_WR)` after
//! `write_eof`, and ends once a closing transport has nothing left to send.

use super::transfer::{self, Path};
use super::{Transport, KEEP_BUFFER_LIMIT};
use crate::buf::IoBuf;
use crate::driver::shared_fd::SharedFd;
use crate::future::Either;
use crate::op;
use crate::runtime::context::Context;
use std::future::poll_fn;
use std::io;
use std::task::Poll;

/// The batch handed to the kernel, and how much of it it has taken so far.
#[derive(Default)]
struct Batch {
    bytes: Vec<u8>,
    sent: usize,
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
    let mut batch = Batch::default();
    loop {
        let next = match &path {
            Path::Direct(ctx) => send_burst(t, fd, ctx, &mut batch).await,
            Path::Ops => send_once(t, fd, &mut batch).await,
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
fn next_batch(t: &Transport, batch: &mut Batch) -> Next {
    let mut s = t.inner.state.borrow_mut();
    if s.aborted {
        return Next::Stop;
    }
    if batch.sent < batch.bytes.len() {
        return Next::Send;
    }
    if s.pending.is_empty() {
        if s.eof_requested && !s.eof_sent {
            s.eof_sent = true;
            return Next::Shutdown;
        }
        return if s.closing { Next::Stop } else { Next::Idle };
    }
    batch.bytes.clear();
    if batch.bytes.capacity() > KEEP_BUFFER_LIMIT {
        batch.bytes = Vec::new();
    }
    std::mem::swap(&mut batch.bytes, &mut s.pending);
    batch.sent = 0;
    Next::Send
}

/// Whether the write side has something to do (the condition `Next::Idle` waits for).
fn has_work(t: &Transport) -> bool {
    let s = t.inner.state.borrow();
    s.aborted || s.closing || !s.pending.is_empty() || (s.eof_requested && !s.eof_sent)
}

/// The kernel took `n` more bytes of the batch: shrink the buffered size and report a
/// resume edge if the buffer drained enough. (No loop waits for the buffer to shrink:
/// writers learn it from the resume edge.)
fn account_sent(t: &Transport, batch: &mut Batch, res: io::Result<usize>) -> Result<(), ()> {
    let n = match res {
        Ok(n) => n,
        Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(()),
        Err(e) => {
            t.fail(e);
            return Err(());
        }
    };
    batch.sent += n;
    {
        let mut s = t.inner.state.borrow_mut();
        if s.aborted {
            return Ok(());
        }
        s.buffered = s.buffered.saturating_sub(n);
        s.buffered_changed();
    }
    t.deliver_edges();
    Ok(())
}

/// One send op (or one wait for work), for io_uring.
async fn send_once(t: &Transport, fd: &SharedFd, batch: &mut Batch) -> Next {
    match next_batch(t, batch) {
        Next::Send => {}
        Next::Idle => {
            t.inner.changed.until(|| has_work(t)).await;
            return Next::Idle;
        }
        other => return other,
    }
    let bytes = std::mem::take(&mut batch.bytes);
    let sending = crate::race!(
        op::send::send(fd, bytes.slice(batch.sent..), 0),
        t.inner.changed.until(|| t.inner.state.borrow().aborted)
    );
    let Either::Left((res, slice)) = sending else {
        return Next::Stop;
    };
    batch.bytes = slice.into_inner();
    match account_sent(t, batch, res) {
        Ok(()) => Next::Send,
        Err(()) => Next::Stop,
    }
}

/// Epoll: sends batch after batch within one poll while the socket takes them; waits for
/// work or for the socket's next edge without an op.
async fn send_burst(t: &Transport, fd: &SharedFd, ctx: &Context, batch: &mut Batch) -> Next {
    poll_fn(|cx| loop {
        match next_batch(t, batch) {
            Next::Send => {}
            Next::Idle => {
                t.inner.changed.register(cx.waker());
                return Poll::Pending;
            }
            other => return Poll::Ready(other),
        }
        let unsent = &batch.bytes[batch.sent..];
        let res = match transfer::poll_direct(ctx, cx, |d, cx| d.poll_send(fd, unsent, cx)) {
            Poll::Ready(res) => res,
            Poll::Pending => {
                // Parked on the socket; an abort must still end the wait.
                t.inner.changed.register(cx.waker());
                return Poll::Pending;
            }
        };
        if account_sent(t, batch, res).is_err() {
            return Poll::Ready(Next::Stop);
        }
    })
    .await
}
