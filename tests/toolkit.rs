//! The asyncio toolkit: Promise, combinators, sync primitives, channels.

mod common;
use common::*;
use ringloop::future::{as_completed, join_all, try_join_all, wait, Promise, PromiseError, Return};
use ringloop::sync::{channel, mpsc, oneshot, Event, Mutex, Notify, Queue, QueueError, Semaphore};
use ringloop::time::{sleep, timeout};
use ringloop::{spawn, yield_now};
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

type BoxedTry = std::pin::Pin<Box<dyn std::future::Future<Output = Result<u32, &'static str>>>>;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

both_backends! {
    fn promise_callbacks_run_next_turn_in_order(backend) {
        let rt = runtime(backend);
        rt.block_on(async {
            let p: Promise<u32> = Promise::new();
            let log = Rc::new(RefCell::new(Vec::new()));
            for i in 0..3 {
                let log = log.clone();
                p.add_done_callback(move |p: &Promise<u32>| log.borrow_mut().push((i, p.result().unwrap().unwrap())));
            }
            let waiters: Vec<_> = (0..3).map(|_| { let p = p.clone(); spawn(async move { p.await }) }).collect();
            p.set_result(9).unwrap();
            assert!(log.borrow().is_empty(), "callbacks never run inside set_result");
            assert!(matches!(p.set_error("late"), Err(PromiseError::AlreadySettled)));
            assert!(!p.cancel());
            yield_now().await;
            assert_eq!(*log.borrow(), [(0, 9), (1, 9), (2, 9)]);
            for w in waiters { assert_eq!(w.await.unwrap().unwrap(), 9); }
            // A callback added after settling still runs, on a later turn.
            let late = Rc::new(Cell::new(false));
            let l2 = late.clone();
            p.add_done_callback(move |_| l2.set(true));
            assert!(!late.get());
            yield_now().await;
            assert!(late.get());

            let cancelled: Promise<u32> = Promise::new();
            assert!(cancelled.cancel());
            assert!(cancelled.is_cancelled() && cancelled.is_done());
            assert!(matches!(cancelled.clone().await, Err(PromiseError::Cancelled)));
            let failed: Promise<u32> = Promise::new();
            failed.set_error("disk on fire").unwrap();
            match failed.wait().await {
                Err(PromiseError::Failed(e)) => assert_eq!(e.to_string(), "disk on fire"),
                other => panic!("{other:?}"),
            }
        }).unwrap();
    }
}

both_backends! {
    fn wait_modes_with_timeout(backend) {
        let rt = runtime(backend);
        rt.block_on(async {
            let make = || [(5u64, true), (30, false), (5000, true)].map(|(d, ok)| async move {
                sleep(ms(d)).await;
                if ok { Ok(d) } else { Err(d) }
            });
            let r = wait(make(), Return::FirstCompleted, None).await;
            assert_eq!(r.done.iter().map(|(i, _)| *i).collect::<Vec<_>>(), [0]);
            assert_eq!(r.pending.len(), 2);
            let r = wait(make(), Return::FirstError, None).await;
            assert_eq!(r.done.len(), 2, "stops at the first error");
            assert!(r.done.iter().any(|(i, v)| *i == 1 && v.is_err()));
            let r = wait(make(), Return::AllCompleted, Some(ms(100))).await;
            assert_eq!((r.done.len(), r.pending.len()), (2, 1), "the timeout leaves the slow one pending");
            // Pending futures are still usable.
            let (index, rest) = r.pending.into_iter().next().unwrap();
            assert_eq!(index, 2);
            assert!(timeout(ms(1), rest).await.is_err());
        }).unwrap();
    }
}

