//! The read loop behind every stream transport: reading into the protocol (io_uring's
//! multishot receive with lent provided buffers, single-shot read ops, or on epoll direct
//! reads on the ready socket). It shares the connection's task with the write loop
//! (`write.rs`), joined by `run`.

use super::outgoing::Delivering;
use super::transfer::{self, Path};
use super::{write, Transport};
use crate::driver::shared_fd::SharedFd;
use crate::driver::uring::buf_ring::Lent;
use crate::future::Either;
use crate::op;
use crate::op::multishot::OpStream;
use crate::runtime::context::Context;
use crate::transport::sink::{ProtocolSink, READ_CHUNK};
use std::future::poll_fn;
use std::io;
use std::task::Poll;

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

/// Hands a provided buffer's bytes to the protocol. A write of part of them may keep the
/// buffer to send from (see `outgoing.rs`); otherwise it goes back to the ring now.
fn deliver_lent(t: &Transport, sink: &dyn ProtocolSink, lent: Lent) {
    deliver_in_place(t, sink, Delivering::Lent(lent));
    if let Some(delivering) = t.inner.delivering.borrow_mut().take() {
        t.inner.state.borrow_mut().pending.end_delivery(delivering);
    }
}

/// Hands the bytes of `delivering` to the protocol, leaving the buffer in the
/// transport's `delivering` slot, where a write of them is recorded instead of copied.
#[inline]
fn deliver_in_place(t: &Transport, sink: &dyn ProtocolSink, delivering: Delivering) {
    *t.inner.delivering.borrow_mut() = Some(delivering);
    if let Some(bytes) = &*t.inner.delivering.borrow() {
        sink.deliver_slice(bytes);
    }
}

/// Epoll: delivers `n` bytes read into `buf` and sends what the callback wrote right
/// away (an echo straight from `buf`); gives `buf` back for the next read.
fn deliver_and_flush(
    t: &Transport,
    fd: &SharedFd,
    ctx: &Context,
    sink: &dyn ProtocolSink,
    buf: Vec<u8>,
    n: usize,
) -> Option<Vec<u8>> {
    if sink.lends_buffers() {
        // The buffer is the protocol's own: nothing to claim, but still flush.
        let spare = sink.deliver(buf, n);
        t.deliver_edges();
        write::flush_delivered(t, fd, ctx, &[]);
        return spare;
    }
    deliver_in_place(t, sink, Delivering::Read(buf, n));
    t.deliver_edges();
    let delivering = t.inner.delivering.borrow_mut().take()?;
    write::flush_delivered(t, fd, ctx, &delivering);
    t.inner.state.borrow_mut().pending.end_delivery(delivering)
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

/// One single-shot read op into a buffer of the protocol's (or our) choosing.
async fn read_once(
    t: &Transport,
    fd: &SharedFd,
    sink: &dyn ProtocolSink,
    spare: Option<Vec<u8>>,
) -> Flow {
    let buf = sink.read_buffer(spare);
    let read = crate::race!(
        op::recv::recv(fd, buf, 0),
        t.inner.changed.until(|| t.stop_reading())
    );
    let Either::Left((res, buf)) = read else {
        return Flow::Stop;
    };
    after_read(t, sink, res, buf).await
}

/// Hands a read's outcome to the protocol: data, EOF, or the error that ends the transport.
async fn after_read(
    t: &Transport,
    sink: &dyn ProtocolSink,
    res: io::Result<usize>,
    buf: Vec<u8>,
) -> Flow {
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

/// How a burst of direct reads ended.
enum Burst {
    Stopping,
    /// Everything read was delivered, and reading is now paused or closing.
    Delivered,
    /// A read that the protocol cannot take right now, EOF, or an error.
    Read(io::Result<usize>, Vec<u8>),
}

/// Epoll: reads and delivers within one poll for as long as the socket has data and the
/// protocol takes it; parks on the socket's next edge without an op.
async fn read_burst(
    t: &Transport,
    fd: &SharedFd,
    ctx: &Context,
    sink: &dyn ProtocolSink,
    mut spare: Option<Vec<u8>>,
) -> Flow {
    // The buffer a parked read will use when woken (a lent one is asked for only once).
    let mut parked: Option<Vec<u8>> = None;
    let burst = poll_fn(|cx| loop {
        if t.stop_reading() {
            return Poll::Ready(Burst::Stopping);
        }
        let mut buf = parked
            .take()
            .unwrap_or_else(|| sink.read_buffer(spare.take()));
        match transfer::poll_direct(ctx, cx, |d, cx| d.poll_recv(fd, &mut buf, cx)) {
            Poll::Pending => {
                parked = Some(buf);
                t.inner.changed.register(cx.waker());
                return Poll::Pending;
            }
            Poll::Ready(Ok(n)) if n > 0 && can_deliver_now(t, sink) => {
                spare = deliver_and_flush(t, fd, ctx, sink, buf, n);
                if !reading_now(t) {
                    return Poll::Ready(Burst::Delivered);
                }
            }
            Poll::Ready(res) => return Poll::Ready(Burst::Read(res, buf)),
        }
    })
    .await;
    match burst {
        Burst::Stopping => Flow::Stop,
        Burst::Delivered => Flow::Continue(spare),
        Burst::Read(res, buf) => after_read(t, sink, res, buf).await,
    }
}

pub(super) async fn read_loop(t: &Transport, fd: &SharedFd, sink: &dyn ProtocolSink) {
    if !sink.lends_buffers() && multishot_read_loop(t, fd, sink).await {
        return;
    }
    let path = Path::for_fd(fd);
    let mut spare = None;
    while reading_now(t) || until_reading(t).await {
        let flow = match &path {
            Path::Direct(ctx) => read_burst(t, fd, ctx, sink, spare.take()).await,
            Path::Ops => read_once(t, fd, sink, spare.take()).await,
        };
        match flow {
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
        let next = crate::race!(live.next_lent(), t.inner.changed.until(|| t.stop_reading()));
        let flow = match next {
            // Stopping: dropping the stream cancels it.
            Either::Right(()) => Flow::Stop,
            // The kernel ended the multishot: re-arm it.
            Either::Left(None) => {
                stream = None;
                Flow::Continue(spare.take())
            }
            Either::Left(Some(Ok(None))) => on_eof(t, sink).await,
            // The common case: the protocol reads straight from the provided buffer, which
            // goes back to the ring when `lent` drops.
            Either::Left(Some(Ok(Some(lent)))) if can_deliver_now(t, sink) => {
                deliver_lent(t, sink, lent);
                t.deliver_edges();
                Flow::Continue(spare.take())
            }
            // Reading is paused or the protocol is busy: keep a copy, free the buffer.
            Either::Left(Some(Ok(Some(lent)))) => {
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
            Either::Left(Some(Err(e))) if e.raw_os_error() == Some(libc::ENOBUFS) => {
                stream = None;
                read_once(t, fd, sink, spare.take()).await
            }
            Either::Left(Some(Err(e))) if e.kind() == io::ErrorKind::Interrupted => {
                Flow::Continue(spare.take())
            }
            Either::Left(Some(Err(e))) => {
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
