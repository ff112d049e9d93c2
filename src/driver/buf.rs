//! Buffers that ops own while the kernel uses them.
//!
//! An op takes its buffer by value and gives it back with the result, so the
//! kernel can never write into memory the program has freed or is reading:
//!
//! ```
//! # ringloop::run(async {
//! let file = ringloop::fs::File::open("Cargo.toml").await?;
//! let (res, buf) = file.read_at(Vec::with_capacity(64), 0).await;
//! let n = res?;
//! assert_eq!(buf.len(), n);
//! # std::io::Result::Ok(()) }).unwrap().unwrap();
//! ```
//!
//! Reads fill a buffer from its start up to its capacity ([`IoBuf::bytes_total`]) and
//! then mark exactly the bytes read as initialised: after a read of `n` bytes a
//! `Vec<u8>` has length `n`. Writes send the initialised bytes ([`IoBuf::bytes_init`]).
//! Use [`IoBuf::slice`] to read into or write from part of a buffer.

use std::ops::{Bound, RangeBounds};

/// The result of an op that owned a buffer: the outcome and the buffer back.
pub type BufResult<T, B> = (std::io::Result<T>, B);

/// A buffer an op may read from while the kernel holds it.
///
/// # Safety
/// `stable_ptr` must point at `bytes_total` bytes (of which the first `bytes_init` are
/// initialised) that stay at the same address, and stay valid, while the buffer value is
/// moved around and until it is dropped.
pub unsafe trait IoBuf: Unpin + 'static {
    /// Where the bytes start.
    fn stable_ptr(&self) -> *const u8;
    /// How many bytes are initialised (what a write sends).
    fn bytes_init(&self) -> usize;
    /// How many bytes fit (what a read may fill).
    fn bytes_total(&self) -> usize;

    /// A view of part of the buffer that ops accept in place of the whole.
    ///
    /// ```
    /// use ringloop::buf::IoBuf;
    /// let slice = b"hello world".to_vec().slice(6..);
    /// assert_eq!(slice.bytes_init(), 5);
    /// assert_eq!(slice.into_inner().len(), 11);
    /// ```
    fn slice(self, range: impl RangeBounds<usize>) -> Slice<Self>
    where
        Self: Sized,
    {
        let begin = match range.start_bound() {
            Bound::Included(&n) => n,
            Bound::Excluded(&n) => n.saturating_add(1),
            Bound::Unbounded => 0,
        };
        let end = match range.end_bound() {
            Bound::Included(&n) => n.saturating_add(1),
            Bound::Excluded(&n) => n,
            Bound::Unbounded => self.bytes_total(),
        };
        let end = end.min(self.bytes_total());
        Slice {
            begin: begin.min(end),
            end,
            buf: self,
        }
    }
}

/// A buffer an op may write into.
///
/// # Safety
/// As [`IoBuf`], and `stable_mut_ptr` must be valid for writes of `bytes_total` bytes.
pub unsafe trait IoBufMut: IoBuf {
    /// Where the kernel writes.
    fn stable_mut_ptr(&mut self) -> *mut u8;
    /// Records that the first `n` bytes are now initialised (after a read of `n` bytes).
    ///
    /// # Safety
    /// The first `n` bytes must really have been written.
    unsafe fn set_init(&mut self, n: usize);
}

// SAFETY: a Vec's heap allocation does not move when the Vec value moves.
unsafe impl IoBuf for Vec<u8> {
    fn stable_ptr(&self) -> *const u8 {
        self.as_ptr()
    }
    fn bytes_init(&self) -> usize {
        self.len()
    }
    fn bytes_total(&self) -> usize {
        self.capacity()
    }
}

// SAFETY: as above; writes go into the Vec's own capacity.
unsafe impl IoBufMut for Vec<u8> {
    fn stable_mut_ptr(&mut self) -> *mut u8 {
        self.as_mut_ptr()
    }
    unsafe fn set_init(&mut self, n: usize) {
        // SAFETY: the caller guarantees the first n bytes (n <= capacity) were written.
        unsafe { self.set_len(n.min(self.capacity())) };
    }
}

// SAFETY: a boxed slice's allocation does not move when the Box moves.
unsafe impl IoBuf for Box<[u8]> {
    fn stable_ptr(&self) -> *const u8 {
        self.as_ptr()
    }
    fn bytes_init(&self) -> usize {
        self.len()
    }
    fn bytes_total(&self) -> usize {
        self.len()
    }
}

