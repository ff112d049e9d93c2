//! Task wakers built straight on the task's `Arc`, so polling a task borrows its reference
//! instead of cloning it (one atomic increment and decrement saved per poll).

use super::cell::TaskCell;
use std::future::Future;
use std::mem::ManuallyDrop;
use std::sync::Arc;
use std::task::{RawWaker, RawWakerVTable, Waker};

struct Vtable<F>(std::marker::PhantomData<F>);

impl<F: Future + 'static> Vtable<F> {
    const VTABLE: RawWakerVTable =
        RawWakerVTable::new(clone::<F>, wake::<F>, wake_by_ref::<F>, drop_waker::<F>);
}

unsafe fn clone<F: Future + 'static>(ptr: *const ()) -> RawWaker {
    // SAFETY: `ptr` came from `Arc::as_ptr`/`into_raw` of a live TaskCell<F>; the new waker
    // owns the reference added here.
    unsafe { Arc::increment_strong_count(ptr as *const TaskCell<F>) };
    RawWaker::new(ptr, &Vtable::<F>::VTABLE)
}

unsafe fn wake<F: Future + 'static>(ptr: *const ()) {
    // SAFETY: a waker owns one reference (from `clone`); waking by value consumes it.
    let task = unsafe { Arc::from_raw(ptr as *const TaskCell<F>) };
    task.schedule();
}

unsafe fn wake_by_ref<F: Future + 'static>(ptr: *const ()) {
    // SAFETY: the waker's reference keeps the task alive for this call; ManuallyDrop leaves
    // the count untouched.
    let task = ManuallyDrop::new(unsafe { Arc::from_raw(ptr as *const TaskCell<F>) });
    TaskCell::wake_ref(&task);
}

unsafe fn drop_waker<F: Future + 'static>(ptr: *const ()) {
    // SAFETY: releases the reference this waker owned.
    unsafe { Arc::decrement_strong_count(ptr as *const TaskCell<F>) };
}

/// A waker that borrows `task`'s reference; it must not outlive `task` (cloning it takes a
/// reference of its own, so clones may).
pub(crate) fn borrowed<F: Future + 'static>(task: &Arc<TaskCell<F>>) -> ManuallyDrop<Waker> {
    let raw = RawWaker::new(Arc::as_ptr(task) as *const (), &Vtable::<F>::VTABLE);
    // SAFETY: the vtable matches the pointer's type; ManuallyDrop means dropping this
    // borrowed waker never releases a reference it does not own.
    ManuallyDrop::new(unsafe { Waker::from_raw(raw) })
}
