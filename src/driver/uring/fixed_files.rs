//! The ring's fixed-file table: long-lived stream sockets get a slot, so their sends and
//! receives name the slot instead of the descriptor.
//!
//! Every op on a plain descriptor makes the kernel look the file up and take and drop a
//! reference to it (`fget`/`fput`, about 1% of an echo server's CPU); an op on a slot of
//! the registered table skips both. Taking a slot and emptying it again are a syscall
//! each, so a stream socket takes one on its eighth op (short connections never do; see
//! `SharedFd::count_use`) and gives it back when its [`SharedFd`] is dropped. That happens only
//! after every op holding the descriptor has completed (each op keeps a clone), so no
//! queued or in-flight entry can name a slot once it is free: a reused slot never sends
//! to the wrong socket. Giving a slot back is a syscall on the ring's descriptor, not a
//! call into the driver, so it works wherever the last handle is dropped (during a
//! dispatch, or after `block_on` returned); the table object outlives the driver as long
//! as a registered descriptor does, and does nothing once the ring is gone.

use crate::driver::shared_fd::SharedFd;
use std::cell::{Cell, RefCell};
use std::os::fd::RawFd;
use std::rc::Rc;

/// At most this many slots per ring (also capped by `RLIMIT_NOFILE`, as the kernel
/// requires); sockets beyond it simply use their descriptor.
const MAX_SLOTS: u32 = 4096;

pub(crate) struct FixedFiles {
    ring_fd: RawFd,
    /// Cleared when the ring closes: its table went with it.
    alive: Cell<bool>,
    free: RefCell<Vec<u32>>,
    /// Slots below this have been handed out at least once.
    next: Cell<u32>,
    capacity: u32,
}

/// A descriptor's slot in one ring's table.
pub(crate) struct FixedSlot {
    table: Rc<FixedFiles>,
    slot: u32,
}

impl FixedFiles {
    /// Registers an empty (sparse) table on `ring`; `None` if the kernel refuses
    /// (before 5.19, or `RLIMIT_NOFILE` at 0).
    pub(crate) fn new(ring: &io_uring::IoUring) -> Option<Rc<Self>> {
        let capacity = MAX_SLOTS.min(crate::sys::open_files_limit());
        if capacity == 0 {
            return None;
        }
        ring.submitter().register_files_sparse(capacity).ok()?;
        Some(Rc::new(Self {
            ring_fd: std::os::fd::AsRawFd::as_raw_fd(ring),
            alive: Cell::new(true),
            free: RefCell::new(Vec::new()),
            next: Cell::new(0),
            capacity,
        }))
    }

    /// The ring is closing: later releases must not touch its (soon reused) descriptor.
    pub(crate) fn ring_closed(&self) {
        self.alive.set(false);
    }

    /// Gives `fd` a slot unless it has one (in this or another ring) or the table is full;
    /// the slot it has in this table.
    pub(crate) fn register(self: &Rc<Self>, fd: &SharedFd) -> Option<u32> {
        if !self.alive.get() || fd.fixed_slot().is_some() {
            return self.slot_of(fd);
        }
        let slot = self.take_slot()?;
        match crate::sys::io_uring_files_update(self.ring_fd, slot, fd.raw()) {
            Ok(()) => {
                fd.set_fixed_slot(FixedSlot {
                    table: Rc::clone(self),
                    slot,
                });
                Some(slot)
            }
            // The descriptor keeps working as a plain one.
            Err(_) => {
                self.free.borrow_mut().push(slot);
                None
            }
        }
    }

    /// The slot `fd` has in this table, if any.
    pub(crate) fn slot_of(self: &Rc<Self>, fd: &SharedFd) -> Option<u32> {
        let fixed = fd.fixed_slot()?;
        Rc::ptr_eq(&fixed.table, self).then_some(fixed.slot)
    }

    /// Slots in use (for tests and stats).
    pub(crate) fn in_use(&self) -> usize {
        self.next.get() as usize - self.free.borrow().len()
    }

