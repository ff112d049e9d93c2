//! The loop turn and `block_on`'s driving loop.

use super::builder::Builder;
use super::context::Context;
use super::stats::bump;
use crate::op::COOP_BUDGET;
use crate::task::cell::Task;
use std::future::Future;
use std::io;
use std::panic::Location;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll, Wake, Waker};
use std::time::{Duration, Instant};

/// The waker of the future given to `block_on`.
struct MainWaker {
    woken: AtomicBool,
    shared: Arc<super::shared::Shared>,
}

impl Wake for MainWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if !self.woken.swap(true, Ordering::SeqCst) {
            // From another thread the loop may be parked; poking is cheap on the loop thread.
            self.shared.poke();
        }
    }
}

pub(super) fn run_until_complete<F: Future>(
    ctx: &Context,
    config: &Builder,
    future: F,
) -> io::Result<F::Output> {
    let mut future = pin!(future);
    let main = Arc::new(MainWaker {
        woken: AtomicBool::new(true),
        shared: ctx.shared.clone(),
    });
    let waker = Waker::from(main.clone());
    let mut cx = TaskContext::from_waker(&waker);
    loop {
        if main.woken.swap(false, Ordering::SeqCst) {
            ctx.coop_budget.set(COOP_BUDGET);
            let started = poll_started(ctx);
            let polled = future.as_mut().poll(&mut cx);
            record_poll(ctx, started, None);
            if let Poll::Ready(value) = polled {
                return Ok(value);
            }
        }
        turn(ctx, config, &main.woken)?;
    }
}

/// One loop turn. `main_woken` says whether the `block_on` future wants polling.
fn turn(ctx: &Context, config: &Builder, main_woken: &AtomicBool) -> io::Result<()> {
    bump(&ctx.counters.turns);
    run_soon_callbacks(ctx);
    take_remote_work(ctx);
    run_ready_tasks(ctx, config.event_interval);
    let now_ns = fire_timers(ctx, config.timers_per_turn);
    release_orphans(ctx);

    let mut timeout = if work_ready(ctx, main_woken) {
        Some(Duration::ZERO)
    } else {
        timer_timeout(ctx, now_ns)
    };
    // Worth a spin only when the loop would otherwise block (a timer due now would not).
    if !config.spin_before_park.is_zero() && timeout != Some(Duration::ZERO) {
        match spin_for_work(ctx, config.spin_before_park, timeout, main_woken)? {
            Spin::FoundWork => return Ok(()),
            Spin::Spent(spent) => timeout = timeout.map(|t| t.saturating_sub(spent)),
        }
    }
    ctx.driver.borrow_mut().turn(timeout)?;
    release_orphans(ctx);
    Ok(())
}

/// Whether a task, the main future or remote work is waiting: the turn must not block.
fn work_ready(ctx: &Context, main_woken: &AtomicBool) -> bool {
    !ctx.run_queue.borrow().is_empty()
        || main_woken.load(Ordering::SeqCst)
        || ctx.shared.has_remote()
}

/// How a spin before parking ended.
enum Spin {
    /// A completion, a woken task or remote work turned up: the turn is over.
    FoundWork,
    /// Nothing turned up in this long: park, for what is left of the timeout.
    Spent(Duration),
}

/// Polls the driver without blocking for up to `spin` (never past `timeout`, the next
/// timer), so work that arrives shortly after the loop ran dry is picked up without the
/// cost of parking the thread and being woken (`Builder::spin_before_park`).
fn spin_for_work(
    ctx: &Context,
    spin: Duration,
    timeout: Option<Duration>,
    main_woken: &AtomicBool,
) -> io::Result<Spin> {
    let budget = timeout.map_or(spin, |t| t.min(spin));
    let start = Instant::now();
    loop {
        ctx.driver.borrow_mut().turn(Some(Duration::ZERO))?;
        release_orphans(ctx);
        if work_ready(ctx, main_woken) {
            bump(&ctx.counters.parks_avoided);
            return Ok(Spin::FoundWork);
        }
        let spent = start.elapsed();
        if spent >= budget {
            return Ok(Spin::Spent(spent));
        }
        std::hint::spin_loop();
    }
}

pub(super) fn take_remote_work(ctx: &Context) {
    let remote = ctx.shared.take_remote();
    if !remote.completions.is_empty() {
        let mut driver = ctx.driver.borrow_mut();
        for (key, res) in remote.completions {
            driver.complete_remote(key, res);
        }
    }
    for task in remote.tasks {
        task.header().state.clear_remote_queued();
        if task.header().never_linked() {
            ctx.owned.insert(task.clone());
        }
        if task.header().mark_queued() {
            ctx.run_queue.borrow_mut().push_back(task);
        } // else it is queued already (or finished): this reference is released here
    }
    for callback in remote.callbacks {
        run_callback(ctx, callback);
    }
}

