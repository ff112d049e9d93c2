//! The two loops behind every stream transport: reading into the protocol (single-shot
//! reads, or io_uring's multishot receive with lent provided buffers) and sending what the
//! protocol wrote. They live in the connection's task, joined by `run`.

use super::{Transport, KEEP_BUFFER_LIMIT};
use crate::buf::IoBuf;
use crate::driver::shared_fd::SharedFd;
use crate::op;
use crate::op::multishot::OpStream;
use crate::transport::signal::race;
use crate::transport::sink::{ProtocolSink, READ_CHUNK};
use std::cell::Cell;
use std::io;

/// Waits while user code holds a borrow of the protocol (across an `.await`), so a
/// callback never panics on a busy `RefCell`.
pub(super) async fn until_free(sink: &dyn ProtocolSink) {
    while sink.busy() {
        crate::yield_now().await;
    }
}

/// What the read side does next.
enum Flow {
    /// Keep reading; reuse this buffer if given.
    Continue(Option<Vec<u8>>),
    /// Reading is over (EOF handled, closing, or failed).
    Stop,
}

/// Waits while reading is paused; `false` once the transport is stopping.
async fn until_reading(t: &Transport) -> bool {
    t.inner
        .changed
        .until(|| t.stop_reading() || !t.inner.state.borrow().paused_reading)
        .await;
    !t.stop_reading()
}

/// Delivers `n` bytes read into `buf`, holding them while reading is paused.
async fn deliver(t: &Transport, sink: &dyn ProtocolSink, buf: Vec<u8>, n: usize) -> Flow {
    // Checked synchronously first: awaiting conditions that already hold still costs a
    // trip through their state machines, on every read.
    if !can_deliver_now(t, sink) {
        if !until_reading(t).await {
            return Flow::Stop;
        }
        until_free(sink).await;
    }
    let spare = sink.deliver(buf, n);
    t.deliver_edges();
    Flow::Continue(spare)
}

/// Whether reading is on right now (not paused, not stopping).
fn reading_now(t: &Transport) -> bool {
    let s = t.inner.state.borrow();
    !(s.closing || s.aborted || s.paused_reading)
}

/// Whether data can go to the protocol right now (reading on, protocol not borrowed).
fn can_deliver_now(t: &Transport, sink: &dyn ProtocolSink) -> bool {
    reading_now(t) && !sink.busy()
}

/// The peer closed its side: `eof_received`, then close unless the protocol keeps it open.
async fn on_eof(t: &Transport, sink: &dyn ProtocolSink) -> Flow {
    until_free(sink).await;
    let keep_open = sink.eof_received();
    t.deliver_edges();
    if !keep_open {
        t.close();
    }
    Flow::Stop
}

/// One single-shot read into a buffer of the protocol's (or our) choosing.
async fn read_once(
    t: &Transport,
    fd: &SharedFd,
    sink: &dyn ProtocolSink,
    spare: Option<Vec<u8>>,
) -> Flow {
    let buf = sink.read_buffer(spare);
    let read = race(
        op::recv::recv(fd, buf, 0),
        t.inner.changed.until(|| t.stop_reading()),
    )
    .await;
    let Ok((res, buf)) = read else {
        return Flow::Stop;
    };
    match res {
        Ok(0) if buf.capacity() > 0 => on_eof(t, sink).await,
        Ok(0) => Flow::Continue(Some(buf)),
        Ok(n) => deliver(t, sink, buf, n).await,
        Err(e) if e.kind() == io::ErrorKind::Interrupted => Flow::Continue(Some(buf)),
        Err(e) => {
            t.fail(e);
            Flow::Stop
        }
    }
}

pub(super) async fn read_loop(t: &Transport, fd: &SharedFd, sink: &dyn ProtocolSink) {
    if !sink.lends_buffers() && multishot_read_loop(t, fd, sink).await {
        return;
    }
    let mut spare = None;
    while reading_now(t) || until_reading(t).await {
        match read_once(t, fd, sink, spare.take()).await {
            Flow::Continue(buf) => spare = buf,
            Flow::Stop => return,
        }
    }
}