    fn take_slot(&self) -> Option<u32> {
        if let Some(slot) = self.free.borrow_mut().pop() {
            return Some(slot);
        }
        let next = self.next.get();
        (next < self.capacity).then(|| {
            self.next.set(next + 1);
            next
        })
    }
}

impl Drop for FixedSlot {
    /// Empties the slot, dropping the table's reference to the file (so closing the
    /// descriptor really closes the socket), and frees it for reuse.
    fn drop(&mut self) {
        let table = &self.table;
        if !table.alive.get() {
            return;
        }
        match crate::sys::io_uring_files_update(table.ring_fd, self.slot, -1) {
            Ok(()) => table.free.borrow_mut().push(self.slot),
            // Not expected (the slot is ours and the ring alive). The slot is not reused;
            // the socket closes when the ring does.
            Err(e) => debug_assert!(false, "emptying fixed-file slot {}: {e}", self.slot),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::driver::shared_fd::FdKind;

    /// A bare ring; io_uring being unavailable fails the test, loudly, with the reason.
    fn ring() -> io_uring::IoUring {
        io_uring::IoUring::new(8)
            .unwrap_or_else(|e| panic!("these tests need io_uring, which is unavailable here: {e}"))
    }

    fn socket() -> SharedFd {
        let (a, _b) = crate::sys::socket::socketpair(true).expect("socketpair");
        SharedFd::new(a, FdKind::Stream)
    }

    #[test]
    fn slots_are_taken_once_freed_on_drop_and_reused() {
        let ring = ring();
        let table = FixedFiles::new(&ring).expect("sparse table (5.19+)");
        let (a, b) = (socket(), socket());
        assert_eq!(table.register(&a), Some(0));
        assert_eq!(
            table.register(&a),
            Some(0),
            "a second register keeps the slot"
        );
        assert_eq!(table.register(&b), Some(1));
        assert_eq!((table.slot_of(&a), table.slot_of(&b)), (Some(0), Some(1)));
        assert_eq!(table.in_use(), 2);
        drop(a);
        assert_eq!(table.in_use(), 1);
        let c = socket();
        assert_eq!(table.register(&c), Some(0), "the freed slot is reused");
        assert_eq!(table.slot_of(&c), Some(0));
        drop((b, c));
        assert_eq!(table.in_use(), 0);
    }

    #[test]
    fn a_socket_asks_for_a_slot_once_on_its_eighth_op() {
        let a = socket();
        let asks: Vec<bool> = (0..20).map(|_| a.count_use()).collect();
        let expected: Vec<bool> = (1..=20).map(|op| op == 8).collect();
        assert_eq!(asks, expected);
    }

    #[test]
    fn a_slot_belongs_to_its_own_ring_only() {
        let (ring1, ring2) = (ring(), ring());
        let (t1, t2) = (
            FixedFiles::new(&ring1).unwrap(),
            FixedFiles::new(&ring2).unwrap(),
        );
        let a = socket();
        assert_eq!(t1.register(&a), Some(0));
        assert_eq!(t2.register(&a), None, "it already has a slot elsewhere");
        assert_eq!((t1.slot_of(&a), t2.slot_of(&a)), (Some(0), None));
        assert_eq!(t2.in_use(), 0);
    }

    #[test]
    fn a_closed_ring_hands_out_nothing_and_its_sockets_still_close() {
        let ring = ring();
        let table = FixedFiles::new(&ring).unwrap();
        let (a, peer) = crate::sys::socket::socketpair(false).expect("socketpair");
        let a = SharedFd::new(a, FdKind::Stream);
        assert_eq!(table.register(&a), Some(0));
        table.ring_closed();
        drop(ring);
        let b = socket();
        assert_eq!(table.register(&b), None);
        assert_eq!(table.slot_of(&b), None);
        drop(a);
        // The ring took its table, and its reference to the socket, with it.
        let mut peer = std::fs::File::from(peer);
        let mut byte = [0u8; 1];
        let n = std::io::Read::read(&mut peer, &mut byte).expect("EOF");
        assert_eq!(n, 0);
    }
}
