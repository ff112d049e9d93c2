//! The stream transport: a handle for the protocol, and the task that drives the socket.

use super::flow::{Edge, FlowControl};
use super::signal::{join2, race, Changed};
use super::sink::{ProtocolSink, READ_CHUNK};
use crate::buf::IoBuf;
use crate::driver::shared_fd::SharedFd;
use crate::op;
use crate::op::multishot::OpStream;
use crate::sys::socket as sock;
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;

/// A send buffer that grew past this (one huge write) is freed once sent, not kept.
const KEEP_BUFFER_LIMIT: usize = 256 * 1024;

#[derive(Default)]
struct State {
    /// Bytes written since the write loop took the last batch: every write of a turn
    /// lands here and goes out in one send. The write loop swaps it with the buffer it
    /// just finished sending, so steady traffic allocates nothing.
    pending: Vec<u8>,
    /// Bytes written by the protocol and not yet accepted by the kernel.
    buffered: usize,
    flow: FlowControl,
    paused_reading: bool,
    closing: bool,
    eof_requested: bool,
    eof_sent: bool,
    aborted: bool,
    finished: bool,
    error: Option<io::Error>,
    edges: VecDeque<Edge>,
}

struct Inner {
    fd: RefCell<Option<SharedFd>>,
    state: RefCell<State>,
    changed: Changed,
    /// True while the connection task polls its read loop (so protocol callbacks run):
    /// the write loop is polled right after in the same pass, so a write made from a
    /// callback needs no wake-up of its own.
    reading: Cell<bool>,
    sink: RefCell<Option<Rc<dyn ProtocolSink>>>,
    peer: Option<SocketAddr>,
    local: Option<SocketAddr>,
}

/// The write side of a connection, handed to the protocol (asyncio's `Transport`).
///
/// Cheap to clone; all clones are the same transport. Methods never block.
#[derive(Clone)]
pub struct Transport {
    inner: Rc<Inner>,
}

fn closed_error(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotConnected,
        format!("cannot {what}: the transport is closing or closed"),
    )
}

impl Transport {
    /// Writes `data` without blocking: it is buffered and sent on this loop turn together
    /// with every other write made in the turn. Fails after `close`, `abort` or `write_eof`.
    pub fn write(&self, data: &[u8]) -> io::Result<()> {
        self.write_bufs(&[data])
    }

    /// Writes several buffers in order (asyncio's `writelines`).
    pub fn write_bufs(&self, bufs: &[&[u8]]) -> io::Result<()> {
        let wake_writer = {
            let mut s = self.inner.state.borrow_mut();
            if s.eof_requested {
                return Err(io::Error::new(
                    io::ErrorKind::BrokenPipe,
                    "cannot write after write_eof()",
                ));
            }
            if s.closing || s.aborted {
                return Err(closed_error("write"));
            }
            let was_empty = s.pending.is_empty();
            for data in bufs {
                s.pending.extend_from_slice(data);
                s.buffered += data.len();
            }
            let size = s.buffered;
            if let Some(edge) = s.flow.update(size) {
                s.edges.push_back(edge);
            }
            // Only the write loop watches writes, and only for "pending became non-empty";
            // from inside a read callback it is about to be polled anyway.
            was_empty && !s.pending.is_empty() && !self.inner.reading.get()
        };
        if wake_writer {
            self.inner.changed.notify();
        }
        self.deliver_edges();
        Ok(())
    }

    /// Closes the write side once the buffer drains (`shutdown(SHUT_WR)`); reading goes on.
    pub fn write_eof(&self) -> io::Result<()> {
        let mut s = self.inner.state.borrow_mut();
        if s.closing || s.aborted {
            return Ok(());
        }
        s.eof_requested = true;
        drop(s);
        self.inner.changed.notify();
        Ok(())
    }

    /// Whether [`write_eof`](Transport::write_eof) is supported (always, for TCP and Unix).
    pub fn can_write_eof(&self) -> bool {
        true
    }

    /// Stops reading, flushes the write buffer, then closes; `connection_lost(None)` follows
    /// on a later loop turn. Idempotent.
    pub fn close(&self) {
        let mut s = self.inner.state.borrow_mut();
        if s.closing {
            return;
        }
        s.closing = true;
        drop(s);
        self.inner.changed.notify();
    }

    /// Closes at once, discarding buffered data; `connection_lost(None)` follows on a later
    /// loop turn.
    pub fn abort(&self) {
        let mut s = self.inner.state.borrow_mut();
        s.closing = true;
        s.aborted = true;
        s.pending = Vec::new();
        s.buffered = 0;
        drop(s);
        self.inner.changed.notify();
    }

    /// Whether `close` or `abort` was called (or the connection failed).
    pub fn is_closing(&self) -> bool {
        let s = self.inner.state.borrow();
        s.closing || s.aborted
    }

