//! A provided-buffer ring: buffers the kernel picks from for multishot receives.
//!
//! The ring (an array of `io_uring_buf` entries whose last field doubles as the tail) lives
//! in page-aligned memory shared with the kernel; the buffers live in one heap allocation.
//! A multishot recv CQE names the buffer it filled (`IORING_CQE_F_BUFFER` + id); the loop
//! either copies the bytes out and hands the buffer back at once, or lends the buffer
//! itself to the reader ([`Lent`]), which hands it back when dropped. Free buffers go back
//! into the ring, most recently used first, as the window of `buf_window.rs` allows.

use super::buf_window::Window;
use io_uring::types::BufRingEntry;
use io_uring::IoUring;
use std::cell::{Cell, RefCell};
use std::io;
use std::ptr::NonNull;
use std::rc::Rc;
use std::sync::atomic::{AtomicU16, Ordering};

/// The buffers' memory, shared with every [`Lent`] so a lent buffer stays valid even if
/// the driver is dropped first.
struct Storage {
    base: NonNull<u8>,
    bytes: usize,
    buf_size: usize,
    entries: u16,
    /// Buffers lent out and not yet given back.
    lent_out: Cell<u16>,
    /// Buffers their borrowers gave back, to be published again.
    returned: RefCell<Vec<u16>>,
}

impl Drop for Storage {
    fn drop(&mut self) {
        // SAFETY: `base` came from leaking a boxed slice of `bytes` bytes in `Storage::new`,
        // and this is the last owner.
        drop(unsafe {
            Box::from_raw(std::ptr::slice_from_raw_parts_mut(
                self.base.as_ptr(),
                self.bytes,
            ))
        });
    }
}

impl Storage {
    /// `entries` zeroed buffers of `buf_size` bytes, none lent.
    fn new(entries: u16, buf_size: usize) -> Self {
        let bytes = entries as usize * buf_size;
        Self {
            base: NonNull::from(Box::leak(vec![0u8; bytes].into_boxed_slice())).cast(),
            bytes,
            buf_size,
            entries,
            lent_out: Cell::new(0),
            returned: RefCell::new(Vec::with_capacity(entries as usize)),
        }
    }

    /// Lends buffer `bid` (checked by the caller), holding `len` bytes.
    fn lend(self: &Rc<Self>, bid: u16, len: usize) -> Lent {
        self.lent_out.set(self.lent_out.get() + 1);
        Lent {
            storage: self.clone(),
            bid,
            len: len.min(self.buf_size),
        }
    }
}

/// A provided buffer lent out with the bytes the kernel put in it. The kernel does not
/// write into it again until it is dropped (that is when it goes back to the ring).
pub(crate) struct Lent {
    storage: Rc<Storage>,
    bid: u16,
    len: usize,
}

impl std::ops::Deref for Lent {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        // SAFETY: buffer `bid` is out of the ring (the kernel filled it, posted the CQE and
        // cannot pick it again until `Drop` returns it), `len <= buf_size`, and `storage`
        // keeps the memory alive.
        unsafe {
            std::slice::from_raw_parts(
                self.storage
                    .base
                    .as_ptr()
                    .add(self.bid as usize * self.storage.buf_size),
                self.len,
            )
        }
    }
}

impl Lent {
    /// Whether this buffer may be kept past its delivery (to send from it) and still
    /// leave the ring at least half of its buffers for receives.
    pub(crate) fn may_keep(&self) -> bool {
        self.storage.lent_out.get() <= self.storage.entries / 2
    }
}

impl Drop for Lent {
    fn drop(&mut self) {
        let storage = &self.storage;
        storage.lent_out.set(storage.lent_out.get() - 1);
        storage.returned.borrow_mut().push(self.bid);
    }
}

// SAFETY: the bytes are the `len` the kernel wrote into buffer `bid`, which stays out of
// the ring (the kernel cannot pick it) until this value is dropped, and `storage` keeps
// the memory at a fixed address for as long.
unsafe impl crate::buf::IoBuf for Lent {
    fn stable_ptr(&self) -> *const u8 {
        self.as_ptr()
    }
    fn bytes_init(&self) -> usize {
        self.len
    }
    fn bytes_total(&self) -> usize {
        self.len
    }
}

pub(crate) struct BufRing {
    group: u16,
    ring: *mut BufRingEntry,
    ring_bytes: usize,
    storage: Rc<Storage>,
    tail: u16,
    /// The other half of a ping-pong with `Storage::returned`, so neither list is reallocated
    /// on every turn.
    reclaiming: Vec<u16>,
    /// Which free buffers are in the ring (see `buf_window.rs`).
    window: Window,
}

