//! The task cell: one allocation holding the header, the join waker, and the future or
//! (once it finished) its output.

use super::join::JoinError;
use super::owned::OwnedTasks;
use super::raw::{release, Header, RawTask, Vtable};
use super::state::{State, CANCELLED, COMPLETE, JOIN_DROPPED, JOIN_WAKER, REF_ONE};
use std::alloc::Layout;
use std::any::Any;
use std::cell::UnsafeCell;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe, Location};
use std::pin::Pin;
use std::ptr::NonNull;
use std::task::{Context, Poll, Waker};

/// A runnable task, type-erased for the run queues.
pub(crate) type Task = RawTask;

enum Stage<F: Future> {
    Running(F),
    Finished(Result<F::Output, JoinError>),
    Consumed,
}

#[repr(C)]
struct TaskCell<F: Future> {
    header: Header,
    /// Written by the join handle while `JOIN_WAKER` is clear; read by the loop while set.
    join_waker: UnsafeCell<Option<Waker>>,
    stage: UnsafeCell<Stage<F>>,
}

/// A new task for `loop_id`: the references for the owned list (local spawns only), the
/// run queue, and the join handle, all counted at once.
pub(crate) struct Spawned {
    pub(crate) owned: Option<Task>,
    pub(crate) queued: Task,
    /// The join handle's reference: `JoinHandle::from_task` where it is returned (made
    /// here and moved out, the handle was stored and reloaded in mismatched pieces, a
    /// store-forwarding stall on every spawn).
    pub(crate) join: RawTask,
}

/// Allocates a task that is already marked queued: in the run queue when `local` (spawned
/// on its loop thread; it is then registered in the owned list right away, so it gets a
/// reference for that too), else in the remote queue.
pub(crate) fn new_task<F: Future + 'static>(
    future: F,
    loop_id: u64,
    site: &'static Location<'static>,
    local: bool,
) -> Spawned {
    let refs = if local { 3 } else { 2 };
    let memory = super::recycle::allocate(Layout::new::<TaskCell<F>>()).cast::<TaskCell<F>>();
    let cell = memory.as_ptr();
    // SAFETY: fresh memory with the cell's size and alignment. Written field by field, in
    // place: a whole cell built on the stack and then copied was stored and reloaded in
    // mismatched pieces, stalling store forwarding (the slowest part of a spawn).
    unsafe {
        std::ptr::addr_of_mut!((*cell).header).write(Header::new(
            State::new(refs, !local),
            vtable::<F>(),
            loop_id,
            local,
            site,
        ));
        std::ptr::addr_of_mut!((*cell).join_waker).write(UnsafeCell::new(None));
        std::ptr::addr_of_mut!((*cell).stage).write(UnsafeCell::new(Stage::Running(future)));
    }
    let ptr = memory.cast::<Header>();
    // SAFETY: the state word counts `refs` references; each handle below adopts one.
    unsafe {
        Spawned {
            owned: local.then(|| RawTask::from_counted(ptr)),
            queued: RawTask::from_counted(ptr),
            join: RawTask::from_counted(ptr),
        }
    }
}

fn vtable<F: Future + 'static>() -> &'static Vtable {
    struct For<F>(std::marker::PhantomData<F>);
    impl<F: Future + 'static> For<F> {
        const VTABLE: Vtable = Vtable {
            poll: poll::<F>,
            shutdown: shutdown::<F>,
            dealloc: dealloc::<F>,
            try_read_output: try_read_output::<F>,
            drop_join_handle: drop_join_handle::<F>,
        };
    }
    &For::<F>::VTABLE
}

/// # Safety
/// `ptr` must be the header of a live `TaskCell<F>`.
unsafe fn cell<'a, F: Future>(ptr: NonNull<Header>) -> &'a TaskCell<F> {
    // SAFETY: the header is the first field of a #[repr(C)] TaskCell<F> (caller's promise).
    unsafe { ptr.cast::<TaskCell<F>>().as_ref() }
}

fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_string()
    }
}

impl<F: Future> TaskCell<F> {
    /// Replaces the stage, catching a panic from the old future's destructor.
    ///
    /// # Safety
    /// Loop thread only, and nobody else may be using the stage (no COMPLETE published).
    unsafe fn replace_stage(&self, stage: Stage<F>) -> Option<Box<dyn Any + Send>> {
        // SAFETY: the caller guarantees exclusive access to the stage.
        let slot = unsafe { &mut *self.stage.get() };
        let old = std::mem::replace(slot, Stage::Consumed);
        let panic = catch_unwind(AssertUnwindSafe(|| drop(old))).err();
        *slot = stage;
        panic
    }

