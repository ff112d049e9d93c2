//! The runtime: one loop on one thread.
//!
//! One turn of the loop:
//! 1. take work other threads queued (spawns, wakes, callbacks, blocking-pool results);
//! 2. poll up to `event_interval` ready tasks;
//! 3. fire due timers (a bounded number);
//! 4. one kernel call that submits queued ops and waits for completions, with the next
//!    timer deadline as its timeout (zero when tasks are still ready).

mod builder;
pub(crate) mod context;
mod handle;
pub(crate) mod shared;
mod shutdown;
pub(crate) mod stats;
mod turn;

pub use builder::Builder;
pub use handle::Handle;
pub use stats::Stats;

use crate::driver::epoll::EpollDriver;
use crate::driver::uring::UringDriver;
use crate::driver::{Backend, Driver};
use crate::task::JoinHandle;
use context::Context;
use shared::Shared;
use std::future::Future;
use std::io;
use std::panic::Location;
use std::rc::Rc;
use std::sync::Arc;

/// An event loop bound to the thread that built it (it is `!Send`).
///
/// ```
/// let rt = ringloop::Runtime::new()?;
/// let answer = rt.block_on(async {
///     ringloop::time::sleep(std::time::Duration::from_millis(5)).await;
///     42
/// })?;
/// assert_eq!(answer, 42);
/// println!("ran on {}", rt.backend());
/// # std::io::Result::Ok(())
/// ```
pub struct Runtime {
    ctx: Rc<Context>,
    fallback_reason: Option<String>,
    config: Builder,
}

impl Runtime {
    /// A runtime with default settings (`Backend::Auto`).
    pub fn new() -> io::Result<Runtime> {
        Builder::new().build()
    }

    /// A builder to configure a runtime.
    pub fn builder() -> Builder {
        Builder::new()
    }

    fn from_builder(config: Builder) -> io::Result<Runtime> {
        let shared = Arc::new(Shared::new(config.blocking_threads)?);
        shared::register_loop(&shared);
        let mut fallback_reason = None;
        let driver = match config.backend {
            Backend::Uring => Driver::Uring(UringDriver::new(config.ring_entries, shared.clone())?),
            Backend::Epoll => Driver::Epoll(EpollDriver::new(shared.clone())?),
            Backend::Auto => match UringDriver::new(config.ring_entries, shared.clone()) {
                Ok(driver) => Driver::Uring(driver),
                Err(err) => {
                    let reason = err.to_string();
                    if config.log_fallback {
                        eprintln!("ringloop: falling back to epoll: {reason}");
                    }
                    fallback_reason = Some(reason);
                    Driver::Epoll(EpollDriver::new(shared.clone())?)
                }
            },
        };
        let ctx = Rc::new(Context::new(shared, driver, config.stall_threshold));
        Ok(Runtime {
            ctx,
            fallback_reason,
            config,
        })
    }

    /// Runs `future` to completion on this thread, running spawned tasks, timers and I/O
    /// meanwhile (asyncio's `loop.run_until_complete`).
    ///
    /// Fails, without running anything, when called from inside a running loop on this
    /// thread: like asyncio's "cannot be called from a running event loop". Inside a loop,
    /// `.await` the future, or [`spawn`] it.
    pub fn block_on<F: Future>(&self, future: F) -> io::Result<F::Output> {
        let Ok(_guard) = context::enter(&self.ctx) else {
            return Err(nested_block_on());
        };
        turn::run_until_complete(&self.ctx, &self.config, future)
    }

    /// Spawns a task onto this runtime; it runs during `block_on`.
    #[track_caller]
    pub fn spawn<F: Future + 'static>(&self, future: F) -> JoinHandle<F::Output> {
        spawn_on(&self.ctx, future, Location::caller())
    }

    /// A `Send + Clone` handle for other threads to spawn onto and wake this loop.
    pub fn handle(&self) -> Handle {
        Handle::new(self.ctx.shared.clone())
    }

    /// The backend in use (`Uring` or `Epoll`; never `Auto`).
    pub fn backend(&self) -> Backend {
        self.ctx.driver.borrow().backend()
    }

    /// Why `Backend::Auto` fell back to epoll, if it did.
    pub fn fallback_reason(&self) -> Option<&str> {
        self.fallback_reason.as_deref()
    }

    /// A one-line description of the driver (backend, ring mode, sizes).
    pub fn describe(&self) -> String {
        self.ctx.driver.borrow().describe()
    }

    /// Counters of what the loop has done so far.
    pub fn stats(&self) -> Stats {
        let remote_wakes = self
            .ctx
            .shared
            .remote_wakes
            .load(std::sync::atomic::Ordering::Relaxed);
        Stats::collect(
            &self.ctx.counters,
            self.ctx.driver.borrow().counters(),
            remote_wakes,
        )
    }

    /// Tasks spawned on this runtime that have not finished.
    pub fn live_tasks(&self) -> usize {
        self.ctx.owned.len()
    }

    /// Timers armed on the wheel (sleeps and timeouts not yet fired or dropped).
    pub fn live_timers(&self) -> usize {
        self.ctx.timers.borrow().len()
    }

    /// Ops still in flight (including cancelled ones awaiting their completion).
    pub fn live_ops(&self) -> usize {
        self.ctx.driver.borrow().live_ops()
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        shutdown::shutdown(&self.ctx, self.config.shutdown_grace);
    }
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("backend", &self.backend())
            .finish()
    }
}