impl BufRing {
    /// Registers `entries` (a power of two) buffers of `buf_size` bytes as group `group`.
    pub(crate) fn new(
        uring: &IoUring,
        group: u16,
        entries: u16,
        buf_size: usize,
    ) -> io::Result<Self> {
        assert!(entries.is_power_of_two());
        let ring_bytes =
            (entries as usize * std::mem::size_of::<BufRingEntry>()).next_multiple_of(4096);
        // SAFETY: an anonymous private mapping has no preconditions; the result is checked.
        let ring = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                ring_bytes,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if ring == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let mut this = Self {
            group,
            ring: ring.cast(),
            ring_bytes,
            storage: Rc::new(Storage::new(entries, buf_size)),
            tail: 0,
            reclaiming: Vec::with_capacity(entries as usize),
            window: Window::new(entries),
        };
        // SAFETY: the mapping is page-aligned, zeroed, `entries` long and lives until Drop,
        // which runs before the io_uring that it is registered with is dropped.
        unsafe {
            uring
                .submitter()
                .register_buf_ring_with_flags(ring as u64, entries, group, 0)?
        };
        this.top_up();
        Ok(this)
    }

    pub(crate) fn group(&self) -> u16 {
        self.group
    }

    /// Buffers lent out and not yet given back.
    pub(crate) fn lent_out(&self) -> u16 {
        self.storage.lent_out.get()
    }

    fn push(&mut self, bid: u16) {
        let (entries, buf_size) = (self.storage.entries, self.storage.buf_size);
        let index = (self.tail & (entries - 1)) as usize;
        // SAFETY: `index < entries`, inside the mapping; the kernel only reads entries between
        // its head and the published tail, and this one is past the published tail.
        let entry = unsafe { &mut *self.ring.add(index) };
        entry.set_addr(self.storage.base.as_ptr() as u64 + bid as u64 * buf_size as u64);
        entry.set_len(buf_size as u32);
        entry.set_bid(bid);
        self.tail = self.tail.wrapping_add(1);
    }

    fn publish(&self) {
        // SAFETY: the tail field lives in the first entry of the live mapping; the kernel
        // reads it with acquire semantics, so a release store publishes the entries.
        let tail = unsafe { &*(BufRingEntry::tail(self.ring) as *const AtomicU16) };
        tail.store(self.tail, Ordering::Release);
    }

    /// Lends buffer `bid`, holding the `len` bytes the kernel wrote into it.
    pub(crate) fn lend(&mut self, bid: u16, len: usize) -> Option<Lent> {
        (bid < self.storage.entries).then(|| self.storage.lend(bid, len))
    }

    /// Takes back the buffers borrowers have given back since the last call, and tops the
    /// ring up.
    pub(crate) fn reclaim(&mut self) {
        let mut returned = std::mem::take(&mut self.reclaiming);
        std::mem::swap(&mut returned, &mut *self.storage.returned.borrow_mut());
        for &bid in &returned {
            self.window.give_back(bid);
        }
        returned.clear();
        self.reclaiming = returned;
        self.top_up();
    }

    /// Publishes free buffers, most recently used first, up to the window.
    fn top_up(&mut self) {
        let mut pushed = false;
        while let Some(bid) = self.window.next_to_publish() {
            self.push(bid);
            pushed = true;
        }
        if pushed {
            self.publish();
        }
    }

    /// A completion reported that the kernel took a buffer from the ring.
    pub(crate) fn taken(&mut self) {
        self.window.taken();
    }

    /// Returns buffer `bid` without reading it.
    pub(crate) fn recycle(&mut self, bid: u16) {
        if bid < self.storage.entries {
            self.window.give_back(bid);
            self.top_up();
        }
    }

    /// Free buffers: in the ring or waiting beside it (neither lent nor held by the kernel).
    #[cfg(test)]
    pub(crate) fn free(&self) -> usize {
        self.window.published() as usize + self.window.spare()
    }

    /// Unregisters the ring from `uring` (call before dropping either).
    pub(crate) fn unregister(&self, uring: &IoUring) {
        let _ = uring.submitter().unregister_buf_ring(self.group);
    }
}

impl Drop for BufRing {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping made in `new`; the ring was unregistered (or
        // the io_uring is already gone), so the kernel no longer reads it.
        unsafe { libc::munmap(self.ring.cast(), self.ring_bytes) };
    }
}

/// Buffers lent from plain memory, with no ring behind them, for tests of the code that
/// reads and keeps lent buffers.
#[cfg(test)]
pub(crate) struct TestBuffers(Rc<Storage>);

#[cfg(test)]
impl TestBuffers {
    /// `entries` buffers of `buf_size` bytes.
    pub(crate) fn new(entries: u16, buf_size: usize) -> Self {
        Self(Rc::new(Storage::new(entries, buf_size)))
    }

    /// Lends buffer `bid` holding a copy of `data`, as a receive into it would.
    pub(crate) fn lend(&self, bid: u16, data: &[u8]) -> Lent {
        let storage = &self.0;
        assert!(bid < storage.entries && data.len() <= storage.buf_size);
        let start = bid as usize * storage.buf_size;
        // SAFETY: the range lies inside the allocation, and no `Lent` of `bid` exists (the
        // tests lend each buffer once at a time), so nothing reads it meanwhile.
        unsafe {
            std::ptr::copy_nonoverlapping(
                data.as_ptr(),
                storage.base.as_ptr().add(start),
                data.len(),
            );
        }
        storage.lend(bid, data.len())
    }

    pub(crate) fn lent_out(&self) -> u16 {
        self.0.lent_out.get()
    }

    /// Buffers given back since the start, in order.
    pub(crate) fn returned(&self) -> Vec<u16> {
        self.0.returned.borrow().clone()
    }
}
