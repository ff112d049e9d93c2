use super::*;
use proptest::prelude::*;

/// 3 GHz: a third of a nanosecond per tick, in 32.32.
const RATE_3GHZ: u64 = (1u64 << 32) / 3;

#[test]
fn an_uncalibrated_anchor_gives_no_estimate() {
    assert_eq!(Anchor::new(100, 5_000, 0), Anchor::STALE);
    assert_eq!(Anchor::STALE.estimate(0), None);
    assert_eq!(Anchor::STALE.estimate(1_000), None);
}

#[test]
fn estimates_are_padded_and_expire_after_a_millisecond() {
    let anchor = Anchor::new(1_000, 10_000_000, RATE_3GHZ);
    assert_eq!(anchor.estimate(1_000), Some(10_000_000 + PAD_NS));
    let after_3000_ticks = anchor.estimate(4_000).unwrap();
    assert!((10_000_000 + 1_000 + PAD_NS..10_000_000 + 1_020 + PAD_NS).contains(&after_3000_ticks));
    assert!(
        anchor.estimate(1_000 + 2_990_000).is_some(),
        "just under 1 ms"
    );
    assert_eq!(anchor.estimate(1_000 + 3_100_000), None, "over 1 ms");
}

#[test]
fn a_counter_that_went_backwards_gives_no_estimate() {
    let anchor = Anchor::new(1_000_000, 10_000_000, RATE_3GHZ);
    assert_eq!(anchor.estimate(999_999), None);
}

#[test]
fn calibration_needs_a_long_enough_baseline() {
    assert_eq!(
        rate_q32((0, 0), (3_000_000, 1_000_000)),
        None,
        "1 ms is too short"
    );
    assert!(
        rate_q32((0, 0), (6_000_000, 2_000_000)).is_some(),
        "2 ms is enough"
    );
    assert_eq!(rate_q32((5, 0), (5, 100_000_000)), None, "no ticks");
    assert_eq!(
        rate_q32((10, 200), (5, 100_000_000)),
        None,
        "counter went backwards"
    );
    let rate = rate_q32((1_000, 0), (1_000 + 150_000_000, 50_000_000)).unwrap();
    assert!(rate.abs_diff(RATE_3GHZ) <= 1, "{rate} vs {RATE_3GHZ}");
}

#[test]
fn conversions_round_trip_and_saturate() {
    let later = epoch() + Duration::from_millis(1234);
    assert_eq!(ns_of(later), 1_234_000_000);
    assert_eq!(instant_of(1_234_000_000), Some(later));
    assert_eq!(ns_of(epoch()), 0);
    assert_eq!(duration_ns(Duration::MAX), u64::MAX);
    assert_eq!(duration_ns(Duration::from_micros(3)), 3_000);
}

#[test]
fn ticks_round_deadlines_up_and_now_down() {
    assert_eq!(tick_at_or_after(0), 0);
    assert_eq!(tick_at_or_after(1), 1);
    assert_eq!(tick_at_or_after(2_000_000), 2);
    assert_eq!(tick_at_or_after(2_000_001), 3);
    assert_eq!(tick_at_or_after(u64::MAX), u64::MAX, "never stays never");
    assert_eq!(tick_of_now(2_999_999), 2);
    assert_eq!(tick_start_ns(3), Some(3_000_000));
    assert_eq!(tick_start_ns(u64::MAX), None);
}

#[test]
fn the_estimated_clock_never_runs_behind_the_real_one() {
    // Long enough for a calibration (2 ms) and many anchors, with estimates in between.
    let until = Instant::now() + Duration::from_millis(120);
    let mut reads = 0u64;
    while Instant::now() < until {
        let before = ns_of(Instant::now());
        let estimate = now_ns();
        let after = ns_of(Instant::now());
        assert!(estimate >= before, "estimate {estimate} < truth {before}");
        // Padding is 2 µs plus under 1% of an anchor's age (at most 1 ms); being preempted
        // between the reads only moves `after` later, so this bound cannot flake.
        assert!(
            estimate <= after + 100_000,
            "estimate {estimate} far ahead of {after}"
        );
        reads += 1;
    }
    assert!(reads > 1_000);
}

proptest! {
    /// Against a model counter running at `true_rate`: however far off the calibration is
    /// (within 1/128) and however late the anchor's clock read came, an estimate is never
    /// below the true time and never more than the padding plus 2% above it.
    #[test]
    fn estimates_lean_late_but_not_far(
        true_rate in (1u64 << 30)..(1u64 << 34),
        error_per_mille in -7i64..=7,
        read_gap in 0u64..1_500,
        anchor_tsc in 0u64..(1 << 50),
        anchor_true_ns in 0u64..(1 << 50),
        ticks in 0u64..10_000_000,
    ) {
        let rate = (true_rate as i64 + true_rate as i64 * error_per_mille / 1000) as u64;
        let anchor = Anchor::new(anchor_tsc, anchor_true_ns + read_gap, rate);
        let truth = anchor_true_ns + ((ticks as u128 * true_rate as u128) >> 32) as u64;
        if let Some(estimate) = anchor.estimate(anchor_tsc + ticks) {
            prop_assert!(estimate >= truth);
            prop_assert!(estimate <= truth + read_gap + PAD_NS + (truth - anchor_true_ns) / 50 + 1);
            prop_assert!(truth - anchor_true_ns <= ANCHOR_LIFETIME_NS * 102 / 100);
        }
    }
}
