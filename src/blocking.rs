//! A bounded thread pool for work that would block the loop.
//!
//! Threads start on demand up to a limit and exit after idling for a while. The
//! epoll backend runs regular-file ops here (they never report `EAGAIN`), and
//! results come back to the loop through its remote queue and eventfd.

use std::collections::VecDeque;
use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

type Job = Box<dyn FnOnce() + Send>;

/// Default upper bound on pool threads.
pub(crate) const DEFAULT_THREADS: usize = 16;
const KEEP_ALIVE: Duration = Duration::from_secs(10);

#[derive(Default)]
struct PoolState {
    jobs: VecDeque<Job>,
    threads: usize,
    idle: usize,
    /// Jobs taken off the queue whose closures have not been dropped yet.
    running: usize,
    shutdown: bool,
}

struct PoolInner {
    state: Mutex<PoolState>,
    work: Condvar,
    /// Signalled when the last running job (and what it captured) is gone.
    drained: Condvar,
    max_threads: usize,
}

#[derive(Clone)]
pub(crate) struct BlockingPool {
    inner: Arc<PoolInner>,
}

impl BlockingPool {
    pub(crate) fn new(max_threads: usize) -> Self {
        Self {
            inner: Arc::new(PoolInner {
                state: Mutex::new(PoolState::default()),
                work: Condvar::new(),
                drained: Condvar::new(),
                max_threads: max_threads.max(1),
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, PoolState> {
        self.inner.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues `job`; starts a thread if none is idle and the limit allows.
    pub(crate) fn execute(&self, job: Job) -> io::Result<()> {
        let mut state = self.lock();
        if state.shutdown {
            return Err(io::Error::other(
                "the blocking pool has shut down with its runtime",
            ));
        }
        state.jobs.push_back(job);
        if state.idle > 0 {
            drop(state);
            self.inner.work.notify_one();
            return Ok(());
        }
        if state.threads >= self.inner.max_threads {
            return Ok(());
        }
        state.threads += 1;
        let spawned_alone = state.threads == 1;
        drop(state);
        let pool = self.clone();
        let spawned = std::thread::Builder::new()
            .name("ringloop-blocking".into())
            .spawn(move || pool.worker());
        if let Err(err) = spawned {
            let mut state = self.lock();
            state.threads -= 1;
            if spawned_alone {
                // No thread will ever run the job: take it back and report.
                state.jobs.pop_back();
                return Err(io::Error::new(
                    err.kind(),
                    format!("cannot start a blocking-pool thread: {err}"),
                ));
            }
        }
        Ok(())
    }

    fn worker(self) {
        let mut state = self.lock();
        loop {
            if let Some(job) = state.jobs.pop_front() {
                state.running += 1;
                drop(state);
                // A panicking job must not take the pool thread's bookkeeping down with it;
                // jobs report their own panics to their callers. The closure, and everything
                // it captured, is dropped inside this call.
                let _ = catch_unwind(AssertUnwindSafe(job));
                state = self.lock();
                state.running -= 1;
                if state.running == 0 && state.jobs.is_empty() {
                    self.inner.drained.notify_all();
                }
                continue;
            }
            if state.shutdown {
                break;
            }
            state.idle += 1;
            let (next, timeout) = self
                .inner
                .work
                .wait_timeout(state, KEEP_ALIVE)
                .unwrap_or_else(|e| e.into_inner());
            state = next;
            state.idle -= 1;
            if timeout.timed_out() && state.jobs.is_empty() {
                break;
            }
        }
        state.threads -= 1;
    }

    /// Lets queued jobs finish, then stops the threads as they go idle.
    pub(crate) fn shutdown(&self) {
        self.lock().shutdown = true;
        self.inner.work.notify_all();
    }

    /// Waits (at most `limit`) until no job is queued or running, so that nothing a job
    /// captured (such as a handle to the loop, which owns its eventfd) outlives the caller.
    pub(crate) fn wait_idle(&self, limit: Duration) -> bool {
        let deadline = std::time::Instant::now() + limit;
        let mut state = self.lock();
        while state.running > 0 || (!state.jobs.is_empty() && state.threads > 0) {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return false;
            }
            state = self
                .inner
                .drained
                .wait_timeout(state, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        true
    }

    #[cfg(test)]
    pub(crate) fn threads(&self) -> usize {
        self.lock().threads
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::mpsc;

    #[test]
    fn runs_many_jobs_on_few_threads() {
        let pool = BlockingPool::new(4);
        let done = Arc::new(AtomicUsize::new(0));
        let (tx, rx) = mpsc::channel();
        for _ in 0..1000 {
            let done = done.clone();
            let tx = tx.clone();
            pool.execute(Box::new(move || {
                if done.fetch_add(1, Ordering::SeqCst) == 999 {
                    tx.send(()).unwrap();
                }
            }))
            .unwrap();
        }
        rx.recv_timeout(Duration::from_secs(10))
            .expect("all jobs ran");
        assert!(pool.threads() <= 4);
    }

    #[test]
    fn survives_a_panicking_job_and_refuses_work_after_shutdown() {
        let pool = BlockingPool::new(1);
        pool.execute(Box::new(|| panic!("job panic"))).unwrap();
        let (tx, rx) = mpsc::channel();
        pool.execute(Box::new(move || tx.send(7).unwrap())).unwrap();
        assert_eq!(rx.recv_timeout(Duration::from_secs(10)).unwrap(), 7);
        pool.shutdown();
        assert!(pool.execute(Box::new(|| {})).is_err());
    }
}
