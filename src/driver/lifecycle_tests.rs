use super::*;
use proptest::prelude::*;
use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::Wake;

struct CountingWaker(AtomicUsize);
impl Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

fn counting_waker() -> (Arc<CountingWaker>, Waker) {
    let inner = Arc::new(CountingWaker(AtomicUsize::new(0)));
    (inner.clone(), Waker::from(inner))
}

/// Records the result it was released with, so tests can see that release happened once.
struct Recorder(Rc<RefCell<Vec<RawResult>>>);
impl Orphan for Recorder {
    fn release(self: Box<Self>, res: RawResult) {
        self.0.borrow_mut().push(res);
    }
}

fn poll(slab: &mut OpSlab, key: OpKey, waker: &Waker) -> Action {
    let mut cx = Context::from_waker(waker);
    slab.transition(key, Event::Poll(&mut cx))
}

#[test]
fn completion_wakes_then_poll_returns_result_and_frees() {
    let mut slab = OpSlab::new();
    let (count, waker) = counting_waker();
    let key = slab.insert(None);
    assert!(matches!(poll(&mut slab, key, &waker), Action::Pending));
    match slab.transition(key, Event::Complete(42)) {
        Action::Wake(w) => w.wake(),
        _ => panic!("expected a wake"),
    }
    assert_eq!(count.0.load(Ordering::SeqCst), 1);
    assert!(matches!(poll(&mut slab, key, &waker), Action::Ready(42)));
    assert_eq!(slab.live(), 0);
}

#[test]
fn late_completion_for_reused_slot_is_stale() {
    let mut slab = OpSlab::new();
    let (_, waker) = counting_waker();
    let old = slab.insert(None);
    slab.transition(old, Event::Complete(1));
    assert!(matches!(poll(&mut slab, old, &waker), Action::Ready(1)));
    let new = slab.insert(Some(waker.clone()));
    assert_eq!(new.index, old.index, "the slot is reused");
    assert!(matches!(
        slab.transition(old, Event::Complete(7)),
        Action::Stale
    ));
    assert!(
        matches!(poll(&mut slab, new, &waker), Action::Pending),
        "the new owner was not completed"
    );
}

#[test]
fn dropped_future_keeps_data_until_completion_then_releases_once() {
    let mut slab = OpSlab::new();
    let released = Rc::new(RefCell::new(Vec::new()));
    let key = slab.insert(None);
    assert!(matches!(
        slab.transition(key, Event::Drop(Box::new(Recorder(released.clone())))),
        Action::Cancel
    ));
    assert!(
        released.borrow().is_empty(),
        "data must outlive the in-flight op"
    );
    assert_eq!(slab.orphaned(), 1);
    match slab.transition(key, Event::Complete(-libc::ECANCELED)) {
        Action::Release(data, res) => data.release(res),
        _ => panic!("expected release"),
    }
    assert_eq!(*released.borrow(), vec![-libc::ECANCELED]);
    assert_eq!(slab.live(), 0);
    assert!(matches!(
        slab.transition(key, Event::Complete(0)),
        Action::Stale
    ));
}

#[test]
fn drop_after_completion_releases_immediately() {
    let mut slab = OpSlab::new();
    let released = Rc::new(RefCell::new(Vec::new()));
    let key = slab.insert(None);
    slab.transition(key, Event::Complete(5));
    match slab.transition(key, Event::Drop(Box::new(Recorder(released.clone())))) {
        Action::Release(data, res) => data.release(res),
        _ => panic!("expected release"),
    }
    assert_eq!(*released.borrow(), vec![5]);
    assert_eq!(slab.live(), 0);
}

#[test]
fn raw_result_conversions() {
    assert_eq!(raw_to_io(3).unwrap(), 3);
    assert_eq!(
        raw_to_io(-libc::EAGAIN).unwrap_err().raw_os_error(),
        Some(libc::EAGAIN)
    );
    assert_eq!(io_to_raw(&Ok(9)), 9);
    assert_eq!(
        io_to_raw(&Err(io::Error::from_raw_os_error(libc::EBADF))),
        -libc::EBADF
    );
}

