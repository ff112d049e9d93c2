//! The stream transport: a handle for the protocol, and the task that drives the socket.

mod loops;
mod outgoing;
mod transfer;
mod write;

use super::flow::{Edge, FlowControl};
use super::signal::{join_flagged, Changed};
use super::sink::ProtocolSink;
use crate::driver::shared_fd::SharedFd;
use crate::sys::socket as sock;
use loops::{read_loop, until_free};
use outgoing::{Delivering, Outgoing};
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use write::write_loop;

/// A send buffer that grew past this (one huge write) is freed once sent, not kept.
const KEEP_BUFFER_LIMIT: usize = 256 * 1024;

#[derive(Default)]
struct State {
    /// Bytes written since the write loop took the last batch: every write of a turn
    /// (on epoll: of a read callback) lands here and goes out in one send. The write
    /// loop swaps it with the buffer it just finished sending, so steady traffic
    /// allocates nothing.
    pending: Outgoing,
    /// The write loop holds a batch the kernel has not fully taken: later bytes must wait
    /// behind it, so the read loop does not send them itself.
    batch_unsent: bool,
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

impl State {
    /// `buffered` changed: queue the pause/resume edge it crossed, if any.
    fn buffered_changed(&mut self) {
        if let Some(edge) = self.flow.update(self.buffered) {
            self.edges.push_back(edge);
        }
    }

    /// `n` buffered bytes reached the kernel.
    fn unbuffer(&mut self, n: usize) {
        self.buffered = self.buffered.saturating_sub(n);
        self.buffered_changed();
    }
}

struct Inner {
    fd: RefCell<Option<SharedFd>>,
    state: RefCell<State>,
    changed: Changed,
    /// Set while the write loop (on the direct path) waits for work, registered on
    /// `changed`: the task need not poll it until there is some.
    writer_idle: Cell<bool>,
    /// True while the connection task polls its read loop (so protocol callbacks run):
    /// the write loop is polled right after in the same pass, so a write made from a
    /// callback needs no wake-up of its own.
    reading: Cell<bool>,
    /// The buffer whose bytes the protocol is being handed (a provided buffer on io_uring,
    /// the read buffer on epoll): a write of part of it is recorded instead of copied.
    delivering: RefCell<Option<Delivering>>,
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
    ///
    /// On io_uring, a write of 1 KiB or more of the slice `data_received` is handing over,
    /// with nothing else waiting to be sent, is not copied: the receive buffer itself is
    /// sent (an echo costs no copy in user space). The bytes and their order are the same.
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
            let delivering = self.inner.delivering.borrow();
            match bufs {
                // Nothing else queued or in flight: an echo of the bytes being delivered.
                [data]
                    if s.buffered == 0
                        && delivering
                            .as_ref()
                            .is_some_and(|bytes| s.pending.try_claim(data, bytes)) =>
                {
                    s.buffered = data.len();
                }
                _ => {
                    for data in bufs {
                        s.pending.push(data, delivering.as_ref());
                        s.buffered += data.len();
                    }
                }
            }
            drop(delivering);
            s.buffered_changed();
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
        s.pending.clear();
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

    /// Bytes written and not yet handed to the kernel. On io_uring, a send with nothing
    /// written behind it counts as handed over once it is queued for the kernel; if the
    /// kernel then takes only part of it, the rest counts again until it is sent.
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
        s.pending.clear();
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
            writer_idle: Cell::new(false),
            reading: Cell::new(false),
            delivering: RefCell::new(None),
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
            state.pending.clear();
        }
        // A protocol that panicked mid-delivery left its receive buffer here: give it back.
        if let Ok(mut delivering) = inner.delivering.try_borrow_mut() {
            delivering.take();
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
    join_flagged!(
        &transport.inner.reading,
        read_loop(&transport, &fd, &*sink),
        write_loop(&transport, &fd),
        |waker: &std::task::Waker| write::waits_idle(&transport, waker)
    );
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
