//! Multishot ops (io_uring): one submission, many completions. Used for receiving into
//! provided buffers and for accepting.

use crate::driver::deferred::Deferred;
use crate::driver::lifecycle::{Orphan, RawResult};
use crate::driver::shared_fd::SharedFd;
use crate::driver::uring::buf_ring::Lent;
use crate::driver::user_data::OpKey;
use crate::runtime::context::{self, Context};
use io_uring::{opcode, types};
use std::future::poll_fn;
use std::io;
use std::os::fd::OwnedFd;
use std::rc::Rc;
use std::task::Poll;

/// What a multishot op leaves with the driver when its handle is dropped early.
pub(crate) struct StreamData {
    /// Held, never read: keeps the socket open until the final completion.
    #[allow(dead_code)]
    fd: SharedFd,
    /// Accepted connections that arrive after the handle was dropped are closed.
    accept: bool,
}

impl Orphan for StreamData {
    fn release(self: Box<Self>, _res: RawResult) {}

    fn release_item(&mut self, res: RawResult, _flags: u32) {
        if self.accept && res >= 0 {
            crate::sys::close_raw(res);
        }
    }
}

/// A live multishot op.
pub(crate) struct OpStream {
    ctx: Rc<Context>,
    key: OpKey,
    ended: bool,
    data: Option<StreamData>,
}

impl OpStream {
    /// Multishot recv into the loop's provided buffers; `None` where unsupported (epoll, old
    /// kernels) or outside a loop.
    pub(crate) async fn recv(fd: &SharedFd) -> Option<OpStream> {
        let ctx = context::current()?;
        let group = ctx.driver.borrow().provided_group()?;
        let entry = opcode::RecvMulti::new(types::Fd(fd.raw()), group).build();
        Self::start(
            ctx,
            entry,
            StreamData {
                fd: fd.clone(),
                accept: false,
            },
        )
        .await
    }

    /// Multishot accept; `None` where unsupported.
    pub(crate) async fn accept(fd: &SharedFd) -> Option<OpStream> {
        let ctx = context::current()?;
        ctx.driver.borrow().provided_group()?;
        let entry = opcode::AcceptMulti::new(types::Fd(fd.raw()))
            .flags(libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK)
            .build();
        Self::start(
            ctx,
            entry,
            StreamData {
                fd: fd.clone(),
                accept: true,
            },
        )
        .await
    }

    async fn start(
        ctx: Rc<Context>,
        entry: io_uring::squeue::Entry,
        data: StreamData,
    ) -> Option<OpStream> {
        let mut entry = Some(entry);
        let key = poll_fn(|cx| {
            Poll::Ready(
                ctx.driver
                    .borrow_mut()
                    .start_stream(entry.take().expect("once"), cx),
            )
        })
        .await?;
        Some(OpStream {
            ctx,
            key,
            ended: false,
            data: Some(data),
        })
    }

    async fn next_raw(&mut self) -> Option<(RawResult, u32)> {
        if self.ended {
            return None;
        }
        let item = poll_fn(|cx| self.ctx.driver.borrow_mut().poll_item(self.key, cx)).await;
        if item.is_none() {
            self.ended = true;
        }
        item
    }

    /// The next received chunk, lent in place (no copy): `Ok(None)` is EOF, `None` means the
    /// multishot ended (re-arm it), `Err(ENOBUFS)` means the provided buffers ran out.
    pub(crate) async fn next_lent(&mut self) -> Option<io::Result<Option<Lent>>> {
        let (res, flags) = self.next_raw().await?;
        let mut driver = self.ctx.driver.borrow_mut();
        if res < 0 {
            driver.recycle_provided(flags);
            return Some(Err(io::Error::from_raw_os_error(-res)));
        }
        if res == 0 {
            driver.recycle_provided(flags);
            return Some(Ok(None));
        }
        match driver.lend_provided(flags, res as usize) {
            Some(lent) => Some(Ok(Some(lent))),
            None => Some(Err(io::Error::other(
                "a multishot receive without its buffer",
            ))),
        }
    }

    /// The next accepted connection; `None` means the multishot ended (re-arm it).
    pub(crate) async fn next_accept(&mut self) -> Option<io::Result<OwnedFd>> {
        let (res, _) = self.next_raw().await?;
        Some(if res < 0 {
            Err(io::Error::from_raw_os_error(-res))
        } else {
            Ok(crate::sys::owned_fd(res))
        })
    }
}

impl Drop for OpStream {
    fn drop(&mut self) {
        let Some(data) = self.data.take() else {
            return;
        };
        if self.ended {
            return;
        }
        self.ctx
            .apply_or_defer(Deferred::Stream(self.key, Box::new(data)));
    }
}
