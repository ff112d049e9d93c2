//! Dropping a runtime: cancel every task on this thread, then wait (bounded) for the
//! kernel to finish with the buffers of cancelled ops before freeing them.

use super::context::{self, Context};
use super::turn::{release_orphans, take_remote_work};
use std::rc::Rc;
use std::time::{Duration, Instant};

pub(super) fn shutdown(ctx: &Rc<Context>, grace: Duration) {
    // Make the context current so destructors that spawn or sleep find their loop.
    let guard = context::enter(ctx).ok();
    let queued = ctx.shared.close();
    for task in queued.tasks {
        task.shutdown(Some(&ctx.owned));
    }
    drop(queued.callbacks);
    drop(std::mem::take(&mut *ctx.soon.borrow_mut()));
    // Dropping futures can wake or spawn other tasks; repeat until nothing is left.
    for _ in 0..1000 {
        let owned = ctx.owned.take_all();
        let queued: Vec<_> = ctx.run_queue.borrow_mut().drain(..).collect();
        if owned.is_empty() && queued.is_empty() {
            break;
        }
        for task in owned {
            task.shutdown(Some(&ctx.owned));
        }
        drop(queued);
        release_orphans(ctx);
    }
    ctx.shared.pool.shutdown();

    let deadline = Instant::now() + grace;
    while ctx.driver.borrow().live_ops() > 0 && Instant::now() < deadline {
        take_remote_work(ctx);
        let waited = ctx
            .driver
            .borrow_mut()
            .turn(Some(Duration::from_millis(10)));
        release_orphans(ctx);
        if waited.is_err() {
            break;
        }
    }
    // Pool jobs hold a handle to this loop until their closures are dropped; wait for them
    // so the loop's descriptors close before the runtime's drop returns.
    let remaining = deadline.saturating_duration_since(Instant::now());
    if !ctx
        .shared
        .pool
        .wait_idle(remaining.max(Duration::from_millis(100)))
    {
        eprintln!("ringloop: blocking-pool jobs still running at shutdown; they keep the loop's eventfd open until they end");
    }
    // Ops whose drop was deferred since the last turn join the orphans first, so they are
    // abandoned (never freed under the kernel) rather than dropped with the context.
    release_orphans(ctx);
    let abandoned = ctx.driver.borrow_mut().abandon_orphans();
    if abandoned > 0 {
        eprintln!(
            "ringloop: {abandoned} cancelled op(s) did not complete within {grace:?} of shutdown; their \
             buffers are leaked rather than freed while the kernel may still use them"
        );
    }
    drop(guard);
}
