use super::*;
use proptest::prelude::*;

fn fire_all(wheel: &mut Wheel<u32>) -> Vec<u32> {
    let mut out = fire_in_order(wheel);
    out.sort_unstable();
    out
}

/// Fired payloads in the order the wheel hands them out.
fn fire_in_order(wheel: &mut Wheel<u32>) -> Vec<u32> {
    let mut out = Vec::new();
    while let Some((key, payload)) = wheel.pop_expired() {
        out.push(payload.expect("payload present"));
        assert!(!wheel.contains(key), "a fired timer's key goes stale");
    }
    out
}

#[test]
fn timers_due_together_fire_in_deadline_then_arming_order() {
    let mut wheel = Wheel::new();
    // Armed out of order, some sharing a deadline, across levels.
    for (id, deadline) in [
        (0u32, 300u64),
        (1, 5),
        (2, 70),
        (3, 5),
        (4, 4100),
        (5, 70),
        (6, 1),
    ] {
        wheel.insert(deadline, id);
    }
    wheel.advance(10_000);
    assert_eq!(fire_in_order(&mut wheel), [6, 1, 3, 2, 5, 0, 4]);
}

#[test]
fn fires_at_deadline_never_before() {
    let mut wheel = Wheel::new();
    wheel.insert(10, 1);
    wheel.advance(9);
    assert!(fire_all(&mut wheel).is_empty());
    wheel.advance(10);
    assert_eq!(fire_all(&mut wheel), vec![1]);
    assert_eq!(wheel.len(), 0);
}

#[test]
fn past_and_present_deadlines_fire_on_next_advance() {
    let mut wheel = Wheel::new();
    wheel.advance(100);
    wheel.insert(5, 1);
    wheel.insert(100, 2);
    assert_eq!(wheel.next_wake(), Some(100));
    wheel.advance(100);
    assert_eq!(fire_all(&mut wheel), vec![1, 2]);
}

#[test]
fn far_deadlines_are_kept_and_never_fire_early() {
    let mut wheel = Wheel::new();
    wheel.insert(u64::MAX, 1);
    wheel.insert(SPAN * 3 + 17, 2);
    let mut wakes = 0;
    while let Some(at) = wheel.next_wake() {
        if at > SPAN * 4 {
            break;
        }
        wheel.advance(at);
        wakes += 1;
        for fired in fire_all(&mut wheel) {
            assert_eq!(fired, 2);
            assert!(wheel.elapsed() >= SPAN * 3 + 17);
        }
    }
    assert!(
        wakes < 100,
        "far timers must not wake the loop often ({wakes} wakes)"
    );
    assert_eq!(wheel.len(), 1, "the Duration::MAX timer is still armed");
}

#[test]
fn idle_wheel_with_many_far_timers_does_not_wake_every_tick() {
    let mut wheel = Wheel::new();
    for i in 0..10_000u32 {
        wheel.insert(3_600_000 + i as u64, i);
    }
    let mut wakes = 0;
    let mut now = 0;
    while now < 3_600_000 {
        let at = wheel.next_wake().expect("armed");
        now = at.min(3_600_000);
        wheel.advance(now);
        wakes += 1;
    }
    assert!(wakes <= 12, "an hour of idling took {wakes} wake-ups");
    assert!(
        fire_all(&mut wheel).len() == 1,
        "only the 3_600_000 timer is due"
    );
}

#[test]
fn cancel_and_reset_are_exact() {
    let mut wheel = Wheel::new();
    let a = wheel.insert(50, 1);
    let b = wheel.insert(50, 2);
    assert_eq!(wheel.remove(a), Some(1));
    assert_eq!(wheel.remove(a), None, "stale key");
    assert!(wheel.reset(b, 5000));
    wheel.advance(4999);
    assert!(fire_all(&mut wheel).is_empty());
    wheel.advance(5000);
    assert_eq!(fire_all(&mut wheel), vec![2]);
    assert!(!wheel.reset(b, 10), "removed keys cannot be reset");
}

#[test]
fn a_key_keeps_index_and_generation_apart() {
    let extremes = [0, 1, 0x1234_5678, u32::MAX - 1, u32::MAX];
    for index in extremes {
        for generation in extremes {
            let key = TimerKey::new(index, generation);
            assert_eq!((key.index(), key.generation()), (index, generation));
        }
    }
}

#[test]
fn fired_timer_frees_its_entry_for_reuse() {
    let mut wheel = Wheel::new();
    let key = wheel.insert(3, 7);
    *wheel.payload_mut(key).unwrap() = Some(8);
    wheel.advance(3);
    let (fired, payload) = wheel.pop_expired().unwrap();
    assert_eq!((fired, payload), (key, Some(8)));
    assert!(!wheel.contains(key));
    assert!(!wheel.reset(key, 10), "a fired key cannot be reset");
    let again = wheel.insert(10, 9);
    assert_ne!(again, key, "the reused entry has a new generation");
    assert_eq!(wheel.remove(key), None);
    assert!(wheel.contains(again));
}

