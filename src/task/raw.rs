//! The type-erased task: a header at the start of every task allocation, a vtable of the
//! operations that need the future's type, and `RawTask`, an owned reference to one.
//!
//! A hand-rolled reference count (in the state word, see `state.rs`) instead of `Arc`
//! lets a spawn start with all three of its references (owned list, run queue, join
//! handle) in one plain store, and lets a wake check and set its bits without cloning.

use super::owned::{Links, OwnedTasks};
use super::state::{State, COMPLETE, REMOTE_QUEUED};
use crate::runtime::context;
use std::panic::Location;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::task::Waker;

/// What only the typed cell knows how to do. Every function takes the header pointer of a
/// live task; none of them releases the caller's reference unless it says so.
pub(crate) struct Vtable {
    /// Polls the task once (loop thread only; the list is its loop's).
    pub(crate) poll: unsafe fn(NonNull<Header>, &OwnedTasks),
    /// Drops the future unpolled and completes the task as cancelled (with its loop's
    /// list; none only for a task that was never linked).
    pub(crate) shutdown: unsafe fn(NonNull<Header>, Option<&OwnedTasks>),
    /// Frees the allocation (the last reference is gone).
    pub(crate) dealloc: unsafe fn(NonNull<Header>),
    /// Join side: writes `Poll<Result<T, JoinError>>` to the pointer if the output is ready,
    /// else registers the waker.
    pub(crate) try_read_output: unsafe fn(NonNull<Header>, *mut (), &Waker),
    /// Join side: the handle is dropped before taking the output.
    pub(crate) drop_join_handle: unsafe fn(NonNull<Header>),
}

/// The first field of every task cell (`#[repr(C)]`), so a header pointer is a cell pointer.
pub(crate) struct Header {
    pub(crate) state: State,
    pub(crate) vtable: &'static Vtable,
    /// The loop the task belongs to (remote wakes find it through the loop registry), as a
    /// 48-bit id in two parts: with the two one-byte flags below they fill one word, and
    /// the header is 48 bytes (a cell with a 40-byte future fits a 112-byte malloc chunk
    /// instead of 128: one page fault in eight fewer for a million sleeping tasks).
    loop_id_low: u32,
    loop_id_high: u16,
    /// Links in the loop's owned-task list (loop thread only).
    pub(crate) owned: Links,
    /// Never linked, linked or left the owned list (see `owned.rs`; loop thread only).
    pub(crate) owned_membership: AtomicU8,
    /// In the loop thread's run queue (loop thread only; an atomic for `Sync`, used with
    /// relaxed plain loads and stores). Remote wakes use `REMOTE_QUEUED` in the state word.
    pub(crate) queued: AtomicBool,
    /// Where `spawn` was called, for the stall detector.
    pub(crate) site: &'static Location<'static>,
}

/// Loop ids fit 48 bits (see `Header`); `Shared::new` hands out no larger one.
pub(crate) const MAX_LOOP_ID: u64 = (1 << 48) - 1;

impl Header {
    /// The header of a new task of loop `loop_id` (at most [`MAX_LOOP_ID`]).
    pub(crate) fn new(
        state: State,
        vtable: &'static Vtable,
        loop_id: u64,
        queued: bool,
        site: &'static Location<'static>,
    ) -> Header {
        debug_assert!(loop_id <= MAX_LOOP_ID);
        Header {
            state,
            vtable,
            loop_id_low: loop_id as u32,
            loop_id_high: (loop_id >> 32) as u16,
            owned: Links::default(),
            owned_membership: super::owned::never_linked_membership(),
            queued: AtomicBool::new(queued),
            site,
        }
    }

    pub(crate) fn loop_id(&self) -> u64 {
        (u64::from(self.loop_id_high) << 32) | u64::from(self.loop_id_low)
    }

    /// Marks the task as in the run queue unless it already is or has completed; `true`
    /// when the caller must push it. Loop thread only.
    pub(crate) fn mark_queued(&self) -> bool {
        if self.queued.load(Ordering::Relaxed) || self.state.load() & COMPLETE != 0 {
            return false;
        }
        self.queued.store(true, Ordering::Relaxed);
        true
    }

    /// Leaves the run queue just before a poll, so that wakes during the poll queue the
    /// task again; returns the state word. Loop thread only.
    pub(crate) fn begin_poll(&self) -> usize {
        self.queued.store(false, Ordering::Relaxed);
        self.state.load()
    }
}

/// One counted reference to a task; dropping it releases the reference.
pub(crate) struct RawTask {
    ptr: NonNull<Header>,
}

// SAFETY: a RawTask only touches the header's atomics from any thread; the future is
// polled or dropped only through `run`/`shutdown`, which the runtime calls on the task's
// own loop thread (or, for a loop that is gone, only for remote-spawned `Send` futures).
unsafe impl Send for RawTask {}
// SAFETY: as above; shared access is to atomics only.
unsafe impl Sync for RawTask {}