both_backends! {
    fn gather_and_as_completed_and_cancellation(backend) {
        let rt = runtime(backend);
        rt.block_on(async {
            let out = join_all((0..5u64).rev().map(|i| async move { sleep(ms(i * 3)).await; i })).await;
            assert_eq!(out, [4, 3, 2, 1, 0], "input order, not finishing order");
            let dropped = Rc::new(Cell::new(0));
            struct Count(Rc<Cell<u32>>);
            impl Drop for Count { fn drop(&mut self) { self.0.set(self.0.get() + 1) } }
            let futs: Vec<BoxedTry> = vec![
                Box::pin(async { sleep(ms(2)).await; Err("first error") }),
                { let c = Count(dropped.clone()); Box::pin(async move { let _c = c; sleep(ms(5000)).await; Ok(1) }) },
            ];
            assert_eq!(try_join_all(futs).await, Err("first error"));
            assert_eq!(dropped.get(), 1, "the first error cancelled the rest");
            // Cancelling a task that runs a gather cancels what the gather owns.
            let d2 = dropped.clone();
            let task = spawn(async move {
                let c = Count(d2);
                join_all([async move { let _c = c; sleep(ms(5000)).await }]).await;
            });
            yield_now().await;
            task.cancel();
            assert!(task.await.unwrap_err().is_cancelled());
            assert_eq!(dropped.get(), 2);
            let mut stream = as_completed([40u64, 1, 20].map(|d| async move { sleep(ms(d)).await; d }));
            let mut order = Vec::new();
            while let Some((_, v)) = stream.next().await { order.push(v); }
            assert_eq!(order, [1, 20, 40]);
        }).unwrap();
    }
}

both_backends! {
    fn semaphore_is_fair_and_cancel_safe(backend) {
        let rt = runtime(backend);
        rt.block_on(async {
            let sem = Rc::new(Semaphore::new(1));
            let order = Rc::new(RefCell::new(Vec::new()));
            let held = sem.acquire().await;
            let mut tasks = Vec::new();
            for i in 0..5 {
                let (sem, order) = (sem.clone(), order.clone());
                tasks.push(spawn(async move {
                    let _p = sem.acquire().await;
                    order.borrow_mut().push(i);
                    sleep(ms(1)).await;
                }));
                yield_now().await;
            }
            // A waiter that gives up must not swallow a permit.
            assert!(timeout(ms(1), sem.acquire()).await.is_err());
            drop(held);
            for t in tasks { t.await.unwrap(); }
            assert_eq!(*order.borrow(), [0, 1, 2, 3, 4], "FIFO");
            assert_eq!(sem.available_permits(), 1);
            let results = ringloop::sync::bounded(2, (0..6).map(|i| async move { sleep(ms(1)).await; i })).await;
            assert_eq!(results, [0, 1, 2, 3, 4, 5]);
        }).unwrap();
    }
}

both_backends! {
    fn mutex_event_notify(backend) {
        let rt = runtime(backend);
        rt.block_on(async {
            let m = Rc::new(Mutex::new(Vec::new()));
            let tasks: Vec<_> = (0..4).map(|i| {
                let m = m.clone();
                spawn(async move {
                    let mut g = m.lock().await;
                    g.push(i);
                    sleep(ms(1)).await;
                    g.push(i);
                })
            }).collect();
            for t in tasks { t.await.unwrap(); }
            let v = m.lock().await.clone();
            assert!(v.chunks(2).all(|c| c[0] == c[1]), "critical sections never interleave: {v:?}");
            assert!(!m.is_locked());

            let ev = Rc::new(Event::new());
            let waiters: Vec<_> = (0..3).map(|_| { let ev = ev.clone(); spawn(async move { ev.wait().await }) }).collect();
            yield_now().await;
            ev.set();
            for w in waiters { w.await.unwrap(); }
            ev.wait().await;
            ev.clear();
            assert!(timeout(ms(2), ev.wait()).await.is_err());

            let n = Rc::new(Notify::new());
            let n2 = n.clone();
            let w = spawn(async move { n2.notified().await; "notified" });
            yield_now().await;
            n.notify_one();
            assert_eq!(w.await.unwrap(), "notified");
        }).unwrap();
    }
}

both_backends! {
    fn queue_put_get_join_and_errors(backend) {
        let rt = runtime(backend);
        rt.block_on(async {
            let q = Rc::new(Queue::bounded(2));
            q.try_put(1).unwrap();
            q.try_put(2).unwrap();
            assert!(q.is_full());
            assert!(matches!(q.try_put(3), Err((QueueError::Full, 3))));
            let q2 = q.clone();
            let producer = spawn(async move { q2.put(3).await; "put after space freed" });
            yield_now().await;
            assert_eq!(q.get().await, 1);
            assert_eq!(producer.await.unwrap(), "put after space freed");
            let joined = Rc::new(Cell::new(false));
            let (q3, j2) = (q.clone(), joined.clone());
            let joiner = spawn(async move { q3.join().await; j2.set(true) });
            assert_eq!(q.get().await, 2);
            assert_eq!(q.get().await, 3);
            q.task_done().unwrap();
            q.task_done().unwrap();
            yield_now().await;
            assert!(!joined.get(), "one item is still unfinished");
            q.task_done().unwrap();
            joiner.await.unwrap();
            assert!(joined.get());
            assert_eq!(q.task_done(), Err(QueueError::TooManyTaskDone));
            assert_eq!(q.try_get(), Err(QueueError::Empty));
            let unbounded: Queue<u32> = Queue::unbounded();
            for i in 0..10_000 { unbounded.try_put(i).unwrap(); }
            assert_eq!(unbounded.len(), 10_000);
        }).unwrap();
    }
}