#[test]
fn a_quiet_op_wakes_only_for_an_unexpected_result() {
    let mut slab = OpSlab::new();
    let (count, waker) = counting_waker();
    let key = slab.insert(None);
    assert!(matches!(poll(&mut slab, key, &waker), Action::Pending));
    assert!(matches!(
        slab.transition(key, Event::Quiet(10)),
        Action::Pending
    ));
    assert!(
        matches!(slab.transition(key, Event::Complete(10)), Action::None),
        "expected: no wake"
    );
    assert!(
        matches!(poll(&mut slab, key, &waker), Action::Ready(10)),
        "collected on the next poll"
    );

    let short = slab.insert(None);
    assert!(matches!(poll(&mut slab, short, &waker), Action::Pending));
    slab.transition(short, Event::Quiet(10));
    match slab.transition(short, Event::Complete(4)) {
        Action::Wake(w) => w.wake(),
        _ => panic!("a short result must wake"),
    }
    assert_eq!(count.0.load(Ordering::SeqCst), 1);
    assert!(matches!(poll(&mut slab, short, &waker), Action::Ready(4)));
    assert_eq!(slab.live(), 0);
}

#[test]
fn polling_a_quiet_op_makes_every_result_wake_again() {
    let mut slab = OpSlab::new();
    let (count, waker) = counting_waker();
    let key = slab.insert(Some(waker.clone()));
    slab.transition(key, Event::Quiet(10));
    assert!(matches!(poll(&mut slab, key, &waker), Action::Pending));
    match slab.transition(key, Event::Complete(10)) {
        Action::Wake(w) => w.wake(),
        _ => panic!("a polled op wakes for any result"),
    }
    assert_eq!(count.0.load(Ordering::SeqCst), 1);
    assert!(
        matches!(slab.transition(key, Event::Quiet(10)), Action::None),
        "already completed"
    );
    assert!(matches!(poll(&mut slab, key, &waker), Action::Ready(10)));
}

#[test]
fn a_quiet_op_dropped_in_flight_is_orphaned_and_released_once() {
    let mut slab = OpSlab::new();
    let released = Rc::new(RefCell::new(Vec::new()));
    let key = slab.insert(None);
    slab.transition(key, Event::Quiet(3));
    assert!(matches!(
        slab.transition(key, Event::Drop(Box::new(Recorder(released.clone())))),
        Action::Cancel
    ));
    match slab.transition(key, Event::Complete(3)) {
        Action::Release(data, res) => data.release(res),
        _ => panic!("the orphan's data is released at completion"),
    }
    assert_eq!(*released.borrow(), [3]);
    assert_eq!(slab.live(), 0);
}

#[derive(Debug, Clone)]
enum Step {
    Submit,
    Poll(usize),
    Complete(usize, i32),
    Drop(usize),
    Quiet(usize, i32),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        Just(Step::Submit),
        (0..16usize).prop_map(Step::Poll),
        (0..16usize, -5..100i32).prop_map(|(i, r)| Step::Complete(i, r)),
        (0..16usize).prop_map(Step::Drop),
        // A small range, so that results often match what a quiet op expects.
        (0..16usize, 0..4i32).prop_map(|(i, r)| Step::Quiet(i, r)),
    ]
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Model {
    Waiting,
    /// Waiting, woken only by a result other than this.
    Quiet(i32),
    Completed(i32),
    Orphaned,
    Gone,
}

