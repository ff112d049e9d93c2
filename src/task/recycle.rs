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
use std::cell::RefCell;
use std::ptr::NonNull;

/// Size classes are multiples of 16 bytes up to this; larger (or over-aligned) tasks
/// bypass the cache.
const MAX_CACHED: usize = 1024;
const CLASS: usize = 16;
/// What the global allocator gives without its slow aligned path.
const ALIGN: usize = 16;
/// Blocks kept per class: enough to absorb a burst of spawns without holding much memory.
const PER_CLASS: usize = 1024;

const CLASSES: usize = MAX_CACHED / CLASS;

struct Cache {
    classes: [Vec<NonNull<u8>>; CLASSES],
}

impl Drop for Cache {
    fn drop(&mut self) {
        for (i, blocks) in self.classes.iter().enumerate() {
            let layout = class_layout(i);
            for block in blocks {
                // SAFETY: every cached block was allocated with its class's layout.
                unsafe { dealloc(block.as_ptr(), layout) };
            }
        }
    }
}

thread_local! {
    static CACHE: RefCell<Cache> = const {
        RefCell::new(Cache {
            classes: [const { Vec::new() }; CLASSES],
        })
    };
}

fn class_of(layout: Layout) -> Option<usize> {
    (layout.size() <= MAX_CACHED && layout.align() <= ALIGN)
        .then(|| layout.size().div_ceil(CLASS).max(1) - 1)
}

fn class_layout(class: usize) -> Layout {
    Layout::from_size_align((class + 1) * CLASS, ALIGN).expect("valid class layout")
}

/// The layout a block for `layout` is really allocated with.
fn actual(layout: Layout) -> Layout {
    class_of(layout).map_or(layout, class_layout)
}

/// Allocates memory for `layout` (non-zero size), reusing a cached block when one fits.
pub(crate) fn allocate(layout: Layout) -> NonNull<u8> {
    if let Some(class) = class_of(layout) {
        let reused = CACHE
            .try_with(|c| c.try_borrow_mut().ok()?.classes.get_mut(class)?.pop())
            .ok()
            .flatten();
        if let Some(block) = reused {
            return block;
        }
    }
    let layout = actual(layout);
    // SAFETY: task layouts are never zero-sized (the header alone is not).
    NonNull::new(unsafe { alloc(layout) }).unwrap_or_else(|| handle_alloc_error(layout))
}

/// Frees a block from [`allocate`] with the same `layout`, keeping it for reuse if there
/// is room in this thread's cache.
///
/// # Safety
/// `block` must come from `allocate(layout)` and not be used afterwards.
pub(crate) unsafe fn release(block: NonNull<u8>, layout: Layout) {
    if let Some(class) = class_of(layout) {
        let kept = CACHE.try_with(|c| {
            let Ok(mut cache) = c.try_borrow_mut() else {
                return false;
            };
            let Some(blocks) = cache.classes.get_mut(class) else {
                return false;
            };
            if blocks.len() >= PER_CLASS {
                return false;
            }
            blocks.push(block);
            true
        });
        if kept == Ok(true) {
            return;
        }
    }
    // SAFETY: allocated by `allocate` with this (rounded) layout; the caller gives it up.
    unsafe { dealloc(block.as_ptr(), actual(layout)) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_are_reused_per_class_and_big_ones_bypass_the_cache() {
        let small = Layout::from_size_align(100, 8).unwrap();
        let a = allocate(small);
        // SAFETY: a came from allocate(small).
        unsafe { release(a, small) };
        let same_class = Layout::from_size_align(112, 16).unwrap();
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
        assert_eq!(class_of(Layout::from_size_align(17, 8).unwrap()), Some(1));
        assert_eq!(class_of(Layout::from_size_align(80, 8).unwrap()), Some(4));
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
        let cached = CACHE.with(|c| c.borrow().classes[class].len());
        assert_eq!(cached, PER_CLASS);
    }
}
