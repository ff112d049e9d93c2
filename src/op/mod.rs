//! Ops: one kernel operation each, as a future that owns its buffers.
//!
//! Every op file has the same shape: a struct holding the op's resources, an
//! [`OpSpec`](crate::driver::OpSpec) impl saying how to run it on either backend, and a
//! crate-internal constructor returning [`Op`].

pub(crate) mod accept;
pub(crate) mod close;
pub(crate) mod connect;
pub(crate) mod fsync;
pub(crate) mod mkdir;
pub(crate) mod multishot;
pub(crate) mod nop;
pub(crate) mod open;
pub(crate) mod poll;
pub(crate) mod read;
pub(crate) mod readv;
pub(crate) mod recv;
pub(crate) mod recvmsg;
pub(crate) mod rename;
pub(crate) mod send;
pub(crate) mod sendmsg;
pub(crate) mod shutdown;
pub(crate) mod statx;
pub(crate) mod unlink;
pub(crate) mod write;
pub(crate) mod writev;

use crate::driver::deferred::Deferred;
use crate::driver::lifecycle::raw_to_io;
use crate::driver::user_data::OpKey;
use crate::driver::{OpSpec, Start, WaitToken};
use crate::runtime::context::{self, Context};
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{self, Poll};

/// Ops that may finish without yielding (epoll, data already there) before the task
/// must give the loop a turn: one busy socket cannot starve the others.
pub(crate) const COOP_BUDGET: u32 = 128;

enum State {
    New,
    InFlight(OpKey),
    Waiting(WaitToken),
    Done,
}

/// A submitted (or about to be submitted) operation.
pub(crate) struct Op<T: OpSpec> {
    ctx: Option<Rc<Context>>,
    spec: Option<T>,
    state: State,
}

pub(crate) fn no_runtime() -> io::Error {
    io::Error::other(
        "no ringloop runtime is running on this thread: run this inside ringloop::run(...) or \
         Runtime::block_on(...), or spawn it onto a runtime",
    )
}

impl<T: OpSpec> Op<T> {
    pub(crate) fn new(spec: T) -> Self {
        Self {
            ctx: None,
            spec: Some(spec),
            state: State::New,
        }
    }
}

impl<T: OpSpec> Op<T> {
    /// If the op is in flight, stops its completion from waking the task when the result
    /// is `expected`: the task polls the op again when it next needs it (a poll makes
    /// every result wake it again). Any other result still wakes the task.
    pub(crate) fn quiet_unless(&self, expected: u32) {
        if let (State::InFlight(key), Some(ctx)) = (&self.state, &self.ctx) {
            let expected = i32::try_from(expected).unwrap_or(i32::MAX);
            if let Ok(mut driver) = ctx.driver.try_borrow_mut() {
                driver.quiet(*key, expected);
            }
        }
    }
}

impl<T: OpSpec> Future for Op<T> {
    type Output = T::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut task::Context<'_>) -> Poll<T::Output> {
        let this = &mut *self;
        if this.ctx.is_none() {
            this.ctx = context::current();
        }
        let Some(spec) = this.spec.as_mut() else {
            panic!("a ringloop op future was polled after it completed");
        };
        let Some(ctx) = this.ctx.as_ref() else {
            let spec = this.spec.take().expect("checked above");
            return Poll::Ready(spec.complete(Err(no_runtime())));
        };
        let budget = ctx.coop_budget.get();
        if budget == 0 && !matches!(this.state, State::InFlight(_)) {
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        let start = {
            let mut driver = ctx.driver.borrow_mut();
            match this.state {
                State::New => driver.start(spec, cx),
                State::Waiting(token) => driver.retry(spec, token, cx),
                State::InFlight(key) => match driver.poll_op(key, cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(res) => Start::Done(raw_to_io(res)),
                },
                State::Done => unreachable!("spec is taken when the op is done"),
            }
        };
        match start {
            Start::InFlight(key) => {
                this.state = State::InFlight(key);
                Poll::Pending
            }
            Start::Waiting(token) => {
                this.state = State::Waiting(token);
                Poll::Pending
            }
            Start::Done(res) => {
                ctx.coop_budget.set(budget.saturating_sub(1));
                this.state = State::Done;
                let spec = this.spec.take().expect("checked above");
                Poll::Ready(spec.complete(res))
            }
        }
    }
}