fn nested_block_on() -> io::Error {
    io::Error::other(
        "block_on cannot be called from a running ringloop loop on the same thread (it would \
         block the loop it runs on): .await the future instead, or ringloop::spawn it",
    )
}

pub(crate) fn spawn_on<F: Future + 'static>(
    ctx: &Context,
    future: F,
    site: &'static Location<'static>,
) -> JoinHandle<F::Output> {
    JoinHandle::from_task(spawn_raw(ctx, future, site))
}

/// Spawns onto `ctx`'s loop; returns the join handle's reference (the caller builds the
/// handle where it returns it: see `Spawned::join`).
fn spawn_raw<F: Future + 'static>(
    ctx: &Context,
    future: F,
    site: &'static Location<'static>,
) -> crate::task::cell::Task {
    let spawned = crate::task::cell::new_task(future, ctx.shared.loop_id.get(), site, true);
    if let Some(owned) = spawned.owned {
        ctx.owned.insert(owned);
    }
    stats::bump(&ctx.counters.tasks_spawned);
    ctx.run_queue.borrow_mut().push_back(spawned.queued);
    spawned.join
}

/// Spawns a task on the loop running on this thread (asyncio's `create_task`).
///
/// The future need not be `Send`: it runs on this thread only.
///
/// # Panics
/// When no ringloop loop is running on this thread; use [`Handle::spawn`] from other threads.
///
/// ```
/// ringloop::run(async {
///     let a = ringloop::spawn(async { 1 });
///     let b = ringloop::spawn(async { 2 });
///     assert_eq!(a.await.unwrap() + b.await.unwrap(), 3);
/// }).unwrap();
/// ```
#[track_caller]
pub fn spawn<F: Future + 'static>(future: F) -> JoinHandle<F::Output> {
    let site = Location::caller();
    // Borrows the current context rather than cloning its `Rc`.
    let Some(join) = context::with_current(|ctx| spawn_raw(ctx, future, site)) else {
        panic!(
            "ringloop::spawn called with no loop running on this thread: call it inside \
             ringloop::run(...) / Runtime::block_on(...), or use Runtime::spawn or Handle::spawn"
        );
    };
    JoinHandle::from_task(join)
}

/// Runs `callback` on this thread's loop at the start of its next turn (asyncio's
/// `loop.call_soon`). Callbacks run in the order they were queued; a panic in one is
/// reported and does not stop the loop.
///
/// # Panics
/// When no ringloop loop is running on this thread; use [`Handle::call_soon`] from
/// other threads.
///
/// ```
/// ringloop::run(async {
///     let hit = std::rc::Rc::new(std::cell::Cell::new(false));
///     let h2 = hit.clone();
///     ringloop::call_soon(move || h2.set(true));
///     assert!(!hit.get());
///     ringloop::yield_now().await;
///     assert!(hit.get());
/// }).unwrap();
/// ```
pub fn call_soon(callback: impl FnOnce() + 'static) {
    if call_soon_local(callback).is_err() {
        panic!("ringloop::call_soon called with no loop running on this thread; use Handle::call_soon from other threads");
    }
}

/// Queues `callback` for the next turn of this thread's loop; gives it back if none runs.
pub(crate) fn call_soon_local<F: FnOnce() + 'static>(callback: F) -> Result<(), F> {
    let mut callback = Some(callback);
    context::with_current(|ctx| {
        if let Some(cb) = callback.take() {
            ctx.soon.borrow_mut().push_back(Box::new(cb));
        }
    });
    match callback {
        None => Ok(()),
        Some(cb) => Err(cb),
    }
}

/// Builds a default runtime and runs `future` on it (asyncio's `asyncio.run`).
///
/// ```
/// let out = ringloop::run(async { "done" }).unwrap();
/// assert_eq!(out, "done");
/// ```
pub fn run<F: Future>(future: F) -> io::Result<F::Output> {
    if context::is_entered() {
        return Err(nested_block_on());
    }
    Runtime::new()?.block_on(future)
}