#[test]
fn pending_timers_wait_for_their_start_then_fire_in_arming_order() {
    let mut wheel = Wheel::new();
    wheel.advance(100);
    let a = wheel.insert_pending(30);
    let b = wheel.insert_pending(5);
    let c = wheel.insert_pending(30);
    for (key, id) in [(a, 1), (b, 2), (c, 3)] {
        assert_eq!(
            *wheel.payload_mut(key).unwrap(),
            None,
            "armed without payload"
        );
        *wheel.payload_mut(key).unwrap() = Some(id);
    }
    assert_eq!(wheel.len(), 3, "pending timers count as armed");
    assert!(wheel.has_pending());
    assert_eq!(wheel.due(a), Some(Due::AfterPending(30)));
    assert_eq!(
        wheel.next_wake(),
        Some(100),
        "the owner must attend before sleeping"
    );
    wheel.advance(10_000);
    assert!(
        fire_all(&mut wheel).is_empty(),
        "nothing pending fires before its start is fixed"
    );
    wheel.resolve_pending(|delay| 10_000 + delay);
    assert!(!wheel.has_pending());
    assert_eq!(wheel.due(a), Some(Due::At(10_030)));
    assert_eq!(wheel.next_wake(), Some(10_005));
    wheel.advance(10_029);
    assert_eq!(fire_in_order(&mut wheel), [2]);
    wheel.advance(10_030);
    assert_eq!(fire_in_order(&mut wheel), [1, 3]);
    assert_eq!(wheel.len(), 0);
}

#[test]
fn pending_timers_can_be_cancelled_or_given_a_deadline() {
    let mut wheel: Wheel<u32> = Wheel::new();
    let gone = wheel.insert_pending(7);
    let fixed = wheel.insert_pending(7);
    let kept = wheel.insert_pending(7);
    assert_eq!(wheel.remove(gone), None, "removed; it had no payload yet");
    assert!(!wheel.contains(gone));
    assert!(wheel.reset(fixed, 40));
    assert_eq!(wheel.due(fixed), Some(Due::At(40)));
    assert_eq!(wheel.len(), 2);
    wheel.resolve_pending(|delay| 100 + delay);
    assert_eq!(wheel.due(kept), Some(Due::At(107)));
    assert_eq!(
        wheel.due(fixed),
        Some(Due::At(40)),
        "a fixed deadline is not moved"
    );
    wheel.advance(200);
    let mut fired = Vec::new();
    while let Some((key, payload)) = wheel.pop_expired() {
        assert_eq!(payload, None, "no payload was ever set");
        fired.push(key);
    }
    assert_eq!(fired, [fixed, kept]);
    assert_eq!(wheel.len(), 0);
}

#[test]
fn a_fired_timer_remembers_its_tick_until_the_entry_is_reused() {
    let mut wheel = Wheel::new();
    let key = wheel.insert(12, 1);
    assert_eq!(wheel.fired_at(key), None, "still armed");
    wheel.advance(20);
    assert_eq!(fire_all(&mut wheel), vec![1]);
    assert_eq!(wheel.due(key), None);
    assert_eq!(wheel.fired_at(key), Some(12));
    let other = wheel.insert(30, 2);
    assert_eq!(wheel.remove(other), Some(2));
    assert_eq!(
        wheel.fired_at(key),
        Some(12),
        "not reused before the next advance"
    );
    wheel.advance(21);
    wheel.insert(40, 3);
    wheel.insert(40, 4);
    assert_eq!(wheel.fired_at(key), None, "the entry was reused");
}

#[test]
fn a_cancelled_timer_has_no_fired_tick() {
    let mut wheel = Wheel::new();
    let cancelled = wheel.insert(12, 1);
    let pending = wheel.insert_pending(5);
    assert_eq!(wheel.remove(cancelled), Some(1));
    assert_eq!(
        wheel.remove(pending),
        None,
        "a pending timer has no payload yet"
    );
    assert_eq!(wheel.fired_at(cancelled), None);
    assert_eq!(wheel.fired_at(pending), None);
    // The freed entries are reused by the next inserts, then fire: only the new keys
    // report a tick.
    let a = wheel.insert(15, 2);
    let b = wheel.insert(16, 3);
    wheel.advance(20);
    assert_eq!(fire_all(&mut wheel), vec![2, 3]);
    assert_eq!((wheel.fired_at(a), wheel.fired_at(b)), (Some(15), Some(16)));
    assert_eq!(wheel.fired_at(cancelled), None);
    assert_eq!(wheel.fired_at(pending), None);
}