proptest! {
    /// Against a per-key model: results reach the right owner exactly once, stale keys never
    /// act, orphaned data is released exactly once, and `live` matches the model.
    #[test]
    fn slab_matches_model(steps in proptest::collection::vec(step(), 1..200)) {
        let mut slab = OpSlab::new();
        let (counter, waker) = counting_waker();
        let released = Rc::new(RefCell::new(Vec::new()));
        let mut keys: Vec<(OpKey, Model)> = Vec::new();
        let mut expected_releases = 0usize;
        for s in steps {
            match s {
                Step::Submit => keys.push((slab.insert(Some(waker.clone())), Model::Waiting)),
                Step::Poll(i) if i < keys.len() => {
                    let (key, model) = keys[i];
                    match (model, poll(&mut slab, key, &waker)) {
                        (Model::Waiting, Action::Pending) => {}
                        (Model::Quiet(_), Action::Pending) => keys[i].1 = Model::Waiting,
                        (Model::Completed(r), Action::Ready(got)) => { prop_assert_eq!(r, got); keys[i].1 = Model::Gone; }
                        (Model::Gone, Action::Stale) => {}
                        (Model::Orphaned, Action::None) => {}
                        (m, _) => prop_assert!(false, "unexpected action on poll in {:?}", m),
                    }
                }
                Step::Complete(i, r) if i < keys.len() => {
                    let (key, model) = keys[i];
                    match (model, slab.transition(key, Event::Complete(r))) {
                        (Model::Waiting, Action::Wake(_)) => keys[i].1 = Model::Completed(r),
                        (Model::Quiet(e), Action::None) if e == r => keys[i].1 = Model::Completed(r),
                        (Model::Quiet(e), Action::Wake(_)) if e != r => keys[i].1 = Model::Completed(r),
                        (Model::Orphaned, Action::Release(d, res)) => { d.release(res); keys[i].1 = Model::Gone; }
                        (Model::Completed(_), Action::None) | (Model::Gone, Action::Stale) => {}
                        (m, _) => prop_assert!(false, "unexpected action on complete in {:?}", m),
                    }
                }
                Step::Drop(i) if i < keys.len() => {
                    let (key, model) = keys[i];
                    if matches!(model, Model::Waiting | Model::Quiet(_) | Model::Completed(_)) { expected_releases += 1; }
                    match (model, slab.transition(key, Event::Drop(Box::new(Recorder(released.clone()))))) {
                        (Model::Waiting | Model::Quiet(_), Action::Cancel) => { keys[i].1 = Model::Orphaned; }
                        (Model::Completed(r), Action::Release(d, res)) => { prop_assert_eq!(r, res); d.release(res); keys[i].1 = Model::Gone; }
                        (Model::Gone, Action::Stale) | (Model::Orphaned, Action::None) => {}
                        (m, _) => prop_assert!(false, "unexpected action on drop in {:?}", m),
                    }
                }
                Step::Quiet(i, e) if i < keys.len() => {
                    let (key, model) = keys[i];
                    match (model, slab.transition(key, Event::Quiet(e))) {
                        (Model::Waiting | Model::Quiet(_), Action::Pending) => keys[i].1 = Model::Quiet(e),
                        (Model::Completed(_) | Model::Orphaned, Action::None) | (Model::Gone, Action::Stale) => {}
                        (m, _) => prop_assert!(false, "unexpected action on quiet in {:?}", m),
                    }
                }
                _ => {}
            }
            let live = keys.iter().filter(|(_, m)| *m != Model::Gone).count();
            prop_assert_eq!(slab.live(), live);
        }
        let orphans = keys.iter().filter(|(_, m)| *m == Model::Orphaned).count();
        prop_assert_eq!(released.borrow().len() + orphans, expected_releases);
        prop_assert_eq!(slab.drain_orphans().len(), orphans);
        drop(slab);
        // Every waker clone the slab took was dropped along the way or with the slab (it
        // skips drop glue for states it knows own nothing): only `counter` and `waker` remain.
        prop_assert_eq!(Arc::strong_count(&counter), 2);
    }
}

/// Counts released multishot items, for the stream tests.
struct ItemRecorder(Rc<RefCell<Vec<RawResult>>>);
impl Orphan for ItemRecorder {
    fn release(self: Box<Self>, _res: RawResult) {}
    fn release_item(&mut self, res: RawResult, _flags: u32) {
        self.0.borrow_mut().push(res);
    }
}

fn poll_item(slab: &mut OpSlab, key: OpKey, waker: &Waker) -> Action {
    let mut cx = Context::from_waker(waker);
    slab.transition(key, Event::PollItem(&mut cx))
}