both_backends! {
    fn channels_local_and_cross_thread(backend) {
        let rt = runtime(backend);
        rt.block_on(async {
            let (tx, rx) = oneshot::<u8>();
            drop(tx);
            assert!(rx.recv().await.is_err(), "a dropped sender is an error, not a hang");
            let (tx, mut rx) = mpsc(1);
            let producer = spawn(async move {
                for i in 0..50 { tx.send(i).await.unwrap(); }
            });
            let mut got = Vec::new();
            while let Some(v) = rx.recv().await { got.push(v); }
            producer.await.unwrap();
            assert_eq!(got, (0..50).collect::<Vec<_>>());
            let (tx, mut rx) = channel::<u64>();
            let threads: Vec<_> = (0..4).map(|t| {
                let tx = tx.clone();
                std::thread::spawn(move || for i in 0..250 { tx.send(t * 1000 + i).unwrap(); std::thread::yield_now(); })
            }).collect();
            drop(tx);
            let mut count = 0;
            while rx.recv().await.is_some() { count += 1; }
            for t in threads { t.join().unwrap(); }
            assert_eq!(count, 1000);
        }).unwrap();
    }
}

/// Sets its flag when dropped: shows which raced future was cancelled.
struct DropFlag(Rc<Cell<bool>>);
impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.set(true);
    }
}

both_backends! {
    fn race_and_join_macros_poll_together_and_cancel_the_loser(backend) {
        use ringloop::future::Either;
        let rt = runtime(backend);
        rt.block_on(async {
            let loser_dropped = Rc::new(Cell::new(false));
            let guard = DropFlag(loser_dropped.clone());
            let won = ringloop::race!(
                async move {
                    let _guard = guard;
                    sleep(Duration::from_secs(60)).await;
                    "slow"
                },
                async {
                    sleep(Duration::from_millis(2)).await;
                    7
                },
            );
            assert_eq!(won, Either::Right(7));
            assert!(loser_dropped.get(), "the loser is dropped when race! finishes");
            // Both ready in the same poll: the first wins.
            assert_eq!(ringloop::race!(async { 1 }, async { 2 }), Either::<i32, i32>::Left(1));

            let polls = Rc::new(Cell::new(0));
            let counted = {
                let polls = polls.clone();
                std::future::poll_fn(move |_| {
                    polls.set(polls.get() + 1);
                    std::task::Poll::Ready("done")
                })
            };
            let (slow, quick) = ringloop::join!(
                async {
                    sleep(Duration::from_millis(3)).await;
                    yield_now().await;
                    vec![1, 2]
                },
                counted,
            );
            assert_eq!((slow, quick), (vec![1, 2], "done"));
            assert_eq!(polls.get(), 1, "a finished future is not polled again");
        }).unwrap();
        assert_eq!(rt.live_timers(), 0, "the cancelled sleep left no timer behind");
    }
}

// The point of the macros: the async-fn `race` keeps each future twice in the caller's
// state (argument and pinned local), the macro once. Sizes are computed, not timed.
#[test]
fn race_macro_stores_each_future_once() {
    async fn big() -> u8 {
        let buf = [1u8; 1024];
        yield_now().await;
        buf[0]
    }
    let by_fn = async { ringloop::future::race(big(), big()).await };
    let by_macro = async { ringloop::race!(big(), big()) };
    let one = std::mem::size_of_val(&big());
    let (fn_size, macro_size) = (
        std::mem::size_of_val(&by_fn),
        std::mem::size_of_val(&by_macro),
    );
    assert!(
        macro_size < 3 * one,
        "race! future is {macro_size} bytes for two {one}-byte futures (race(): {fn_size})"
    );
}
