//! Which free provided buffers sit in the ring, and how many (pure: no syscalls).
//!
//! The kernel takes buffers in ring order. A ring holding every free buffer therefore
//! hands out the one used longest ago: with 256 × 16 KiB buffers, receives wrote into
//! memory long gone from the cache (a 4 KiB echo spent 60% more time in the kernel's copy
//! than with a buffer of its own, and 1.5% of its CPU). So only a window of buffers is
//! published, the most recently used first, the rest waits in a stack. The window starts
//! small and grows by half each time the receives of one turn take every buffer in it
//! (they may then have ended with `ENOBUFS`), so it settles just above what one turn
//! takes.

/// The window a ring starts with.
pub(crate) const FIRST_WINDOW: u16 = 16;

pub(crate) struct Window {
    /// Free buffers not in the ring, the most recently used last.
    spare: Vec<u16>,
    /// Buffers in the ring that no completion has reported taken yet.
    published: u16,
    window: u16,
    entries: u16,
}

impl Window {
    /// A window over buffers `0..entries`, all free.
    pub(crate) fn new(entries: u16) -> Self {
        Self {
            spare: (0..entries).rev().collect(),
            published: 0,
            window: FIRST_WINDOW.min(entries),
            entries,
        }
    }

    /// Buffer `bid` is free again (given back after use, or recycled unread).
    pub(crate) fn give_back(&mut self, bid: u16) {
        debug_assert!(bid < self.entries && self.spare.len() < self.entries as usize);
        self.spare.push(bid);
    }

    /// The next buffer to publish while the ring holds fewer than the window: the most
    /// recently used free one. The caller puts it in the ring.
    pub(crate) fn next_to_publish(&mut self) -> Option<u16> {
        if self.published >= self.window {
            return None;
        }
        let bid = self.spare.pop()?;
        self.published += 1;
        Some(bid)
    }

    /// A completion reported that the kernel took a buffer from the ring. Taking the last
    /// one means receives may have found the ring empty: keep half as many again in it
    /// from now on, up to every buffer.
    pub(crate) fn taken(&mut self) {
        if self.published == 1 {
            self.window = self
                .window
                .saturating_add(self.window.div_ceil(2))
                .min(self.entries);
        }
        self.published = self.published.saturating_sub(1);
    }

    #[cfg(test)]
    pub(crate) fn published(&self) -> u16 {
        self.published
    }

    #[cfg(test)]
    pub(crate) fn window(&self) -> u16 {
        self.window
    }

    /// Free buffers waiting outside the ring.
    #[cfg(test)]
    pub(crate) fn spare(&self) -> usize {
        self.spare.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn publish_all(w: &mut Window) -> Vec<u16> {
        std::iter::from_fn(|| w.next_to_publish()).collect()
    }

    #[test]
    fn publishes_only_the_window_and_the_latest_returned_first() {
        let mut w = Window::new(256);
        let first = publish_all(&mut w);
        assert_eq!(first, (0..FIRST_WINDOW).collect::<Vec<_>>());
        assert_eq!((w.published(), w.spare()), (FIRST_WINDOW, 256 - 16));
        // The kernel takes three; two come back, the last returned is published first.
        for _ in 0..3 {
            w.taken();
        }
        w.give_back(1);
        w.give_back(0);
        assert_eq!(publish_all(&mut w), vec![0, 1, 16]);
        assert_eq!(
            w.window(),
            FIRST_WINDOW,
            "never emptied, so the window held"
        );
    }

    #[test]
    fn an_emptied_ring_grows_the_window_by_half_up_to_every_buffer() {
        let mut w = Window::new(64);
        let mut sizes = Vec::new();
        loop {
            let published = publish_all(&mut w);
            for &bid in &published {
                w.taken();
                w.give_back(bid);
            }
            sizes.push(w.window());
            if w.window() == 64 {
                break;
            }
        }
        assert_eq!(sizes, vec![24, 36, 54, 64]);
    }

    #[test]
    fn taking_more_than_was_counted_does_not_underflow() {
        let mut w = Window::new(4);
        w.taken();
        assert_eq!(w.published(), 0);
        assert_eq!(w.window(), 4.min(FIRST_WINDOW));
    }

    #[derive(Debug, Clone)]
    enum Step {
        Publish,
        /// The kernel takes the oldest published buffer (the ring is FIFO).
        Take,
        /// The reader gives back the buffer at this index of those it holds.
        GiveBack(usize),
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            Just(Step::Publish),
            Just(Step::Take),
            (0usize..64).prop_map(Step::GiveBack),
        ]
    }

    proptest! {
        #[test]
        fn every_buffer_is_in_exactly_one_place(steps in prop::collection::vec(step(), 0..400)) {
            let entries = 32u16;
            let mut w = Window::new(entries);
            let mut ring = std::collections::VecDeque::new();
            let mut held: Vec<u16> = Vec::new();
            let mut emptied = 0;
            for s in steps {
                match s {
                    Step::Publish => ring.extend(publish_all(&mut w)),
                    Step::Take => {
                        if let Some(bid) = ring.pop_front() {
                            if ring.is_empty() {
                                emptied += 1;
                            }
                            w.taken();
                            held.push(bid);
                        }
                    }
                    Step::GiveBack(i) if !held.is_empty() => {
                        let bid = held.remove(i % held.len());
                        w.give_back(bid);
                    }
                    Step::GiveBack(_) => {}
                }
                prop_assert_eq!(w.published() as usize, ring.len());
                prop_assert!(w.published() <= w.window() && w.window() <= entries);
                prop_assert_eq!(ring.len() + held.len() + w.spare(), entries as usize);
                let mut all: Vec<u16> = ring.iter().chain(&held).copied().collect();
                all.sort_unstable();
                all.dedup();
                prop_assert_eq!(all.len(), ring.len() + held.len(), "a buffer in two places");
                // The window grows exactly when a take empties the ring.
                let mut expected = FIRST_WINDOW;
                for _ in 0..emptied {
                    expected = expected.saturating_add(expected.div_ceil(2)).min(entries);
                }
                prop_assert_eq!(w.window(), expected);
            }
        }
    }
}