// SAFETY: as above; a boxed slice is always fully initialised.
unsafe impl IoBufMut for Box<[u8]> {
    fn stable_mut_ptr(&mut self) -> *mut u8 {
        self.as_mut_ptr()
    }
    unsafe fn set_init(&mut self, _n: usize) {}
}

// SAFETY: a String's heap allocation does not move when the String moves.
unsafe impl IoBuf for String {
    fn stable_ptr(&self) -> *const u8 {
        self.as_ptr()
    }
    fn bytes_init(&self) -> usize {
        self.len()
    }
    fn bytes_total(&self) -> usize {
        self.capacity()
    }
}

// SAFETY: static data lives for the whole program.
unsafe impl IoBuf for &'static [u8] {
    fn stable_ptr(&self) -> *const u8 {
        self.as_ptr()
    }
    fn bytes_init(&self) -> usize {
        self.len()
    }
    fn bytes_total(&self) -> usize {
        self.len()
    }
}

// SAFETY: static data lives for the whole program.
unsafe impl IoBuf for &'static str {
    fn stable_ptr(&self) -> *const u8 {
        self.as_ptr()
    }
    fn bytes_init(&self) -> usize {
        self.len()
    }
    fn bytes_total(&self) -> usize {
        self.len()
    }
}

// SAFETY: each side upholds the contract for itself; the pair forwards to the side it
// holds, which never changes while an op owns the value.
unsafe impl<A: IoBuf, B: IoBuf> IoBuf for crate::future::Either<A, B> {
    fn stable_ptr(&self) -> *const u8 {
        match self {
            Self::Left(a) => a.stable_ptr(),
            Self::Right(b) => b.stable_ptr(),
        }
    }
    fn bytes_init(&self) -> usize {
        match self {
            Self::Left(a) => a.bytes_init(),
            Self::Right(b) => b.bytes_init(),
        }
    }
    fn bytes_total(&self) -> usize {
        match self {
            Self::Left(a) => a.bytes_total(),
            Self::Right(b) => b.bytes_total(),
        }
    }
}

/// Part of a buffer, from [`IoBuf::slice`]; [`Slice::into_inner`] gives the whole back.
#[derive(Debug)]
pub struct Slice<T> {
    buf: T,
    begin: usize,
    end: usize,
}

impl<T> Slice<T> {
    /// The whole buffer.
    pub fn into_inner(self) -> T {
        self.buf
    }
    /// Where the view starts in the whole buffer.
    pub fn begin(&self) -> usize {
        self.begin
    }
    /// Where the view ends in the whole buffer.
    pub fn end(&self) -> usize {
        self.end
    }
    /// The whole buffer, borrowed.
    pub fn get_ref(&self) -> &T {
        &self.buf
    }
}

// SAFETY: the view lies inside the parent buffer (begin <= end <= bytes_total), whose
// allocation is stable by the parent's own contract.
unsafe impl<T: IoBuf> IoBuf for Slice<T> {
    fn stable_ptr(&self) -> *const u8 {
        self.buf.stable_ptr().wrapping_add(self.begin)
    }
    fn bytes_init(&self) -> usize {
        self.buf.bytes_init().clamp(self.begin, self.end) - self.begin
    }
    fn bytes_total(&self) -> usize {
        self.end - self.begin
    }
}

// SAFETY: as above, for writes into the parent's allocation.
unsafe impl<T: IoBufMut> IoBufMut for Slice<T> {
    fn stable_mut_ptr(&mut self) -> *mut u8 {
        self.buf.stable_mut_ptr().wrapping_add(self.begin)
    }
    unsafe fn set_init(&mut self, n: usize) {
        let upto = self.begin + n;
        if upto > self.buf.bytes_init() {
            // SAFETY: bytes [0, begin) were initialised already (the view starts inside the
            // initialised part or right after it) and the caller wrote [begin, begin + n).
            unsafe { self.buf.set_init(upto) };
        }
    }
}

/// Marks the first `n` bytes of `buf` initialised after a read op reported `n` bytes.
///
/// Crate-internal contract: `n` is the byte count the kernel (or the pool's syscall)
/// returned for a read into exactly this buffer's pointer and capacity; it is clamped to
/// the capacity in any case.
pub(crate) fn commit_read<B: IoBufMut>(buf: &mut B, n: usize) {
    let n = n.min(buf.bytes_total());
    // SAFETY: per the contract above, the read wrote these n bytes at the buffer's start.
    unsafe { buf.set_init(n) };
}
