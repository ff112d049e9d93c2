//! How the stream loops move bytes: op futures on io_uring; on epoll, direct transfers
//! on the ready socket (no op future, context clone or driver slot per transfer, which
//! was most of a loop's own cost per message there).

use crate::driver::epoll::EpollDriver;
use crate::driver::shared_fd::{FdKind, SharedFd};
use crate::runtime::context::{self, Context};
use std::io;
use std::rc::Rc;
use std::task::{self, Poll};

pub(super) enum Path {
    Ops,
    Direct(Rc<Context>),
}

impl Path {
    /// Direct transfers when the running loop is on epoll and `fd` is a socket or pipe.
    pub(super) fn for_fd(fd: &SharedFd) -> Path {
        if fd.kind() == FdKind::File {
            return Path::Ops;
        }
        match context::current() {
            Some(ctx) if ctx.driver.borrow_mut().as_epoll().is_some() => Path::Direct(ctx),
            _ => Path::Ops,
        }
    }
}

/// Runs one direct transfer on the epoll driver, within the task's cooperative budget
/// (like an op that completes at once, it spends one unit; at zero the task yields).
pub(super) fn poll_direct<R>(
    ctx: &Context,
    cx: &mut task::Context<'_>,
    transfer: impl FnOnce(&mut EpollDriver, &mut task::Context<'_>) -> Poll<io::Result<R>>,
) -> Poll<io::Result<R>> {
    let budget = ctx.coop_budget.get();
    if budget == 0 {
        cx.waker().wake_by_ref();
        return Poll::Pending;
    }
    let mut driver = ctx.driver.borrow_mut();
    let Some(epoll) = driver.as_epoll() else {
        return Poll::Ready(Err(io::Error::other(
            "direct transfers need the epoll backend",
        )));
    };
    let polled = transfer(epoll, cx);
    if polled.is_ready() {
        ctx.coop_budget.set(budget - 1);
    }
    polled
}

/// Sends a prefix of `data` now if the epoll socket takes it, within the task's budget;
/// `None` if it would block or the budget is spent (the write loop then takes over).
pub(super) fn try_send_now(ctx: &Context, fd: &SharedFd, data: &[u8]) -> Option<io::Result<usize>> {
    let budget = ctx.coop_budget.get();
    if budget == 0 {
        return None;
    }
    let sent = ctx.driver.borrow_mut().as_epoll()?.try_send(fd, data);
    if sent.is_some() {
        ctx.coop_budget.set(budget - 1);
    }
    sent
}