#[test]
fn stream_items_arrive_in_order_and_end() {
    let mut slab = OpSlab::new();
    let (count, waker) = counting_waker();
    let key = slab.insert_stream(None);
    assert!(slab.is_stream(key));
    assert!(matches!(poll_item(&mut slab, key, &waker), Action::Pending));
    for (i, more) in [(1, true), (2, true), (3, false)] {
        if let Action::Wake(w) = slab.transition(
            key,
            Event::Item {
                res: i,
                flags: 0,
                more,
            },
        ) {
            w.wake();
        }
    }
    assert_eq!(
        count.0.load(Ordering::SeqCst),
        1,
        "woken once; items queue up"
    );
    for expected in [1, 2, 3] {
        assert!(matches!(poll_item(&mut slab, key, &waker), Action::Item(r, _) if r == expected));
    }
    assert!(matches!(poll_item(&mut slab, key, &waker), Action::Ended));
    assert_eq!(slab.live(), 0);
    assert!(matches!(
        slab.transition(
            key,
            Event::Item {
                res: 9,
                flags: 0,
                more: false
            }
        ),
        Action::Stale
    ));
}

#[test]
fn dropped_stream_releases_late_items_until_the_final_one() {
    let mut slab = OpSlab::new();
    let released = Rc::new(RefCell::new(Vec::new()));
    let key = slab.insert_stream(None);
    slab.transition(
        key,
        Event::Item {
            res: 10,
            flags: 0,
            more: true,
        },
    );
    // The future drains what is queued itself, then hands its data to the slot.
    let (_, waker) = counting_waker();
    assert!(matches!(
        poll_item(&mut slab, key, &waker),
        Action::Item(10, _)
    ));
    assert!(matches!(
        slab.transition(key, Event::Drop(Box::new(ItemRecorder(released.clone())))),
        Action::Cancel
    ));
    assert!(matches!(
        slab.transition(
            key,
            Event::Item {
                res: 11,
                flags: 7,
                more: true
            }
        ),
        Action::Released
    ));
    assert_eq!(slab.live(), 1, "still waiting for the final completion");
    assert!(matches!(
        slab.transition(
            key,
            Event::Item {
                res: -libc::ECANCELED,
                flags: 0,
                more: false
            }
        ),
        Action::Released
    ));
    assert_eq!(*released.borrow(), vec![11, -libc::ECANCELED]);
    assert_eq!(slab.live(), 0);
}

#[test]
fn dropping_an_ended_stream_frees_at_once() {
    let mut slab = OpSlab::new();
    let key = slab.insert_stream(None);
    slab.transition(
        key,
        Event::Item {
            res: -libc::ENOBUFS,
            flags: 0,
            more: false,
        },
    );
    let released = Rc::new(RefCell::new(Vec::new()));
    let (_, waker) = counting_waker();
    assert!(matches!(poll_item(&mut slab, key, &waker), Action::Item(r, _) if r == -libc::ENOBUFS));
    assert!(matches!(
        slab.transition(key, Event::Drop(Box::new(Recorder(released.clone())))),
        Action::Release(_, 0)
    ));
    assert_eq!(slab.live(), 0);
}

#[test]
fn a_cqe_is_a_completion_or_an_item_by_the_slot_kind() {
    let mut slab = OpSlab::new();
    let (_, waker) = counting_waker();
    let single = slab.insert(None);
    let multi = slab.insert_stream(None);
    slab.transition(
        single,
        Event::Cqe {
            res: 5,
            flags: 0,
            more: false,
        },
    );
    slab.transition(
        multi,
        Event::Cqe {
            res: 6,
            flags: 0,
            more: true,
        },
    );
    slab.transition(
        multi,
        Event::Cqe {
            res: 7,
            flags: 0,
            more: false,
        },
    );
    assert!(matches!(poll(&mut slab, single, &waker), Action::Ready(5)));
    assert!(matches!(
        poll_item(&mut slab, multi, &waker),
        Action::Item(6, _)
    ));
    assert!(matches!(
        poll_item(&mut slab, multi, &waker),
        Action::Item(7, _)
    ));
    assert!(matches!(poll_item(&mut slab, multi, &waker), Action::Ended));
    assert!(matches!(
        slab.transition(
            single,
            Event::Cqe {
                res: 1,
                flags: 0,
                more: false
            }
        ),
        Action::Stale
    ));
    assert_eq!(slab.live(), 0);
}