    /// Stores the output, publishes COMPLETE, hands the output over (or drops it) and
    /// wakes the joiner, then leaves the owned list. With `queue_ref`, also releases the
    /// run queue's reference (the caller's).
    ///
    /// In the common case (nobody waiting on the join handle, handle not dropped) setting
    /// COMPLETE and releasing the owned list's and the queue's references is a single
    /// atomic operation.
    ///
    /// # Safety
    /// Loop thread only; the future has been dropped (the stage is not `Running`).
    #[inline(always)]
    unsafe fn complete(
        &self,
        ptr: NonNull<Header>,
        output: Result<F::Output, JoinError>,
        queue_ref: bool,
        owned: Option<&OwnedTasks>,
    ) {
        // SAFETY: the output is written once, on the loop thread, before COMPLETE is
        // published; nobody reads the stage until they observe COMPLETE.
        unsafe { *self.stage.get() = Stage::Finished(output) };
        debug_assert!(owned.is_some() || self.header.never_linked());
        let owned = owned.and_then(|list| list.remove(ptr));
        let releases = usize::from(queue_ref) + usize::from(owned.is_some());
        // The owned list's reference is released below, with the others.
        owned.map(RawTask::into_raw);
        let state = &self.header.state;
        let mut word = state.load();
        while word & (JOIN_WAKER | JOIN_DROPPED) == 0 {
            let next = (word | COMPLETE) - releases * REF_ONE;
            match state.compare_exchange(word, next) {
                // The join handle still holds a reference, so this was not the last.
                Ok(_) => return,
                Err(actual) => word = actual,
            }
        }
        let prev = state.set(COMPLETE);
        if prev & JOIN_DROPPED != 0 {
            // SAFETY: the handle is gone and saw no COMPLETE: the output is ours alone.
            drop(unsafe { std::mem::replace(&mut *self.stage.get(), Stage::Consumed) });
        } else if prev & JOIN_WAKER != 0 {
            // SAFETY: JOIN_WAKER was set before COMPLETE, so the handle no longer writes
            // the slot (clearing the flag fails once COMPLETE is set): reading is safe.
            if let Some(waker) = unsafe { &*self.join_waker.get() } {
                waker.wake_by_ref();
            }
        }
        for _ in 0..releases {
            // SAFETY: each is a reference we hold (queue's, owned list's); the last frees.
            unsafe { release(ptr) };
        }
    }
}

/// # Safety
/// Vtable entry: `ptr` is a live `TaskCell<F>`; called on its loop thread with the run
/// queue's reference, which this releases.
unsafe fn poll<F: Future + 'static>(ptr: NonNull<Header>, owned: &OwnedTasks) {
    // SAFETY: the caller's reference keeps the cell alive for this call.
    let cell = unsafe { cell::<F>(ptr) };
    if !run(cell, ptr, owned) {
        // SAFETY: releases the run queue's reference, which the caller handed over.
        unsafe { release(ptr) };
    }
}

/// Polls once; `true` when the task completed and released the run queue's reference
/// (the cell may be gone then).
fn run<F: Future + 'static>(cell: &TaskCell<F>, ptr: NonNull<Header>, owned: &OwnedTasks) -> bool {
    let prev = cell.header.begin_poll();
    if prev & COMPLETE != 0 {
        return false;
    }
    if prev & CANCELLED != 0 {
        // SAFETY: loop thread, COMPLETE not published: the stage is ours.
        let panic = unsafe { cell.replace_stage(Stage::Consumed) };
        let error = panic.map_or(JoinError::Cancelled, |p| JoinError::Panicked {
            message: panic_message(&*p),
        });
        // SAFETY: the future is dropped; loop thread.
        unsafe { cell.complete(ptr, Err(error), true, Some(owned)) };
        return true;
    }
    let waker = super::waker::borrowed(ptr);
    let mut cx = Context::from_waker(&waker);
    // SAFETY: only the loop thread touches the stage before COMPLETE, and not re-entrantly.
    let Stage::Running(future) = (unsafe { &mut *cell.stage.get() }) else {
        return false;
    };
    // SAFETY: the future lives in the task allocation and never moves until dropped.
    let future = unsafe { Pin::new_unchecked(future) };
    let result = match catch_unwind(AssertUnwindSafe(|| future.poll(&mut cx))) {
        Ok(Poll::Pending) => return false,
        Ok(Poll::Ready(value)) => {
            // SAFETY: as above; the finished future is dropped here.
            drop(unsafe { cell.replace_stage(Stage::Consumed) });
            Ok(value)
        }
        Err(payload) => {
            let message = panic_message(&*payload);
            // SAFETY: as above.
            drop(unsafe { cell.replace_stage(Stage::Consumed) });
            Err(JoinError::Panicked { message })
        }
    };
    // SAFETY: the future is dropped; loop thread.
    unsafe { cell.complete(ptr, result, true, Some(owned)) };
    true
}

