//! The bytes a protocol wrote that the write loop has not taken yet.
//!
//! Usually a buffer every write of a turn is copied into. But when the one write is (part
//! of) the buffer the protocol is being handed, as an echo's reply is, the write is
//! recorded as a range of that buffer instead (a claim), settled when the callback returns:
//!
//! * a provided buffer (io_uring) is kept and sent from, so a received message reaches the
//!   kernel again without being copied in user space. The buffer goes back to the ring once
//!   its send completes; only while the ring keeps at least half of its buffers is one
//!   kept, so idle connections holding sent replies can never starve receives. Small writes
//!   are copied all the same: copying a few hundred bytes costs less than holding a buffer
//!   (alternating A/B, 128 B echo: keeping every reply's buffer took 1.025-1.047× the CPU).
//! * the read loop's own buffer (epoll) is sent from right away by the read loop
//!   (`write::flush_delivered`); whatever the socket does not take is copied here.

use crate::buf::{IoBuf, Slice};
use crate::driver::uring::buf_ring::Lent;
use std::ops::Range;

/// Writes shorter than this are copied even when they could be sent from the buffer.
pub(super) const MIN_KEPT: usize = 1024;

/// What the write loop sends next: copied bytes, or part of a kept provided buffer.
pub(super) enum Batch {
    Copied(Vec<u8>),
    Kept(Slice<Lent>),
}

impl Batch {
    pub(super) fn bytes(&self) -> &[u8] {
        match self {
            Batch::Copied(bytes) => bytes,
            Batch::Kept(kept) => kept_bytes(kept),
        }
    }
}

fn kept_bytes(kept: &Slice<Lent>) -> &[u8] {
    &kept.get_ref()[kept.begin()..kept.end()]
}

/// The buffer whose bytes the protocol is being handed right now.
pub(super) enum Delivering {
    /// A provided buffer (io_uring multishot receive).
    Lent(Lent),
    /// The read loop's own buffer and how many bytes of it were read (epoll).
    Read(Vec<u8>, usize),
}

impl Delivering {
    /// Whether a write of `len` of these bytes may be recorded instead of copied.
    fn may_claim(&self, len: usize) -> bool {
        match self {
            Delivering::Lent(lent) => len >= MIN_KEPT && lent.may_keep(),
            // Sent before the callback's caller reads into it again: nothing is held.
            Delivering::Read(..) => len > 0,
        }
    }
}

impl std::ops::Deref for Delivering {
    type Target = [u8];

    #[inline]
    fn deref(&self) -> &[u8] {
        match self {
            Delivering::Lent(lent) => lent,
            Delivering::Read(buf, n) => &buf[..*n],
        }
    }
}

#[derive(Default)]
pub(super) struct Outgoing {
    copied: Vec<u8>,
    /// A write of this range of the buffer being delivered; settled when delivery ends.
    claimed: Option<Range<usize>>,
    /// A kept provided buffer, part of which is the next thing to send.
    kept: Option<Slice<Lent>>,
}

impl Outgoing {
    pub(super) fn is_empty(&self) -> bool {
        self.copied.is_empty() && self.claimed.is_none() && self.kept.is_none()
    }

    /// Records a write of `data` without copying it, if nothing is queued before it and it
    /// lies inside the bytes being delivered (for a provided buffer: if it is at least
    /// `MIN_KEPT` long and the ring can spare that buffer). `false` if it must be copied.
    pub(super) fn try_claim(&mut self, data: &[u8], delivering: &Delivering) -> bool {
        if !self.is_empty() || !delivering.may_claim(data.len()) {
            return false;
        }
        let bytes: &[u8] = delivering;
        let base = bytes.as_ptr() as usize;
        let start = data.as_ptr() as usize;
        if start < base || start + data.len() > base + bytes.len() {
            return false;
        }
        self.claimed = Some(start - base..start - base + data.len());
        true
    }

    /// Appends a copy of `data`, after copying out whatever was claimed or kept (so the
    /// bytes stay in write order). `delivering` is the buffer being handed to the
    /// protocol, if any: a claim refers to it.
    pub(super) fn push(&mut self, data: &[u8], delivering: Option<&Delivering>) {
        if let Some(range) = self.claimed.take() {
            let bytes = delivering.expect("a claim is settled before its delivery ends");
            self.copied.extend_from_slice(&bytes[range]);
        }
        if let Some(kept) = self.kept.take() {
            self.copied.extend_from_slice(kept_bytes(&kept));
        }
        self.copied.extend_from_slice(data);
    }