    /// Stops delivering data until [`resume_reading`](Transport::resume_reading); data that
    /// arrives meanwhile is held, not lost. Idempotent.
    pub fn pause_reading(&self) {
        self.inner.state.borrow_mut().paused_reading = true;
    }

    /// Resumes delivering data. Idempotent.
    pub fn resume_reading(&self) {
        self.inner.state.borrow_mut().paused_reading = false;
        self.inner.changed.notify();
    }

    /// Whether data is being delivered (not paused, not closing).
    pub fn is_reading(&self) -> bool {
        let s = self.inner.state.borrow();
        !s.paused_reading && !s.closing && !s.aborted
    }

    /// Sets the flow-control watermarks (asyncio's `set_write_buffer_limits`): `high`
    /// defaults to 64 KiB (or `4 * low`), `low` to `high / 4`; `high < low` is an error.
    pub fn set_write_buffer_limits(
        &self,
        high: Option<usize>,
        low: Option<usize>,
    ) -> io::Result<()> {
        {
            let mut s = self.inner.state.borrow_mut();
            let size = s.buffered;
            if let Some(edge) = s.flow.set_limits(high, low, size)? {
                s.edges.push_back(edge);
            }
        }
        self.deliver_edges();
        Ok(())
    }

    /// `(low, high)` watermarks.
    pub fn write_buffer_limits(&self) -> (usize, usize) {
        self.inner.state.borrow().flow.limits()
    }

    /// Bytes written and not yet accepted by the kernel.
    pub fn write_buffer_size(&self) -> usize {
        self.inner.state.borrow().buffered
    }

    /// The peer's address (TCP; `None` for Unix sockets).
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        self.inner.peer
    }

    /// This end's address (TCP; `None` for Unix sockets).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.inner.local
    }

    /// Sets `TCP_NODELAY` (on by default for TCP).
    pub fn set_nodelay(&self, on: bool) -> io::Result<()> {
        let fd = self.inner.fd.borrow();
        let fd = fd.as_ref().ok_or_else(|| closed_error("set options"))?;
        sock::set_opt_int(fd.raw(), libc::IPPROTO_TCP, libc::TCP_NODELAY, on as i32)
    }

    /// Delivers queued pause/resume edges unless the protocol is inside another callback
    /// (then the running callback's caller delivers them when it returns).
    fn deliver_edges(&self) {
        if self.inner.state.borrow().edges.is_empty() {
            return; // the common case, on every read and write
        }
        let Some(sink) = self.inner.sink.borrow().clone() else {
            return;
        };
        loop {
            let Some(edge) = self.inner.state.borrow_mut().edges.pop_front() else {
                return;
            };
            if !sink.try_edge(edge) {
                self.inner.state.borrow_mut().edges.push_front(edge);
                return;
            }
        }
    }

    fn fail(&self, error: io::Error) {
        let mut s = self.inner.state.borrow_mut();
        if s.error.is_none() && !s.aborted {
            s.error = Some(error);
        }
        s.aborted = true;
        s.closing = true;
        s.pending = Vec::new();
        s.buffered = 0;
        drop(s);
        self.inner.changed.notify();
    }

    fn stop_reading(&self) -> bool {
        let s = self.inner.state.borrow();
        s.closing || s.aborted
    }

    /// Whether the connection task has finished (after `connection_lost`).
    pub(crate) fn is_finished(&self) -> bool {
        self.inner.state.borrow().finished
    }
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transport")
            .field("peer", &self.inner.peer)
            .field("closing", &self.is_closing())
            .field("buffered", &self.write_buffer_size())
            .finish()
    }
}

/// Wires a connected socket to a protocol and spawns the task that drives it. `on_done`
/// runs after `connection_lost`.
pub(crate) fn start(
    fd: SharedFd,
    sink: Rc<dyn ProtocolSink>,
    on_done: Option<Box<dyn FnOnce()>>,
) -> Transport {
    let peer = sock::peer_addr(fd.raw()).and_then(|a| a.to_inet()).ok();
    let local = sock::local_addr(fd.raw()).and_then(|a| a.to_inet()).ok();
    let transport = Transport {
        inner: Rc::new(Inner {
            fd: RefCell::new(Some(fd)),
            state: RefCell::new(State::default()),
            changed: Changed::default(),
            reading: Cell::new(false),
            sink: RefCell::new(Some(sink)),
            peer,
            local,
        }),
    };
    drop(crate::spawn(run(transport.clone(), on_done)));
    transport
}

/// Breaks the transport <-> protocol cycle (the protocol usually holds a transport clone)
/// however the connection task ends: normally, or dropped mid-flight because the runtime
/// shut down. Without it a runtime dropped with live connections would leak them.
struct Teardown(Transport);

