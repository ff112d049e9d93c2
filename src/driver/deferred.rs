//! Driver work that a destructor asked for while the driver was borrowed (an fd or an op
//! dropped from inside a dispatch, e.g. while a multishot accept's queued connections are
//! being closed). It waits on the loop's context and runs after the turn, so nothing the
//! kernel may still use is freed early and nothing is leaked.

use super::lifecycle::Orphan;
use super::user_data::OpKey;
use super::{Driver, WaitToken};
use std::task::{Context, Poll, Waker};

/// One piece of deferred driver work.
pub(crate) enum Deferred {
    /// Forget the epoll bookkeeping of a closed fd's registration.
    Deregister(u32),
    /// A single-shot op dropped in flight: its data waits for the completion.
    Orphan(OpKey, Box<dyn Orphan>),
    /// A multishot op dropped while armed: release what it queued, then orphan the rest.
    Stream(OpKey, Box<dyn Orphan>),
    /// An epoll op dropped while it waited for readiness.
    StopWaiting(WaitToken),
}

impl Driver {
    /// Does one piece of a destructor's driver work (at once, or after the turn in which
    /// the driver was borrowed).
    pub(crate) fn apply(&mut self, work: Deferred) {
        match work {
            Deferred::Deregister(registration) => self.forget_registration(registration),
            Deferred::Orphan(key, data) => self.orphan(key, data),
            Deferred::Stream(key, data) => self.orphan_stream(key, data),
            Deferred::StopWaiting(token) => self.stop_waiting(token),
        }
    }

    /// A multishot op's future was dropped while the kernel may still post items: items
    /// already queued are released now (accepted fds closed, buffers recycled); if the op
    /// has not ended, its data waits for the final completion.
    fn orphan_stream(&mut self, key: OpKey, mut data: Box<dyn Orphan>) {
        let mut cx = Context::from_waker(Waker::noop());
        loop {
            match self.poll_item(key, &mut cx) {
                Poll::Ready(Some((res, flags))) => {
                    data.release_item(res, flags);
                    self.recycle_provided(flags);
                }
                Poll::Ready(None) => return,
                Poll::Pending => break,
            }
        }
        self.orphan(key, data);
    }
}

#[cfg(test)]
mod tests {
    use crate::driver::shared_fd::{FdKind, SharedFd};
    use crate::driver::Driver;
    use crate::runtime::context;
    use crate::{Backend, Runtime};
    use std::future::Future;
    use std::io::Write;
    use std::os::unix::net::UnixStream;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::task::{Context, Wake, Waker};
    use std::time::Duration;

    struct CountWakes(AtomicUsize);

    impl Wake for CountWakes {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// A runtime on `backend` and a connected pair: our end as the loop's fd, and theirs.
    fn runtime_and_pair(backend: Backend) -> (Runtime, SharedFd, UnixStream) {
        let rt = Runtime::builder().backend(backend).build().unwrap_or_else(|e| {
            panic!("this test needs {backend:?}: {e} (set RINGLOOP_BACKEND=epoll to skip io_uring)")
        });
        let (ours, theirs) = UnixStream::pair().unwrap();
        ours.set_nonblocking(true).unwrap();
        (rt, SharedFd::new(ours.into(), FdKind::Stream), theirs)
    }

    /// Drops `op` as a destructor inside a dispatch would: with the driver borrowed.
    fn drop_mid_dispatch<T>(ctx: &crate::runtime::context::Context, op: T) {
        let borrowed = ctx.driver.borrow_mut();
        drop(op);
        drop(borrowed);
        assert_eq!(ctx.deferred.borrow().len(), 1, "the drop was deferred");
    }

    /// Lets a few turns pass, then checks the deferred drop reached the driver and the
    /// kernel's cancellation was collected.
    async fn turns_took_the_drop(ctx: &crate::runtime::context::Context) {
        crate::time::sleep(Duration::from_millis(20)).await;
        assert!(ctx.deferred.borrow().is_empty(), "a turn took the work");
        assert_eq!(
            ctx.driver.borrow().live_ops(),
            0,
            "the cancellation completed"
        );
    }

    /// An op dropped while the driver is borrowed (as from a destructor inside a dispatch)
    /// is handed to the driver after the turn: its waker and buffer are let go of, the
    /// kernel's late completion is collected, and a later edge wakes nobody.
    fn op_dropped_mid_dispatch(backend: Backend) {
        let (rt, fd, mut theirs) = runtime_and_pair(backend);
        let counter = Arc::new(CountWakes(AtomicUsize::new(0)));
        let waker = Waker::from(counter.clone());
        rt.block_on(async {
            let ctx = context::current().expect("inside the loop");
            let mut op = Box::pin(crate::op::recv::recv(&fd, vec![0u8; 64], 0));
            let first = op.as_mut().poll(&mut Context::from_waker(&waker));
            assert!(first.is_pending(), "nothing was sent yet");
            assert!(Arc::strong_count(&counter) > 2, "the driver keeps a waker");

            drop_mid_dispatch(&ctx, op);
            turns_took_the_drop(&ctx).await;
            assert_eq!(
                Arc::strong_count(&counter),
                2,
                "the driver let go of its waker"
            );

            theirs.write_all(b"late").unwrap();
            crate::time::sleep(Duration::from_millis(20)).await;
        })
        .unwrap();
        let wakes = counter.0.load(Ordering::SeqCst);
        assert_eq!(wakes, 0, "a dropped op woke its old waker");
    }

    /// The same for a multishot receive (io_uring; epoll has none): bytes it had queued go
    /// back to the ring and its cancellation completes.
    fn stream_dropped_mid_dispatch(backend: Backend) {
        let (rt, fd, mut theirs) = runtime_and_pair(backend);
        rt.block_on(async {
            let ctx = context::current().expect("inside the loop");
            let Some(stream) = crate::op::multishot::OpStream::recv(&fd).await else {
                // RINGLOOP_BACKEND may have put the "uring" test on epoll.
                let running = rt.backend();
                assert_eq!(
                    running,
                    Backend::Epoll,
                    "io_uring 6.0+ has multishot receive"
                );
                return;
            };
            let free = || match &*ctx.driver.borrow() {
                Driver::Uring(d) => d.provided_free().expect("a ring for multishot receives"),
                Driver::Epoll(_) => unreachable!("epoll has no multishot receive"),
            };
            let free_at_start = free();
            theirs.write_all(b"queued, never read").unwrap();
            crate::time::sleep(Duration::from_millis(20)).await;
            assert_eq!(free(), free_at_start - 1, "the kernel took a buffer");

            drop_mid_dispatch(&ctx, stream);
            turns_took_the_drop(&ctx).await;
            assert_eq!(free(), free_at_start, "the queued bytes' buffer went back");
        })
        .unwrap();
    }

    #[test]
    fn stream_dropped_mid_dispatch_uring() {
        stream_dropped_mid_dispatch(Backend::Uring);
    }

    #[test]
    fn stream_dropped_mid_dispatch_epoll() {
        stream_dropped_mid_dispatch(Backend::Epoll);
    }

    #[test]
    fn op_dropped_mid_dispatch_uring() {
        op_dropped_mid_dispatch(Backend::Uring);
    }

    #[test]
    fn op_dropped_mid_dispatch_epoll() {
        op_dropped_mid_dispatch(Backend::Epoll);
    }
}