/// # Safety
/// Vtable entry: `ptr` is a live `TaskCell<F>`; on its loop thread (or for a `Send`
/// future whose loop is gone); releases the caller's reference.
unsafe fn shutdown<F: Future + 'static>(ptr: NonNull<Header>, owned: Option<&OwnedTasks>) {
    // SAFETY: the caller's reference keeps the cell alive.
    let cell = unsafe { cell::<F>(ptr) };
    if cell.header.state.load() & COMPLETE == 0 {
        // SAFETY: COMPLETE not published and we are the only thread running this task.
        drop(unsafe { cell.replace_stage(Stage::Consumed) });
        // SAFETY: the future is dropped.
        unsafe { cell.complete(ptr, Err(JoinError::Cancelled), false, owned) };
    }
    // SAFETY: releases the caller's reference, handed over with the call.
    unsafe { release(ptr) };
}

/// # Safety
/// Vtable entry: the last reference to the `TaskCell<F>` at `ptr` is gone.
unsafe fn dealloc<F: Future>(ptr: NonNull<Header>) {
    let cell = ptr.cast::<TaskCell<F>>();
    // SAFETY: written in `new_task` and unreachable now: drop it in place, then give the
    // memory back with the layout it was allocated with.
    unsafe {
        std::ptr::drop_in_place(cell.as_ptr());
        super::recycle::release(cell.cast(), Layout::new::<TaskCell<F>>());
    }
}

/// # Safety
/// Vtable entry: called by the task's join handle (which holds a reference) with `dst`
/// pointing at a `Poll<Result<F::Output, JoinError>>`.
unsafe fn try_read_output<F: Future>(ptr: NonNull<Header>, dst: *mut (), waker: &Waker) {
    // SAFETY: the handle's reference keeps the cell alive.
    let cell = unsafe { cell::<F>(ptr) };
    // SAFETY: only the join handle calls this, so the slot rules of state.rs apply.
    if unsafe { output_ready(cell, waker) } {
        // SAFETY: COMPLETE was observed (acquire) and the handle is the output's sole owner.
        let stage = unsafe { std::mem::replace(&mut *cell.stage.get(), Stage::Consumed) };
        let Stage::Finished(output) = stage else {
            panic!("JoinHandle polled again after it returned Ready");
        };
        // SAFETY: the caller passes a valid, writable Poll<Result<F::Output, JoinError>>.
        unsafe { *(dst as *mut Poll<Result<F::Output, JoinError>>) = Poll::Ready(output) };
    }
}

/// Whether the output is ready; if not, makes sure `waker` will be woken when it is.
///
/// # Safety
/// Join handle only (it alone writes the join waker slot, and only while JOIN_WAKER is clear).
unsafe fn output_ready<F: Future>(cell: &TaskCell<F>, waker: &Waker) -> bool {
    let state = &cell.header.state;
    let word = state.load();
    if word & COMPLETE != 0 {
        return true;
    }
    let slot = cell.join_waker.get();
    if word & JOIN_WAKER != 0 {
        // SAFETY: while JOIN_WAKER is set nobody writes the slot; reading is shared.
        if unsafe { &*slot }
            .as_ref()
            .is_some_and(|w| w.will_wake(waker))
        {
            return false;
        }
        if state.unset_join_waker().is_err() {
            return true;
        }
    }
    // SAFETY: JOIN_WAKER is clear, so the loop will not read the slot: it is ours to write.
    unsafe { *slot = Some(waker.clone()) };
    state.set_join_waker().is_err()
}

/// # Safety
/// Vtable entry: the join handle is dropped before taking the output; releases its
/// reference.
unsafe fn drop_join_handle<F: Future>(ptr: NonNull<Header>) {
    // SAFETY: the handle's reference keeps the cell alive until the release below.
    let cell = unsafe { cell::<F>(ptr) };
    if cell.header.state.set(JOIN_DROPPED) & COMPLETE != 0 {
        // SAFETY: COMPLETE came first, so the loop left the output to us; drop it before
        // releasing our reference (another release may free the task right after).
        drop(unsafe { std::mem::replace(&mut *cell.stage.get(), Stage::Consumed) });
    }
    // SAFETY: the handle's reference, handed over with the call.
    unsafe { release(ptr) };
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::task::raw::MAX_LOOP_ID;

    #[test]
    fn a_sleeping_task_fits_a_112_byte_chunk() {
        assert_eq!(std::mem::size_of::<Header>(), 48);
        let cell = Layout::new::<TaskCell<crate::time::Sleep>>();
        assert_eq!(
            cell.size(),
            104,
            "104 bytes + glibc's 8-byte size word = 112"
        );
    }

    #[test]
    fn the_header_keeps_all_48_bits_of_the_loop_id() {
        for loop_id in [1, u64::from(u32::MAX), u64::from(u32::MAX) + 1, MAX_LOOP_ID] {
            let spawned = new_task(async {}, loop_id, Location::caller(), false);
            assert_eq!(spawned.queued.header().loop_id(), loop_id);
            assert!(spawned.owned.is_none());
            drop(spawned.queued);
            drop(spawned.join);
        }
    }
}
