//! Task wakers, built straight on the task header: one vtable for every task type, since
//! waking only needs the state word and the loop id. Polling a task lends it a waker that
//! borrows the run queue's reference, so a poll costs no reference-count traffic.

use super::raw::{release, Header, RawTask};
use std::mem::ManuallyDrop;
use std::ptr::NonNull;
use std::task::{RawWaker, RawWakerVTable, Waker};

static VTABLE: RawWakerVTable = RawWakerVTable::new(clone, wake, wake_by_ref, drop_waker);

/// # Safety
/// `ptr` must be the header of a task the caller holds a reference to.
unsafe fn header<'a>(ptr: *const ()) -> &'a Header {
    // SAFETY: the caller's reference keeps the task alive.
    unsafe { &*(ptr as *const Header) }
}

unsafe fn clone(ptr: *const ()) -> RawWaker {
    // SAFETY: a waker holds (or borrows) a reference, so the task is live; the new waker
    // owns the reference added here.
    unsafe { header(ptr) }.state.ref_inc();
    RawWaker::new(ptr, &VTABLE)
}

unsafe fn wake(ptr: *const ()) {
    // SAFETY: a waker owns one reference; waking by value consumes it.
    unsafe { RawTask::from_counted(NonNull::new_unchecked(ptr as *mut Header)) }.wake();
}

unsafe fn wake_by_ref(ptr: *const ()) {
    // SAFETY: the waker's reference keeps the task alive for this call; ManuallyDrop
    // lends it without releasing it.
    let task = ManuallyDrop::new(unsafe {
        RawTask::from_counted(NonNull::new_unchecked(ptr as *mut Header))
    });
    task.wake_by_ref();
}

unsafe fn drop_waker(ptr: *const ()) {
    // SAFETY: releases the reference this waker owned.
    unsafe { release(NonNull::new_unchecked(ptr as *mut Header)) };
}

/// A waker that borrows the caller's reference to the task at `ptr`; it must not outlive
/// that reference (cloning it takes a reference of its own, so clones may).
pub(crate) fn borrowed(ptr: NonNull<Header>) -> ManuallyDrop<Waker> {
    let raw = RawWaker::new(ptr.as_ptr() as *const (), &VTABLE);
    // SAFETY: the vtable matches the pointer; ManuallyDrop means dropping this borrowed
    // waker never releases a reference it does not own.
    ManuallyDrop::new(unsafe { Waker::from_raw(raw) })
}