    /// The delivery is over. A provided buffer is kept for the part a write claimed, or
    /// goes back to the ring; a claim of the read loop's buffer is copied, and that buffer
    /// is handed back for the next read.
    #[inline]
    pub(super) fn end_delivery(&mut self, delivering: Delivering) -> Option<Vec<u8>> {
        match (self.claimed.take(), delivering) {
            (Some(range), Delivering::Lent(lent)) => {
                self.kept = Some(lent.slice(range));
                None
            }
            (None, Delivering::Lent(_)) => None,
            (claimed, Delivering::Read(buf, _)) => {
                if let Some(range) = claimed {
                    self.copied.extend_from_slice(&buf[range]);
                }
                Some(buf)
            }
        }
    }

    /// The range of the delivered bytes a write claimed, if any (then it is all that is
    /// queued): the caller sends it, and copies back with `push` what was not sent.
    pub(super) fn take_claim(&mut self) -> Option<Range<usize>> {
        self.claimed.take()
    }

    /// The copied bytes queued (the whole queue when nothing is claimed or kept).
    pub(super) fn copied(&self) -> &[u8] {
        &self.copied
    }

    /// Drops the first `n` copied bytes, which were sent without the write loop.
    pub(super) fn consume_copied(&mut self, n: usize) {
        let n = n.min(self.copied.len());
        if n == self.copied.len() {
            self.copied.clear();
        } else {
            self.copied.drain(..n);
        }
    }

    /// Whether only copied bytes are queued (nothing claimed or kept).
    pub(super) fn only_copied(&self) -> bool {
        self.claimed.is_none() && self.kept.is_none()
    }

    /// Hands everything queued to the write loop, which passes back the buffer it sent
    /// last (`spare`) to be reused for copies.
    pub(super) fn take(&mut self, spare: Vec<u8>) -> Batch {
        debug_assert!(self.claimed.is_none(), "taken during a delivery");
        match self.kept.take() {
            Some(kept) => {
                if self.copied.capacity() == 0 {
                    self.copied = spare;
                }
                Batch::Kept(kept)
            }
            None => Batch::Copied(std::mem::replace(&mut self.copied, spare)),
        }
    }

