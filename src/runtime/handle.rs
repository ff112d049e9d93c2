//! `Handle`: spawning onto and waking a loop from any thread.

use super::context;
use super::shared::Shared;
use crate::task::JoinHandle;
use std::future::Future;
use std::io;
use std::panic::Location;
use std::sync::Arc;

/// A `Send + Clone` handle to a loop, for other threads.
///
/// ```
/// let rt = ringloop::Runtime::new()?;
/// let handle = rt.handle();
/// let worker = std::thread::spawn(move || handle.spawn(async { 2 + 2 }));
/// let join = worker.join().unwrap();
/// assert_eq!(rt.block_on(join)?.unwrap(), 4);
/// # std::io::Result::Ok(())
/// ```
#[derive(Clone)]
pub struct Handle {
    shared: Arc<Shared>,
}

impl Handle {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }

    /// The handle of the loop running on this thread, if any.
    pub fn try_current() -> Option<Handle> {
        context::with_current(|ctx| Handle::new(ctx.shared.clone()))
    }

    /// Spawns a `Send` future onto the loop from any thread; it wakes a parked loop.
    /// If the loop has shut down, the returned handle yields `JoinError::Cancelled`.
    #[track_caller]
    pub fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let site = Location::caller();
        let on_loop = context::current().filter(|ctx| ctx.shared.loop_id == self.shared.loop_id);
        if let Some(ctx) = on_loop {
            return super::spawn_on(&ctx, future, site);
        }
        let spawned = crate::task::cell::new_task(future, self.shared.loop_id.get(), site, false);
        if let Err(task) = self.shared.push_remote(spawned.queued) {
            // The loop has shut down and never saw this task: nobody else can reach its
            // (Send) future, so completing it as cancelled here is safe.
            task.shutdown(None);
        }
        JoinHandle::from_task(spawned.join)
    }

    /// Runs `callback` on the loop thread on its next turn (asyncio's
    /// `call_soon_threadsafe`). Fails if the loop has shut down.
    pub fn call_soon(&self, callback: impl FnOnce() + Send + 'static) -> io::Result<()> {
        if self.shared.push_callback(Box::new(callback)) {
            Ok(())
        } else {
            Err(io::Error::other(
                "the ringloop runtime this handle belongs to has shut down",
            ))
        }
    }

    /// Whether the loop has shut down.
    pub fn is_closed(&self) -> bool {
        self.shared.is_closed()
    }
}

impl std::fmt::Debug for Handle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handle")
            .field("loop_id", &self.shared.loop_id)
            .finish()
    }
}