/// Runs the callbacks queued before this turn (ones they queue wait for the next turn).
fn run_soon_callbacks(ctx: &Context) {
    let batch: Vec<_> = ctx.soon.borrow_mut().drain(..).collect();
    for callback in batch {
        run_callback(ctx, callback);
    }
}

fn run_callback(ctx: &Context, callback: impl FnOnce()) {
    let started = poll_started(ctx);
    if let Err(panic) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(callback)) {
        let message = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        eprintln!("ringloop: a call_soon callback panicked: {message}");
    }
    record_poll(ctx, started, None);
}

fn run_ready_tasks(ctx: &Context, limit: u32) {
    // With the stall detector on, one clock read per poll: each poll's end is the next
    // one's start (the queue pop in between is far below the clock's resolution). Off,
    // nothing is read.
    let mut started = poll_started(ctx);
    for _ in 0..limit {
        let Some(task) = ctx.run_queue.borrow_mut().pop_front() else {
            break;
        };
        let site = task.spawn_site();
        run_task(ctx, task);
        started = record_poll(ctx, started, Some(site));
    }
}

fn run_task(ctx: &Context, task: Task) {
    bump(&ctx.counters.tasks_polled);
    ctx.coop_budget.set(COOP_BUDGET);
    task.run(&ctx.owned);
}

/// The coarse time (ms) a poll starts, read only while the stall detector is on.
fn poll_started(ctx: &Context) -> u64 {
    if ctx.stall_threshold.is_some() {
        crate::sys::coarse_now_ms()
    } else {
        0
    }
}

/// Bookkeeping after a poll that began at `started` (ms); returns the time it read (0
/// with the stall detector off: then nothing is timed). Uses the coarse clock: it runs on
/// every poll, and a stall is measured in tens of milliseconds.
fn record_poll(ctx: &Context, started: u64, site: Option<&'static Location<'static>>) -> u64 {
    let Some(threshold) = ctx.stall_threshold else {
        return 0;
    };
    let now = crate::sys::coarse_now_ms();
    if now <= started {
        return now; // the common case: within one tick of the coarse clock
    }
    let took = Duration::from_millis(now - started);
    if took > ctx.counters.longest_poll.get() {
        ctx.counters.longest_poll.set(took);
    }
    if took > threshold {
        bump(&ctx.counters.stalls);
        match site {
            Some(site) => eprintln!(
                "ringloop: stall: a task spawned at {site} blocked the loop for {took:?} (threshold \
                 {threshold:?}); move blocking or CPU-heavy work to spawn_blocking"
            ),
            None => eprintln!(
                "ringloop: stall: the block_on future (or a callback) blocked the loop for {took:?} \
                 (threshold {threshold:?}); move blocking or CPU-heavy work to spawn_blocking"
            ),
        }
    }
    now
}

/// Fires due timers; returns the precise time it read (`None` with no timers armed), which
/// the same turn reuses for its sleep timeout.
fn fire_timers(ctx: &Context, limit: u32) -> Option<u64> {
    use crate::time::clock;
    let (now_ns, next) = {
        let mut wheel = ctx.timers.borrow_mut();
        let next = wheel.next_wake()?; // no timers: no clock read either
        let now_ns = clock::precise_now_ns();
        if wheel.has_pending() {
            // Sleeps made since the last check start now: this reading follows all of them.
            crate::time::sleep::start_pending(&mut wheel, now_ns);
            (now_ns, wheel.next_wake().unwrap_or(u64::MAX))
        } else {
            (now_ns, next)
        }
    };
    let now = clock::tick_of_now(now_ns);
    if next > now {
        return Some(now_ns);
    }
    let mut fired = Vec::new();
    {
        let mut wheel = ctx.timers.borrow_mut();
        wheel.advance(now);
        while fired.len() < limit as usize {
            let Some((_, waker)) = wheel.pop_expired() else {
                break;
            };
            fired.extend(waker);
        }
    }
    for waker in fired {
        bump(&ctx.counters.timers_fired);
        waker.wake();
    }
    Some(now_ns)
}

/// How long the driver may sleep before the next timer, measured from `now_ns` (read
/// earlier in this turn: being a little early only makes the sleep a little longer).
fn timer_timeout(ctx: &Context, now_ns: Option<u64>) -> Option<Duration> {
    use crate::time::clock;
    let tick = ctx.timers.borrow().next_wake()?;
    let at_ns = clock::tick_start_ns(tick)?;
    let now_ns = now_ns.unwrap_or_else(clock::precise_now_ns);
    Some(Duration::from_nanos(at_ns.saturating_sub(now_ns)))
}

/// Hands the driver the work destructors deferred during the turn, then frees the data of
/// cancelled ops whose completions arrived, now that the driver is not borrowed.
pub(super) fn release_orphans(ctx: &Context) {
    let deferred = std::mem::take(&mut *ctx.deferred.borrow_mut());
    let releases = {
        let mut driver = ctx.driver.borrow_mut();
        for work in deferred {
            driver.apply(work);
        }
        driver.take_releases()
    };
    for (data, res) in releases {
        data.release(res);
    }
}