    /// Drops everything queued (abort, failure, teardown).
    pub(super) fn clear(&mut self) {
        *self = Outgoing::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::driver::uring::buf_ring::TestBuffers;

    const BUF: usize = 4 * MIN_KEPT;

    fn lend(buffers: &TestBuffers, bid: u16, data: &[u8]) -> Delivering {
        Delivering::Lent(buffers.lend(bid, data))
    }

    /// `len` bytes counting up from `start`.
    fn bytes(len: usize, start: u8) -> Vec<u8> {
        (0..len).map(|i| start.wrapping_add(i as u8)).collect()
    }

    #[test]
    fn an_echo_of_the_delivered_bytes_is_kept_not_copied() {
        let buffers = TestBuffers::new(4, BUF);
        let data = bytes(3 * MIN_KEPT, 1);
        let lent = lend(&buffers, 0, &data);
        let mut out = Outgoing::default();
        assert!(out.try_claim(&lent[MIN_KEPT..], &lent));
        assert!(!out.is_empty());
        out.end_delivery(lent);
        let batch = out.take(Vec::new());
        assert!(matches!(batch, Batch::Kept(_)));
        assert_eq!(batch.bytes(), &data[MIN_KEPT..]);
        assert!(out.is_empty());
        assert_eq!(buffers.lent_out(), 1, "kept while its send is out");
        drop(batch);
        assert_eq!((buffers.lent_out(), buffers.returned()), (0, vec![0]));
    }

    #[test]
    fn small_writes_other_memory_and_bytes_behind_a_copy_are_copied() {
        let buffers = TestBuffers::new(4, BUF);
        let data = bytes(2 * MIN_KEPT, 7);
        let lent = lend(&buffers, 0, &data);
        let mut out = Outgoing::default();
        assert!(!out.try_claim(&data, &lent), "equal bytes, other memory");
        assert!(
            !out.try_claim(&lent[..MIN_KEPT - 1], &lent),
            "too small to keep"
        );
        assert!(!out.try_claim(&lent[..0], &lent), "nothing to send");
        out.push(b"x", Some(&lent));
        assert!(!out.try_claim(&lent[..], &lent), "queued behind a copy");
        out.push(&lent[..], Some(&lent));
        out.end_delivery(lent);
        assert_eq!(
            buffers.lent_out(),
            0,
            "nothing claimed: the buffer went back"
        );
        assert_eq!(
            out.take(Vec::new()).bytes(),
            [b"x".as_slice(), &data].concat()
        );
    }

    #[test]
    fn writes_after_a_claim_keep_their_order() {
        let buffers = TestBuffers::new(4, BUF);
        let data = bytes(3 * MIN_KEPT, 3);
        let lent = lend(&buffers, 1, &data);
        let mut out = Outgoing::default();
        assert!(out.try_claim(&lent[..MIN_KEPT], &lent));
        out.push(&lent[MIN_KEPT..], Some(&lent));
        out.push(b"!", Some(&lent));
        out.end_delivery(lent);
        assert_eq!(buffers.lent_out(), 0, "the claim was copied out");
        assert_eq!(
            out.take(Vec::new()).bytes(),
            [data.as_slice(), b"!"].concat()
        );
    }

    #[test]
    fn a_write_after_the_delivery_copies_the_kept_bytes_first() {
        let buffers = TestBuffers::new(4, BUF);
        let data = bytes(MIN_KEPT, 5);
        let lent = lend(&buffers, 2, &data);
        let mut out = Outgoing::default();
        assert!(out.try_claim(&lent, &lent));
        out.end_delivery(lent);
        out.push(b"second", None);
        assert_eq!(buffers.lent_out(), 0);
        let batch = out.take(Vec::new());
        assert!(matches!(batch, Batch::Copied(_)));
        assert_eq!(batch.bytes(), [data.as_slice(), b"second"].concat());
    }

    #[test]
    fn clearing_gives_a_kept_buffer_back() {
        let buffers = TestBuffers::new(4, BUF);
        let lent = lend(&buffers, 3, &bytes(MIN_KEPT, 9));
        let mut out = Outgoing::default();
        assert!(out.try_claim(&lent, &lent));
        out.clear();
        out.end_delivery(lent);
        assert!(out.is_empty());
        assert_eq!(
            buffers.lent_out(),
            0,
            "a claim cleared mid-delivery keeps nothing"
        );
    }

    #[test]
    fn at_most_half_the_ring_is_kept() {
        let buffers = TestBuffers::new(8, BUF);
        let reply = bytes(MIN_KEPT, 0);
        let mut kept = Vec::new();
        for bid in 0..8 {
            let lent = lend(&buffers, bid, &reply);
            let mut out = Outgoing::default();
            let claimed = out.try_claim(&lent, &lent);
            assert_eq!(claimed, bid < 4, "buffer {bid}");
            out.end_delivery(lent);
            kept.push(out);
        }
        assert_eq!(buffers.lent_out(), 4);
        drop(kept);
        assert_eq!(buffers.lent_out(), 0);
    }

    #[test]
    fn a_copy_batch_reuses_the_spare_buffer() {
        let mut out = Outgoing::default();
        out.push(b"abc", None);
        let spare = Vec::with_capacity(4096);
        let Batch::Copied(first) = out.take(spare) else {
            panic!("copied bytes make a copy batch");
        };
        assert_eq!(first, b"abc");
        out.push(b"d", None);
        let Batch::Copied(second) = out.take(Vec::new()) else {
            panic!("copied bytes make a copy batch");
        };
        assert!(second.capacity() >= 4096, "the spare took the next writes");
    }

    #[test]
    fn any_write_of_the_read_buffer_is_claimed_and_settled_by_copy() {
        let data = bytes(300, 4);
        let read = Delivering::Read([data.clone(), vec![0; 100]].concat(), data.len());
        let mut out = Outgoing::default();
        assert!(
            !out.try_claim(&read[..0], &read),
            "nothing to send, nothing claimed"
        );
        assert!(out.try_claim(&read[10..12], &read), "small writes too");
        assert!(!out.only_copied());
        // Unsent when the delivery ends: copied, and the buffer handed back.
        let buf = out.end_delivery(read).expect("the read buffer comes back");
        assert_eq!(buf.len(), 400);
        assert_eq!(out.copied(), &data[10..12]);
        assert!(out.only_copied());
    }

    #[test]
    fn a_claim_of_the_read_buffer_taken_for_sending_leaves_nothing_queued() {
        let data = bytes(50, 8);
        let read = Delivering::Read(data.clone(), data.len());
        let mut out = Outgoing::default();
        assert!(out.try_claim(&read, &read));
        assert_eq!(out.take_claim(), Some(0..50));
        assert!(out.is_empty());
        assert_eq!(out.end_delivery(read), Some(data));
        assert!(out.is_empty(), "a taken claim is not copied again");
    }

    #[test]
    fn sent_copied_bytes_leave_the_front_of_the_queue() {
        let mut out = Outgoing::default();
        out.push(b"hello world", None);
        out.consume_copied(6);
        assert_eq!(out.copied(), b"world");
        out.consume_copied(99);
        assert!(out.is_empty());
    }
}
