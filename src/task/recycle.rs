//! A per-thread cache of freed task allocations, so that spawning and finishing many short
//! tasks does not go through the global allocator every time.
//!
//! The general-purpose allocator's per-thread cache is small (glibc keeps seven blocks
//! per size); a loop that spawns a batch of a thousand tasks then joins them falls through
//! to its slow paths, which cost more than the rest of a spawn together. Blocks here are
//! ordinary global-allocator blocks of a rounded-up layout, so any thread may free one with
//! `dealloc`; the cache only keeps a bounded number per size class for reuse on the
//! thread that freed them.

use std::alloc::{alloc, dealloc, handle_alloc_error, Layout};
use std::cell::Cell;
use std::ptr::NonNull;

/// Size classes are 8 bytes short of a multiple of 16 (24, 40, 56, ...) up to this;
/// larger (or over-aligned) tasks bypass the cache. glibc's malloc adds an 8-byte size
/// word to a block and rounds the chunk up to 16, so a 104-byte block fills a 112-byte
/// chunk exactly, where rounding it to 112 would take a 128-byte chunk.
const MAX_CACHED: usize = 1016;
const CLASS: usize = 16;
/// The smallest class (the allocator's smallest chunk holds 24 bytes).
const SMALLEST: usize = 24;
/// What the global allocator gives without its slow aligned path.
const ALIGN: usize = 16;
/// Blocks kept per class: enough to absorb a burst of spawns without holding much memory.
const PER_CLASS: usize = 1024;

const CLASSES: usize = (MAX_CACHED - SMALLEST) / CLASS + 1;

/// One size class: freed blocks linked through their first word (a block is at least 16
/// bytes), so taking and returning one is a load and two stores, with no vector to grow.
struct Class {
    head: Cell<*mut u8>,
    len: Cell<usize>,
}

struct Cache {
    classes: [Class; CLASSES],
}

impl Cache {
    /// Takes a cached block of `class`, if any.
    fn pop(&self, class: usize) -> Option<NonNull<u8>> {
        let slot = self.classes.get(class)?;
        let block = NonNull::new(slot.head.get())?;
        // SAFETY: a cached block is ours, at least a pointer wide and 16-aligned; its first
        // word holds the next cached block (written by `push`).
        slot.head
            .set(unsafe { block.as_ptr().cast::<*mut u8>().read() });
        slot.len.set(slot.len.get() - 1);
        Some(block)
    }

    /// Caches `block` for `class` unless the class is full; `false` if it was not kept.
    fn push(&self, class: usize, block: NonNull<u8>) -> bool {
        let Some(slot) = self.classes.get(class) else {
            return false;
        };
        if slot.len.get() >= PER_CLASS {
            return false;
        }
        // SAFETY: the caller gave the block up; it is at least a pointer wide and aligned.
        unsafe { block.as_ptr().cast::<*mut u8>().write(slot.head.get()) };
        slot.head.set(block.as_ptr());
        slot.len.set(slot.len.get() + 1);
        true
    }
}

impl Drop for Cache {
    fn drop(&mut self) {
        for class in 0..CLASSES {
            let layout = class_layout(class);
            while let Some(block) = self.pop(class) {
                // SAFETY: every cached block was allocated with its class's layout.
                unsafe { dealloc(block.as_ptr(), layout) };
            }
        }
    }
}

thread_local! {
    static CACHE: Cache = const {
        Cache {
            classes: [const {
                Class {
                    head: Cell::new(std::ptr::null_mut()),
                    len: Cell::new(0),
                }
            }; CLASSES],
        }
    };
}

fn class_of(layout: Layout) -> Option<usize> {
    (layout.size() <= MAX_CACHED && layout.align() <= ALIGN)
        .then(|| layout.size().saturating_sub(SMALLEST).div_ceil(CLASS))
}

fn class_layout(class: usize) -> Layout {
    Layout::from_size_align(SMALLEST + class * CLASS, ALIGN).expect("valid class layout")
}

/// The layout a block for `layout` is really allocated with.
fn actual(layout: Layout) -> Layout {
    class_of(layout).map_or(layout, class_layout)
}