#[test]
fn next_wake_is_exact_for_near_timers_across_levels() {
    for deadline in [
        1u64, 63, 64, 65, 4095, 4096, 4097, 262_143, 262_145, 16_777_300,
    ] {
        let mut wheel = Wheel::new();
        wheel.advance(1);
        wheel.insert(deadline.max(2), 0);
        let mut now = 1;
        let mut fired = Vec::new();
        while fired.is_empty() {
            now = wheel.next_wake().unwrap();
            wheel.advance(now);
            fired = fire_all(&mut wheel);
        }
        assert_eq!(now, deadline.max(2), "deadline {deadline} fired at {now}");
    }
}

#[derive(Debug, Clone)]
enum Op {
    Insert(u64),
    /// A timer armed with only a delay, started at the next advance's time.
    InsertPending(u64),
    Cancel(usize),
    Reset(usize, u64),
    Advance(u64),
}

fn op() -> impl Strategy<Value = Op> {
    let delta = prop_oneof![0..70u64, 0..5000u64, 0..300_000u64, Just(u64::MAX / 2)];
    prop_oneof![
        4 => delta.clone().prop_map(Op::Insert),
        2 => delta.clone().prop_map(Op::InsertPending),
        1 => (0..64usize).prop_map(Op::Cancel),
        1 => (0..64usize, delta).prop_map(|(i, d)| Op::Reset(i, d)),
        3 => prop_oneof![0..3u64, 0..100u64, 0..10_000u64, 0..400_000u64].prop_map(Op::Advance),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]
    /// The wheel against a sorted-list model, through insert/cancel/reset/advance
    /// interleavings: after every advance the fired set is exactly the due set. Pending
    /// timers start at the advance that follows them, as the loop starts them.
    #[test]
    fn wheel_matches_sorted_list_model(ops in proptest::collection::vec(op(), 1..300)) {
        let mut wheel: Wheel<u32> = Wheel::new();
        let mut keys: Vec<TimerKey> = Vec::new();
        // model: id -> Some(deadline) while armed
        let mut model: Vec<Option<u64>> = Vec::new();
        // ids armed pending (with their delay), not yet started
        let mut pending: Vec<(usize, u64)> = Vec::new();
        let mut now = 0u64;
        for op in ops {
            match op {
                Op::Insert(delta) => {
                    let id = keys.len() as u32;
                    let deadline = now.saturating_add(delta);
                    keys.push(wheel.insert(deadline, id));
                    model.push(Some(deadline));
                }
                Op::InsertPending(delay) => {
                    let id = keys.len();
                    let key = wheel.insert_pending(delay);
                    *wheel.payload_mut(key).expect("armed") = Some(id as u32);
                    prop_assert_eq!(wheel.next_wake(), Some(wheel.elapsed()));
                    keys.push(key);
                    model.push(None);
                    pending.push((id, delay));
                }
                Op::Cancel(i) if i < keys.len() => {
                    let was_pending = pending.iter().any(|&(id, _)| id == i);
                    pending.retain(|&(id, _)| id != i);
                    let was_armed = model[i].take().is_some() || was_pending;
                    let got = wheel.remove(keys[i]);
                    prop_assert_eq!(got.is_some(), was_armed);
                }
                Op::Reset(i, delta) if i < keys.len() && (model[i].is_some() || pending.iter().any(|&(id, _)| id == i)) => {
                    pending.retain(|&(id, _)| id != i);
                    let deadline = now.saturating_add(delta);
                    prop_assert!(wheel.reset(keys[i], deadline));
                    model[i] = Some(deadline);
                }
                Op::Advance(delta) => {
                    now = now.saturating_add(delta);
                    wheel.resolve_pending(|delay| now.saturating_add(delay));
                    for (id, delay) in pending.drain(..) {
                        model[id] = Some(now.saturating_add(delay));
                    }
                    if let Some(wake) = wheel.next_wake() {
                        let earliest = model.iter().flatten().min().copied();
                        prop_assert!(earliest.is_some_and(|e| wake <= e.max(wheel.elapsed())), "next_wake {} after earliest {:?}", wake, earliest);
                    } else {
                        prop_assert!(model.iter().all(|m| m.is_none()));
                    }
                    wheel.advance(now);
                    let in_order = fire_in_order(&mut wheel);
                    let deadlines: Vec<u64> = in_order.iter().map(|id| model[*id as usize].expect("armed")).collect();
                    prop_assert!(deadlines.windows(2).all(|w| w[0] <= w[1]), "fired out of deadline order: {:?}", deadlines);
                    let mut fired = in_order;
                    fired.sort_unstable();
                    let mut expected: Vec<u32> = model.iter().enumerate()
                        .filter(|(_, d)| d.is_some_and(|d| d <= now))
                        .map(|(i, _)| i as u32).collect();
                    expected.sort_unstable();
                    for id in &expected { model[*id as usize] = None; }
                    prop_assert_eq!(fired, expected);
                }
                _ => {}
            }
            prop_assert_eq!(wheel.len(), model.iter().flatten().count() + pending.len());
            prop_assert_eq!(wheel.pending_len(), pending.len());
        }
    }
}