/// Reads with one multishot recv into the loop's provided buffers (io_uring, Linux 6.0+),
/// re-armed whenever the kernel ends it. Returns `false` where multishot receive is
/// unavailable (the caller goes on with single-shot reads).
async fn multishot_read_loop(t: &Transport, fd: &SharedFd, sink: &dyn ProtocolSink) -> bool {
    let mut stream = None;
    // A buffer of our own, needed only when bytes must be copied out of a provided buffer
    // (paused or busy protocol) or read without one (ENOBUFS): made on first need.
    let mut spare: Option<Vec<u8>> = None;
    loop {
        if !reading_now(t) && !until_reading(t).await {
            return true;
        }
        if stream.is_none() {
            match OpStream::recv(fd).await {
                Some(s) => stream = Some(s),
                None => return false,
            }
        }
        let live = stream.as_mut().expect("armed above");
        let next = race(live.next_lent(), t.inner.changed.until(|| t.stop_reading())).await;
        let flow = match next {
            // Stopping: dropping the stream cancels it.
            Err(()) => Flow::Stop,
            // The kernel ended the multishot: re-arm it.
            Ok(None) => {
                stream = None;
                Flow::Continue(spare.take())
            }
            Ok(Some(Ok(None))) => on_eof(t, sink).await,
            // The common case: the protocol reads straight from the provided buffer, which
            // goes back to the ring when `lent` drops.
            Ok(Some(Ok(Some(lent)))) if can_deliver_now(t, sink) => {
                sink.deliver_slice(&lent);
                drop(lent);
                t.deliver_edges();
                Flow::Continue(spare.take())
            }
            // Reading is paused or the protocol is busy: keep a copy, free the buffer.
            Ok(Some(Ok(Some(lent)))) => {
                let mut buf = spare
                    .take()
                    .unwrap_or_else(|| Vec::with_capacity(READ_CHUNK));
                buf.clear();
                buf.extend_from_slice(&lent);
                let n = lent.len();
                drop(lent);
                deliver(t, sink, buf, n).await
            }
            // Provided buffers ran out (paused connections may hold many): read once into
            // a buffer of our own, which waits for data instead of spinning, then re-arm.
            Ok(Some(Err(e))) if e.raw_os_error() == Some(libc::ENOBUFS) => {
                stream = None;
                read_once(t, fd, sink, spare.take()).await
            }
            Ok(Some(Err(e))) if e.kind() == io::ErrorKind::Interrupted => {
                Flow::Continue(spare.take())
            }
            Ok(Some(Err(e))) => {
                t.fail(e);
                Flow::Stop
            }
        };
        match flow {
            Flow::Continue(buf) => spare = buf,
            Flow::Stop => return true,
        }
    }
}

pub(super) async fn write_loop(t: &Transport, fd: &SharedFd) {
    // The batch handed to the kernel, and how much of it it has taken so far.
    let mut sending: Vec<u8> = Vec::new();
    let mut sent = 0;
    loop {
        if sent == sending.len() {
            t.inner
                .changed
                .until(|| {
                    let s = t.inner.state.borrow();
                    s.aborted
                        || s.closing
                        || !s.pending.is_empty()
                        || (s.eof_requested && !s.eof_sent)
                })
                .await;
            let (eof_due, closing) = {
                let mut s = t.inner.state.borrow_mut();
                if s.aborted {
                    return;
                }
                sending.clear();
                if sending.capacity() > KEEP_BUFFER_LIMIT {
                    sending = Vec::new();
                }
                std::mem::swap(&mut sending, &mut s.pending);
                sent = 0;
                (s.eof_requested && !s.eof_sent, s.closing)
            };
            if sending.is_empty() {
                if eof_due {
                    t.inner.state.borrow_mut().eof_sent = true;
                    if let Err(e) = op::shutdown::shutdown(fd, std::net::Shutdown::Write).await {
                        t.fail(e);
                        return;
                    }
                    continue;
                }
                if closing {
                    return;
                }
                continue;
            }
        }
        let aborted = || t.inner.state.borrow().aborted;
        let outcome = race(
            op::send::send(fd, sending.slice(sent..), 0),
            t.inner.changed.until(aborted),
        )
        .await;
        let Ok((res, buf)) = outcome else {
            return;
        };
        sending = buf.into_inner();
        match res {
            Ok(n) => {
                sent += n;
                account_sent(t, n);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                t.fail(e);
                return;
            }
        }
    }
}

/// The kernel took `n` more bytes: shrink the buffered size and report a resume edge if
/// the buffer drained enough. (No loop waits for the buffer to shrink: writers learn it
/// from the resume edge.)
fn account_sent(t: &Transport, n: usize) {
    {
        let mut s = t.inner.state.borrow_mut();
        if s.aborted {
            return;
        }
        s.buffered = s.buffered.saturating_sub(n);
        s.buffered_changed();
    }
    t.deliver_edges();
}

/// Polls `future` with `flag` set for the duration of each poll.
pub(super) async fn flag_while_polled<F: std::future::Future>(
    flag: &Cell<bool>,
    future: F,
) -> F::Output {
    let mut future = std::pin::pin!(future);
    std::future::poll_fn(|cx| {
        flag.set(true);
        let polled = future.as_mut().poll(cx);
        flag.set(false);
        polled
    })
    .await
}
