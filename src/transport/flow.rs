//! Write-side flow control: asyncio's high/low watermarks, edge-triggered. Pure.
//!
//! `pause_writing` fires when the buffered size goes strictly above `high`, and
//! `resume_writing` when it drops to `low` or below, each once per crossing.

use std::io;

/// Default high-water mark, as asyncio's.
pub const DEFAULT_HIGH: usize = 64 * 1024;

/// A flow-control edge the protocol must be told about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Edge {
    Pause,
    Resume,
}

#[derive(Debug, Clone)]
pub(crate) struct FlowControl {
    high: usize,
    low: usize,
    paused: bool,
}

impl Default for FlowControl {
    fn default() -> Self {
        Self {
            high: DEFAULT_HIGH,
            low: DEFAULT_HIGH / 4,
            paused: false,
        }
    }
}

impl FlowControl {
    pub(crate) fn limits(&self) -> (usize, usize) {
        (self.low, self.high)
    }

    pub(crate) fn is_paused(&self) -> bool {
        self.paused
    }

    /// asyncio's `set_write_buffer_limits(high, low)`: a missing `high` is `4 * low` (or the
    /// default), a missing `low` is `high / 4`; `high >= low` is required.
    pub(crate) fn set_limits(
        &mut self,
        high: Option<usize>,
        low: Option<usize>,
        size: usize,
    ) -> io::Result<Option<Edge>> {
        let high = high.unwrap_or_else(|| low.map_or(DEFAULT_HIGH, |l| l.saturating_mul(4)));
        let low = low.unwrap_or(high / 4);
        if high < low {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("write buffer limits need high >= low, got high={high} low={low}"),
            ));
        }
        self.high = high;
        self.low = low;
        Ok(self.update(size))
    }

    /// The edge, if any, that the buffer's new `size` crosses.
    pub(crate) fn update(&mut self, size: usize) -> Option<Edge> {
        if !self.paused && size > self.high {
            self.paused = true;
            Some(Edge::Pause)
        } else if self.paused && size <= self.low {
            self.paused = false;
            Some(Edge::Resume)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn defaults_and_crossings() {
        let mut f = FlowControl::default();
        assert_eq!(f.limits(), (16 * 1024, 64 * 1024));
        assert_eq!(f.update(64 * 1024), None, "at high is not above high");
        assert_eq!(f.update(64 * 1024 + 1), Some(Edge::Pause));
        assert_eq!(f.update(100 * 1024), None, "edge-triggered");
        assert_eq!(f.update(16 * 1024 + 1), None);
        assert_eq!(f.update(16 * 1024), Some(Edge::Resume));
        assert_eq!(f.update(0), None);
    }

    #[test]
    fn limits_are_validated_and_derived() {
        let mut f = FlowControl::default();
        assert!(f.set_limits(Some(10), Some(20), 0).is_err());
        assert_eq!(f.set_limits(Some(100), None, 0).unwrap(), None);
        assert_eq!(f.limits(), (25, 100));
        assert_eq!(f.set_limits(None, Some(10), 0).unwrap(), None);
        assert_eq!(f.limits(), (10, 40));
        assert_eq!(
            f.set_limits(Some(0), Some(0), 1).unwrap(),
            Some(Edge::Pause),
            "new limits apply at once"
        );
    }

    proptest! {
        /// Properties, not a re-implementation: edges alternate starting with Pause; a Pause
        /// only fires above `high` and a Resume only at or below `low`; and after every step
        /// the state is forced outside the band (paused above `high`, running at or below
        /// `low`), so no crossing goes unreported.
        #[test]
        fn edges_alternate_and_track_the_band(
            low in 0usize..1000, extra in 0usize..1000,
            sizes in proptest::collection::vec(0usize..3000, 1..200),
        ) {
            let high = low + extra;
            let mut f = FlowControl::default();
            f.set_limits(Some(high), Some(low), 0).unwrap();
            let mut last = Edge::Resume;
            for size in sizes {
                match f.update(size) {
                    Some(Edge::Pause) => {
                        prop_assert_eq!(last, Edge::Resume);
                        prop_assert!(size > high);
                        last = Edge::Pause;
                    }
                    Some(Edge::Resume) => {
                        prop_assert_eq!(last, Edge::Pause);
                        prop_assert!(size <= low);
                        last = Edge::Resume;
                    }
                    None => {}
                }
                if size > high { prop_assert!(f.is_paused()); }
                if size <= low { prop_assert!(!f.is_paused()); }
                prop_assert_eq!(f.is_paused(), last == Edge::Pause);
            }
        }
    }
}