/// Allocates memory for `layout` (non-zero size), reusing a cached block when one fits.
///
/// Inlined into each task type's spawn, where `layout` is a constant: the size class is
/// then worked out at compile time and a reuse is a thread-local load and two stores.
#[inline(always)]
pub(crate) fn allocate(layout: Layout) -> NonNull<u8> {
    if let Some(class) = class_of(layout) {
        if let Ok(Some(block)) = CACHE.try_with(|c| c.pop(class)) {
            return block;
        }
    }
    allocate_fresh(layout)
}

#[cold]
fn allocate_fresh(layout: Layout) -> NonNull<u8> {
    let layout = actual(layout);
    // SAFETY: task layouts are never zero-sized (the header alone is not).
    NonNull::new(unsafe { alloc(layout) }).unwrap_or_else(|| handle_alloc_error(layout))
}

/// Frees a block from [`allocate`] with the same `layout`, keeping it for reuse if there
/// is room in this thread's cache. Inlined for the same reason as `allocate`.
///
/// # Safety
/// `block` must come from `allocate(layout)` and not be used afterwards.
#[inline(always)]
pub(crate) unsafe fn release(block: NonNull<u8>, layout: Layout) {
    if let Some(class) = class_of(layout) {
        if CACHE.try_with(|c| c.push(class, block)) == Ok(true) {
            return;
        }
    }
    // SAFETY: the caller's promise, passed on.
    unsafe { release_to_allocator(block, layout) };
}

/// # Safety
/// As for `release`.
#[cold]
unsafe fn release_to_allocator(block: NonNull<u8>, layout: Layout) {
    // SAFETY: allocated by `allocate` with this (rounded) layout; the caller gives it up.
    unsafe { dealloc(block.as_ptr(), actual(layout)) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_are_reused_per_class_and_big_ones_bypass_the_cache() {
        let small = Layout::from_size_align(90, 8).unwrap();
        let a = allocate(small);
        // SAFETY: a came from allocate(small).
        unsafe { release(a, small) };
        let same_class = Layout::from_size_align(104, 16).unwrap();
        let b = allocate(same_class);
        assert_eq!(a, b, "a freed block of the same class is reused");
        // SAFETY: b came from allocate(same_class).
        unsafe { release(b, same_class) };
        let big = Layout::from_size_align(4096, 8).unwrap();
        let c = allocate(big);
        // SAFETY: c came from allocate(big).
        unsafe { release(c, big) };
        assert_eq!(class_of(big), None);
        assert_eq!(class_of(Layout::from_size_align(8, 64).unwrap()), None);
        assert_eq!(class_of(Layout::from_size_align(16, 8).unwrap()), Some(0));
        assert_eq!(class_of(Layout::from_size_align(24, 8).unwrap()), Some(0));
        assert_eq!(class_of(Layout::from_size_align(25, 8).unwrap()), Some(1));
        assert_eq!(class_of(Layout::from_size_align(80, 8).unwrap()), Some(4));
        assert_eq!(
            class_of(Layout::from_size_align(MAX_CACHED, 8).unwrap()),
            Some(CLASSES - 1)
        );
        assert_eq!(
            class_of(Layout::from_size_align(MAX_CACHED + 1, 8).unwrap()),
            None
        );
    }

    #[test]
    fn every_class_is_eight_short_of_a_chunk_and_holds_its_sizes() {
        for size in 1..=MAX_CACHED {
            let layout = Layout::from_size_align(size, 8).unwrap();
            let class = class_of(layout).unwrap();
            let block = class_layout(class).size();
            assert!(block >= size && block % CLASS == 8, "{size} -> {block}");
            assert!(
                class == 0 || class_layout(class - 1).size() < size,
                "{size} fits a smaller class"
            );
        }
    }

    #[test]
    fn the_cache_is_bounded() {
        let layout = Layout::from_size_align(200, 8).unwrap();
        let blocks: Vec<_> = (0..PER_CLASS + 10).map(|_| allocate(layout)).collect();
        for block in blocks {
            // SAFETY: each came from allocate(layout).
            unsafe { release(block, layout) };
        }
        let class = class_of(layout).unwrap();
        let cached = CACHE.with(|c| c.classes[class].len.get());
        assert_eq!(cached, PER_CLASS);
    }
}
