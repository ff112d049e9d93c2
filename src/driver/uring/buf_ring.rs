//! A provided-buffer ring: buffers the kernel picks from for multishot receives.
//!
//! The ring (an array of `io_uring_buf` entries whose last field doubles as the tail) lives
//! in page-aligned memory shared with the kernel; the buffers live in one heap allocation.
//! A multishot recv CQE names the buffer it filled (`IORING_CQE_F_BUFFER` + id); the loop
//! copies the bytes out and hands the buffer back by publishing it at the tail.

use io_uring::types::BufRingEntry;
use io_uring::IoUring;
use std::io;
use std::sync::atomic::{AtomicU16, Ordering};

pub(crate) struct BufRing {
    group: u16,
    entries: u16,
    buf_size: usize,
    ring: *mut BufRingEntry,
    ring_bytes: usize,
    storage: Box<[u8]>,
    tail: u16,
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
            entries,
            buf_size,
            ring: ring.cast(),
            ring_bytes,
            storage: vec![0u8; entries as usize * buf_size].into_boxed_slice(),
            tail: 0,
        };
        // SAFETY: the mapping is page-aligned, zeroed, `entries` long and lives until Drop,
        // which runs before the io_uring that it is registered with is dropped.
        unsafe {
            uring
                .submitter()
                .register_buf_ring_with_flags(ring as u64, entries, group, 0)?
        };
        for bid in 0..entries {
            this.push(bid);
        }
        this.publish();
        Ok(this)
    }

    pub(crate) fn group(&self) -> u16 {
        self.group
    }

    fn push(&mut self, bid: u16) {
        let index = (self.tail & (self.entries - 1)) as usize;
        // SAFETY: `index < entries`, inside the mapping; the kernel only reads entries between
        // its head and the published tail, and this one is past the published tail.
        let entry = unsafe { &mut *self.ring.add(index) };
        entry.set_addr(self.storage.as_ptr() as u64 + bid as u64 * self.buf_size as u64);
        entry.set_len(self.buf_size as u32);
        entry.set_bid(bid);
        self.tail = self.tail.wrapping_add(1);
    }

    fn publish(&self) {
        // SAFETY: the tail field lives in the first entry of the live mapping; the kernel
        // reads it with acquire semantics, so a release store publishes the entries.
        let tail = unsafe { &*(BufRingEntry::tail(self.ring) as *const AtomicU16) };
        tail.store(self.tail, Ordering::Release);
    }

    /// Copies the `len` bytes the kernel put in buffer `bid` onto `out`, then returns the
    /// buffer to the ring.
    pub(crate) fn take(&mut self, bid: u16, len: usize, out: &mut Vec<u8>) {
        if bid < self.entries {
            let start = bid as usize * self.buf_size;
            out.extend_from_slice(&self.storage[start..start + len.min(self.buf_size)]);
        }
        self.recycle(bid);
    }

    /// Returns buffer `bid` to the ring without reading it.
    pub(crate) fn recycle(&mut self, bid: u16) {
        if bid < self.entries {
            self.push(bid);
            self.publish();
        }
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