impl Drop for Teardown {
    fn drop(&mut self) {
        let inner = &self.0.inner;
        if let Ok(mut sink) = inner.sink.try_borrow_mut() {
            sink.take();
        }
        if let Ok(mut fd) = inner.fd.try_borrow_mut() {
            fd.take();
        }
        if let Ok(mut state) = inner.state.try_borrow_mut() {
            state.finished = true;
            state.closing = true;
            state.pending = Vec::new();
        }
        inner.changed.notify();
    }
}

async fn run(transport: Transport, on_done: Option<Box<dyn FnOnce()>>) {
    let teardown = Teardown(transport.clone());
    let sink = transport
        .inner
        .sink
        .borrow()
        .clone()
        .expect("sink is set until the end");
    let fd = transport
        .inner
        .fd
        .borrow()
        .clone()
        .expect("fd is set until the end");
    until_free(&*sink).await;
    sink.connection_made(&transport);
    transport.deliver_edges();
    join2(
        flag_while_polled(&transport.inner.reading, read_loop(&transport, &fd, &*sink)),
        write_loop(&transport, &fd),
    )
    .await;
    drop(fd);
    // Close the socket now (asyncio closes it before connection_lost), once no op holds it.
    drop(transport.inner.fd.borrow_mut().take());
    // Always a later turn than whatever close()/abort() call ended the connection.
    crate::yield_now().await;
    let error = transport.inner.state.borrow_mut().error.take();
    transport.deliver_edges();
    until_free(&*sink).await;
    sink.connection_lost(error);
    drop(sink);
    drop(teardown);
    if let Some(done) = on_done {
        done();
    }
}

/// Waits while user code holds a borrow of the protocol (across an `.await`), so a
/// callback never panics on a busy `RefCell`.
async fn until_free(sink: &dyn ProtocolSink) {
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

async fn read_loop(t: &Transport, fd: &SharedFd, sink: &dyn ProtocolSink) {
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
/// re-armed whenever the kernel ends it. Returns `false`, having read nothing, where
/// multishot receive is unavailable.
async fn multishot_read_loop(t: &Transport, fd: &SharedFd, sink: &dyn ProtocolSink) -> bool {
    let mut stream = None;
    let mut data = Some(Vec::with_capacity(READ_CHUNK));
    loop {
        if !reading_now(t) && !until_reading(t).await {
            return true;
        }
        if stream.is_none() {
            match OpStream::recv(fd).await {
                Some(s) => stream = Some(s),
                None if data.is_some() => return false,
                None => return true,
            }
        }
        let mut buf = data.take().unwrap_or_default();
        buf.clear();
        let live = stream.as_mut().expect("armed above");
        let next = race(live.next_lent(), t.inner.changed.until(|| t.stop_reading())).await;
        let flow = match next {
            // Stopping: dropping the stream cancels it.
            Err(()) => Flow::Stop,
            // The kernel ended the multishot: re-arm it.
            Ok(None) => {
                stream = None;
                Flow::Continue(Some(buf))
            }
            Ok(Some(Ok(None))) => on_eof(t, sink).await,
            // The common case: the protocol reads straight from the provided buffer, which
            // goes back to the ring when `lent` drops.
            Ok(Some(Ok(Some(lent)))) if can_deliver_now(t, sink) => {
                sink.deliver_slice(&lent);
                drop(lent);
                t.deliver_edges();
                Flow::Continue(Some(buf))
            }
            // Reading is paused or the protocol is busy: keep a copy, free the buffer.
            Ok(Some(Ok(Some(lent)))) => {
                buf.extend_from_slice(&lent);
                let n = lent.len();
                drop(lent);
                deliver(t, sink, buf, n).await
            }
            // Provided buffers ran out (paused connections may hold many): read once into
            // a buffer of our own, which waits for data instead of spinning, then re-arm.
            Ok(Some(Err(e))) if e.raw_os_error() == Some(libc::ENOBUFS) => {
                stream = None;
                read_once(t, fd, sink, Some(buf)).await
            }
            Ok(Some(Err(e))) if e.kind() == io::ErrorKind::Interrupted => Flow::Continue(Some(buf)),
            Ok(Some(Err(e))) => {
                t.fail(e);
                Flow::Stop
            }
        };
        match flow {
            Flow::Continue(spare) => {
                data = Some(spare.unwrap_or_else(|| Vec::with_capacity(READ_CHUNK)))
            }
            Flow::Stop => return true,
        }
    }
}

async fn write_loop(t: &Transport, fd: &SharedFd) {
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
        let size = s.buffered;
        if let Some(edge) = s.flow.update(size) {
            s.edges.push_back(edge);
        }
    }
    t.deliver_edges();
}

/// Polls `future` with `flag` set for the duration of each poll.
async fn flag_while_polled<F: std::future::Future>(flag: &Cell<bool>, future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    std::future::poll_fn(|cx| {
        flag.set(true);
        let polled = future.as_mut().poll(cx);
        flag.set(false);
        polled
    })
    .await
}
