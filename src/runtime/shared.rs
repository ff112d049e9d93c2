//! The part of a loop that other threads may touch: the remote queue and the wake eventfd.

use crate::blocking::BlockingPool;
use crate::driver::lifecycle::RawResult;
use crate::driver::user_data::OpKey;
use crate::sys::EventFd;
use crate::task::cell::Task;
use std::io;
use std::num::NonZeroU64;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

/// A plain callback sent from another thread (`Handle::call_soon`).
pub(crate) type Callback = Box<dyn FnOnce() + Send>;

#[derive(Default)]
pub(crate) struct Remote {
    pub(crate) tasks: Vec<Task>,
    pub(crate) callbacks: Vec<Callback>,
    /// Results of ops that ran on the blocking pool (epoll backend).
    pub(crate) completions: Vec<(OpKey, RawResult)>,
}

pub(crate) struct Shared {
    /// Starts at 1, so a `(loop id, key)` pair fits two registers (see `time::sleep`).
    pub(crate) loop_id: NonZeroU64,
    remote: Mutex<Remote>,
    closed: AtomicBool,
    has_remote: AtomicBool,
    /// Set while the loop is (about to be) blocked in the kernel; remote pushes must notify.
    parked: AtomicBool,
    pub(crate) eventfd: EventFd,
    pub(crate) pool: BlockingPool,
    pub(crate) remote_wakes: AtomicU64,
}

static NEXT_LOOP_ID: AtomicU64 = AtomicU64::new(1);

/// The live loops, for wakes from other threads: a task records only its loop's id (no
/// reference count to maintain per task), and a wake off the loop thread, which costs a
/// lock and an eventfd write anyway, finds the loop here.
static LOOPS: Mutex<Vec<(u64, Weak<Shared>)>> = Mutex::new(Vec::new());

/// Makes `shared` findable by [`lookup_loop`] until it closes.
pub(crate) fn register_loop(shared: &Arc<Shared>) {
    let mut loops = LOOPS.lock().unwrap_or_else(|e| e.into_inner());
    loops.retain(|(_, weak)| weak.strong_count() > 0);
    loops.push((shared.loop_id.get(), Arc::downgrade(shared)));
}

/// The loop with this id, unless it has shut down.
pub(crate) fn lookup_loop(loop_id: u64) -> Option<Arc<Shared>> {
    let loops = LOOPS.lock().unwrap_or_else(|e| e.into_inner());
    let (_, weak) = loops.iter().find(|(id, _)| *id == loop_id)?;
    weak.upgrade()
}

fn unregister_loop(loop_id: u64) {
    let mut loops = LOOPS.lock().unwrap_or_else(|e| e.into_inner());
    loops.retain(|(id, weak)| *id != loop_id && weak.strong_count() > 0);
}

impl Shared {
    pub(crate) fn new(pool_threads: usize) -> io::Result<Self> {
        // Counting from 1, the id is never 0. Task headers keep 48 bits of it (see
        // `task::raw::Header`): 2^48 loops, at a few microseconds each, take decades to
        // create, but the limit is still an error rather than a wrapped, shared id.
        let id = NEXT_LOOP_ID.fetch_add(1, Ordering::Relaxed);
        let loop_id = NonZeroU64::new(id)
            .filter(|id| id.get() <= crate::task::raw::MAX_LOOP_ID)
            .ok_or_else(|| {
                io::Error::other(
                    "this process has created 2^48 event loops: loop ids are exhausted",
                )
            })?;
        Ok(Self {
            loop_id,
            remote: Mutex::new(Remote::default()),
            closed: AtomicBool::new(false),
            has_remote: AtomicBool::new(false),
            parked: AtomicBool::new(false),
            eventfd: EventFd::new()?,
            pool: BlockingPool::new(pool_threads),
            remote_wakes: AtomicU64::new(0),
        })
    }

    fn with_remote(&self, even_when_closed: bool, f: impl FnOnce(&mut Remote)) -> bool {
        let mut remote = self.remote.lock().unwrap_or_else(|e| e.into_inner());
        if !even_when_closed && self.closed.load(Ordering::Acquire) {
            return false;
        }
        f(&mut remote);
        self.has_remote.store(true, Ordering::SeqCst);
        drop(remote);
        self.notify();
        true
    }

    /// Queues a task woken (or spawned) from outside the loop thread; gives it back if the
    /// loop has shut down.
    pub(crate) fn push_remote(&self, task: Task) -> Result<(), Task> {
        let mut task = Some(task);
        self.with_remote(false, |r| r.tasks.extend(task.take()));
        task.map_or(Ok(()), Err)
    }

    /// Queues a callback; `false` if the loop has shut down.
    pub(crate) fn push_callback(&self, callback: Callback) -> bool {
        let mut callback = Some(callback);
        self.with_remote(false, |r| r.callbacks.extend(callback.take()))
    }

    /// Blocking-pool results are accepted even while the loop shuts down: it waits for them
    /// before freeing the buffers those ops wrote into.
    pub(crate) fn push_completion(&self, key: OpKey, res: RawResult) {
        self.with_remote(true, |r| r.completions.push((key, res)));
    }

    /// Wakes the loop if it is parked in the kernel.
    pub(crate) fn notify(&self) {
        if self.parked.load(Ordering::SeqCst) {
            self.remote_wakes.fetch_add(1, Ordering::Relaxed);
            self.eventfd.notify();
        }
    }

    /// Called by the loop before blocking; `false` means work arrived and it must not block.
    pub(crate) fn park(&self) -> bool {
        self.parked.store(true, Ordering::SeqCst);
        if self.has_remote.load(Ordering::SeqCst) {
            self.parked.store(false, Ordering::SeqCst);
            return false;
        }
        true
    }

    pub(crate) fn unpark(&self) {
        self.parked.store(false, Ordering::SeqCst);
    }

    pub(crate) fn has_remote(&self) -> bool {
        self.has_remote.load(Ordering::SeqCst)
    }

    pub(crate) fn take_remote(&self) -> Remote {
        if !self.has_remote.swap(false, Ordering::SeqCst) {
            return Remote::default();
        }
        let mut remote = self.remote.lock().unwrap_or_else(|e| e.into_inner());
        std::mem::take(&mut *remote)
    }

    /// Refuses further remote work and returns what was queued.
    pub(crate) fn close(&self) -> Remote {
        let mut remote = self.remote.lock().unwrap_or_else(|e| e.into_inner());
        self.closed.store(true, Ordering::Release);
        unregister_loop(self.loop_id.get());
        Remote {
            tasks: std::mem::take(&mut remote.tasks),
            callbacks: std::mem::take(&mut remote.callbacks),
            completions: Vec::new(),
        }
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }
}

impl Shared {
    /// Makes a parked (or about to park) loop take another turn.
    pub(crate) fn poke(&self) {
        self.has_remote.store(true, Ordering::SeqCst);
        self.notify();
    }
}