impl<T: OpSpec> Drop for Op<T> {
    fn drop(&mut self) {
        let Some(ctx) = self.ctx.as_ref() else { return };
        match self.state {
            State::InFlight(key) => {
                let Some(spec) = self.spec.take() else { return };
                ctx.apply_or_defer(Deferred::Orphan(key, Box::new(spec)));
            }
            State::Waiting(token) => ctx.apply_or_defer(Deferred::StopWaiting(token)),
            State::New | State::Done => {}
        }
    }
}

/// The epoll shim mode for an op on `fd`: readiness for sockets and pipes, the pool for files.
pub(crate) fn shim_for(
    fd: &crate::driver::shared_fd::SharedFd,
    interest: crate::driver::Interest,
) -> crate::driver::Shim<'_> {
    match fd.kind() {
        crate::driver::shared_fd::FdKind::Pollable | crate::driver::shared_fd::FdKind::Stream => {
            crate::driver::Shim::Poll(fd, interest)
        }
        crate::driver::shared_fd::FdKind::File => crate::driver::Shim::Pool,
    }
}

/// Clamps a buffer length to what one kernel op takes (and, under the `fault-injection`
/// feature, sometimes cuts it short: stream callers must handle short I/O anyway).
pub(crate) fn op_len(len: usize) -> u32 {
    #[cfg(feature = "fault-injection")]
    let len = crate::driver::faults::maybe_short(len);
    op_len_exact(len)
}

/// Clamps a buffer length, never shortening it: a short datagram read loses data, and
/// shortening one iovec of a vectored op would transfer a non-prefix (real short vectored
/// I/O is always a prefix of the whole).
pub(crate) fn op_len_exact(len: usize) -> u32 {
    len.min(i32::MAX as usize) as u32
}

/// Writes every initialised byte of `buf` with `write` (called with the unwritten part and
/// how much went already), retrying short writes and `EINTR`.
pub(crate) async fn write_all_by<B, F, Fut>(
    mut buf: B,
    mut write: F,
) -> crate::buf::BufResult<(), B>
where
    B: crate::buf::IoBuf,
    F: FnMut(crate::buf::Slice<B>, u64) -> Fut,
    Fut: Future<Output = crate::buf::BufResult<usize, crate::buf::Slice<B>>>,
{
    let total = buf.bytes_init();
    let mut written = 0;
    while written < total {
        let (res, slice) = write(buf.slice(written..total), written as u64).await;
        buf = slice.into_inner();
        match res {
            Ok(0) => {
                return (
                    Err(io::Error::new(
                        io::ErrorKind::WriteZero,
                        "the descriptor accepted no bytes",
                    )),
                    buf,
                )
            }
            Ok(n) => written += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return (Err(e), buf),
        }
    }
    (Ok(()), buf)
}

/// Fills `buf` to its capacity with `read` (called with the unfilled part and how much came
/// already); EOF first is `UnexpectedEof`.
pub(crate) async fn read_exact_by<B, F, Fut>(
    mut buf: B,
    mut read: F,
) -> crate::buf::BufResult<(), B>
where
    B: crate::buf::IoBufMut,
    F: FnMut(crate::buf::Slice<B>, u64) -> Fut,
    Fut: Future<Output = crate::buf::BufResult<usize, crate::buf::Slice<B>>>,
{
    let total = buf.bytes_total();
    let mut filled = 0;
    while filled < total {
        let (res, slice) = read(buf.slice(filled..), filled as u64).await;
        buf = slice.into_inner();
        match res {
            Ok(0) => {
                return (
                    Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "end of stream before the buffer was full",
                    )),
                    buf,
                )
            }
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return (Err(e), buf),
        }
    }
    (Ok(()), buf)
}