impl RawTask {
    /// Adopts one reference already counted in the state word.
    ///
    /// # Safety
    /// `ptr` must be a live task header, and the caller must own the reference it hands over.
    pub(crate) unsafe fn from_counted(ptr: NonNull<Header>) -> Self {
        Self { ptr }
    }

    pub(crate) fn header(&self) -> &Header {
        // SAFETY: this reference keeps the allocation alive.
        unsafe { self.ptr.as_ref() }
    }

    /// Gives up this reference without releasing it (the caller takes it over).
    pub(crate) fn into_raw(self) -> NonNull<Header> {
        let ptr = self.ptr;
        std::mem::forget(self);
        ptr
    }

    pub(crate) fn spawn_site(&self) -> &'static Location<'static> {
        self.header().site
    }

    /// Polls the task once, consuming the run queue's reference. Loop thread only.
    pub(crate) fn run(self, owned: &OwnedTasks) {
        let poll = self.header().vtable.poll;
        // SAFETY: the runtime calls run only on the task's loop thread, with a live task;
        // `poll` releases the reference `into_raw` hands it.
        unsafe { poll(self.into_raw(), owned) }
    }

    /// Drops the future and completes the task as cancelled. Loop thread only (or a
    /// remote-spawned `Send` task whose loop is gone).
    pub(crate) fn shutdown(self, owned: Option<&OwnedTasks>) {
        let shutdown = self.header().vtable.shutdown;
        // SAFETY: as for `run`.
        unsafe { shutdown(self.into_raw(), owned) }
    }

    /// Wakes the task, consuming this reference: queues it on its loop unless it is queued
    /// already or has completed. On the loop's own thread that is the run queue, with plain
    /// flag updates; elsewhere the loop's remote queue.
    pub(crate) fn wake(self) {
        let loop_id = self.header().loop_id();
        let mut task = Some(self);
        let _unneeded = context::with_run_queue(loop_id, |queue| {
            let task = task.take()?;
            if task.header().mark_queued() {
                queue.push_back(task);
                return None;
            }
            Some(task) // released after the queue's borrow ends
        });
        if let Some(task) = task {
            task.wake_remote();
        }
    }

    /// Wakes the task, taking a new reference if it must be queued (see `wake`).
    pub(crate) fn wake_by_ref(&self) {
        let header = self.header();
        let local = context::with_run_queue(header.loop_id(), |queue| {
            if header.mark_queued() {
                queue.push_back(self.clone());
            }
        });
        if local.is_none() && needs_remote_queue(header) {
            self.clone().push_remote();
        }
    }

    fn wake_remote(self) {
        if needs_remote_queue(self.header()) {
            self.push_remote();
        }
    }

    /// If the loop has shut down, the wake is dropped: shutdown completes every task the
    /// loop knew of (owned or queued) on the loop thread itself, so nothing is left to run,
    /// and a future must never be dropped here, off its thread.
    fn push_remote(self) {
        if let Some(shared) = crate::runtime::shared::lookup_loop(self.header().loop_id()) {
            let _ = shared.push_remote(self);
        }
    }
}

/// Whether a remote wake must queue the task (a cheap load before the locked operation).
fn needs_remote_queue(header: &Header) -> bool {
    header.state.load() & (REMOTE_QUEUED | COMPLETE) == 0 && header.state.try_queue_remote()
}

impl RawTask {
    /// Join side: writes the output to `dst` (a `Poll<Result<T, JoinError>>` for the task's
    /// output type `T`) when it is ready, else registers `waker`.
    pub(crate) fn read_output(&self, dst: *mut (), waker: &Waker) {
        // SAFETY: only the task's JoinHandle calls this, with a `dst` of the matching type.
        unsafe { (self.header().vtable.try_read_output)(self.ptr, dst, waker) }
    }

    /// Join side: the handle is gone without taking the output; consumes its reference.
    pub(crate) fn drop_join_handle(self) {
        let drop_join_handle = self.header().vtable.drop_join_handle;
        // SAFETY: the JoinHandle's own reference, handed over once.
        unsafe { drop_join_handle(self.into_raw()) }
    }
}

impl Clone for RawTask {
    fn clone(&self) -> Self {
        self.header().state.ref_inc();
        Self { ptr: self.ptr }
    }
}

impl Drop for RawTask {
    fn drop(&mut self) {
        // SAFETY: this reference was counted; the last one frees the task exactly once.
        unsafe { release(self.ptr) }
    }
}

/// Releases one reference to the task at `ptr`, freeing it with the last.
///
/// # Safety
/// The caller must own one counted reference to a live task and not use it afterwards.
pub(crate) unsafe fn release(ptr: NonNull<Header>) {
    // SAFETY: the caller's reference keeps the header alive until this decrement.
    let header = unsafe { ptr.as_ref() };
    if header.state.ref_dec() {
        // SAFETY: that was the last reference: nobody else can reach the task any more.
        unsafe { (header.vtable.dealloc)(ptr) }
    }
}
