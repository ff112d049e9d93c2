//! Packing an op slot's index and generation into the kernel's 64-bit `user_data`.
//!
//! The generation makes a late completion for a slot that was freed and reused
//! recognisable as stale, so it can never wake the slot's new owner.

/// Identifies one op slot incarnation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct OpKey {
    pub(crate) index: u32,
    pub(crate) generation: u32,
}

/// Completions of fire-and-forget SQEs (cancel requests, background closes).
pub(crate) const IGNORED_TOKEN: u64 = u64::MAX;
/// The driver's read of the cross-thread wake eventfd.
pub(crate) const WAKER_TOKEN: u64 = u64::MAX - 1;

/// The generation field is 31 bits wide so no key ever collides with a reserved token.
const GENERATION_MASK: u32 = 0x7fff_ffff;

impl OpKey {
    pub(crate) fn new(index: u32, generation: u32) -> Self {
        Self {
            index,
            generation: generation & GENERATION_MASK,
        }
    }

    pub(crate) fn to_user_data(self) -> u64 {
        ((self.generation as u64) << 32) | self.index as u64
    }

    /// `None` for the reserved tokens.
    pub(crate) fn from_user_data(user_data: u64) -> Option<Self> {
        if user_data >> 63 != 0 {
            return None;
        }
        Some(Self {
            index: user_data as u32,
            generation: (user_data >> 32) as u32,
        })
    }

    pub(crate) fn next_generation(generation: u32) -> u32 {
        generation.wrapping_add(1) & GENERATION_MASK
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_never_collides_with_reserved_tokens() {
        for (index, generation) in [
            (0, 0),
            (1, 7),
            (u32::MAX, GENERATION_MASK),
            (12345, u32::MAX),
        ] {
            let key = OpKey::new(index, generation);
            let ud = key.to_user_data();
            assert_ne!(ud, IGNORED_TOKEN);
            assert_ne!(ud, WAKER_TOKEN);
            assert_eq!(OpKey::from_user_data(ud), Some(key));
        }
        assert_eq!(OpKey::from_user_data(IGNORED_TOKEN), None);
        assert_eq!(OpKey::from_user_data(WAKER_TOKEN), None);
    }

    #[test]
    fn generation_wraps_inside_its_field() {
        assert_eq!(OpKey::next_generation(GENERATION_MASK), 0);
        assert_eq!(OpKey::next_generation(3), 4);
    }
}
