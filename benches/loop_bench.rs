//! `cargo bench`: ringloop against tokio (current_thread) and monoio, measured in the same
//! run, each loop on one pinned core. Every row prints ringloop's figure, the peers', and
//! the ratios (ringloop ÷ peer: below 1.0 means ringloop is faster or smaller).
//!
//! `BENCH_SCALE=0.1 cargo bench` runs a tenth of the work (a quick smoke run).

#[path = "common/mod.rs"]
mod common;

use common::{pin_to_cpu, rss_bytes, scale, scaled, thread_cpu_ns, Row};
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::task::Poll;
use std::time::{Duration, Instant};

/// Polls a future once (registering it) without awaiting it.
async fn poll_once<F: Future + ?Sized>(mut f: Pin<&mut F>) {
    poll_fn(|cx| {
        let _ = f.as_mut().poll(cx);
        Poll::Ready(())
    })
    .await
}

#[derive(Clone, Copy)]
enum Peer {
    Ringloop,
    Tokio,
    Monoio,
}

const PEERS: [Peer; 3] = [Peer::Ringloop, Peer::Tokio, Peer::Monoio];

impl Peer {
    fn name(self) -> &'static str {
        match self {
            Peer::Ringloop => "ringloop",
            Peer::Tokio => "tokio",
            Peer::Monoio => "monoio",
        }
    }
}

fn on<T>(peer: Peer, fut: impl Future<Output = T> + 'static) -> T {
    match peer {
        Peer::Ringloop => ringloop::Runtime::new().unwrap().block_on(fut).unwrap(),
        Peer::Tokio => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(tokio::task::LocalSet::new().run_until(fut)),
        Peer::Monoio => monoio::RuntimeBuilder::<monoio::FusionDriver>::new()
            .enable_timer()
            .build()
            .unwrap()
            .block_on(fut),
    }
}

/// ns per task: spawn + join, in batches of 1024, after an untimed warm-up of a tenth as
/// many (so every peer's caches and allocator pools are in their steady state).
fn spawn_join(peer: Peer) -> f64 {
    let total = scaled(1_000_000);
    on(peer, async move {
        spawn_join_batches(peer, total / 10).await;
        let start = Instant::now();
        spawn_join_batches(peer, total).await;
        start.elapsed().as_nanos() as f64 / total as f64
    })
}

async fn spawn_join_batches(peer: Peer, total: usize) {
    let mut done = 0;
    while done < total {
        let batch = 1024.min(total - done);
        match peer {
            Peer::Ringloop => {
                let hs: Vec<_> = (0..batch)
                    .map(|i| ringloop::spawn(async move { i }))
                    .collect();
                for h in hs {
                    std::hint::black_box(h.await.unwrap());
                }
            }
            Peer::Tokio => {
                let hs: Vec<_> = (0..batch)
                    .map(|i| tokio::task::spawn_local(async move { i }))
                    .collect();
                for h in hs {
                    std::hint::black_box(h.await.unwrap());
                }
            }
            Peer::Monoio => {
                let hs: Vec<_> = (0..batch)
                    .map(|i| monoio::spawn(async move { i }))
                    .collect();
                for h in hs {
                    std::hint::black_box(h.await);
                }
            }
        }
        done += batch;
    }
}

fn sleep_future(peer: Peer, d: Duration) -> Pin<Box<dyn Future<Output = ()>>> {
    match peer {
        Peer::Ringloop => Box::pin(ringloop::time::sleep(d)),
        Peer::Tokio => Box::pin(tokio::time::sleep(d)),
        Peer::Monoio => Box::pin(monoio::time::sleep(d)),
    }
}

/// Arms `live` sleeps an hour or more away (registered, never due during the run).
async fn arm_far_timers(peer: Peer, live: usize) -> Vec<Pin<Box<dyn Future<Output = ()>>>> {
    let mut timers: Vec<_> = (0..live)
        .map(|i| sleep_future(peer, Duration::from_secs(3600 + i as u64 % 1000)))
        .collect();
    for s in &mut timers {
        poll_once(s.as_mut()).await;
    }
    timers
}

/// ns per timer insert + cancel with `live` other timers armed: create a sleep, poll it
/// once (insert), drop it (cancel). The sleep lives on the stack (no Box), so the figure is
/// the timer's own cost: the peer's clock read, its wheel, its waker handling.
fn timer_insert_cancel(peer: Peer, live: usize) -> f64 {
    let ops = scaled(1_000_000);
    let live = scaled(live);
    on(peer, async move {
        let background = arm_far_timers(peer, live).await;
        let start = Instant::now();
        match peer {
            Peer::Ringloop => insert_cancel_loop(ops, ringloop::time::sleep).await,
            Peer::Tokio => insert_cancel_loop(ops, tokio::time::sleep).await,
            Peer::Monoio => insert_cancel_loop(ops, monoio::time::sleep).await,
        }
        let ns = start.elapsed().as_nanos() as f64 / ops as f64;
        drop(background);
        ns
    })
}

async fn insert_cancel_loop<S: Future<Output = ()>>(ops: usize, sleep: impl Fn(Duration) -> S) {
    for i in 0..ops {
        let s = std::pin::pin!(sleep(Duration::from_millis(10_000 + (i % 5000) as u64)));
        poll_once(s).await;
    }
}

/// CPU ns per timer that is inserted, fires and wakes its task, with `live` other timers
/// armed: batches of 1024 sleeps of 1 ms awaited together. Thread CPU time, not wall time,
/// so the millisecond spent asleep waiting for the deadline does not count.
fn timer_insert_expire(peer: Peer, live: usize) -> f64 {
    let batches = scaled(200).max(2);
    let live = scaled(live);
    on(peer, async move {
        let background = arm_far_timers(peer, live).await;
        let cpu_before = thread_cpu_ns();
        for _ in 0..batches {
            let mut batch: Vec<_> = (0..1024)
                .map(|_| sleep_future(peer, Duration::from_millis(1)))
                .collect();
            for s in &mut batch {
                poll_once(s.as_mut()).await;
            }
            for s in batch {
                s.await;
            }
        }
        let cpu = thread_cpu_ns() - cpu_before;
        drop(background);
        cpu as f64 / (batches * 1024) as f64
    })
}

/// µs for a thread -> loop -> thread ping-pong, halved: one cross-thread wake.
fn wake_latency(peer: Peer) -> f64 {
    ping_pong(|loop_side| on(peer, loop_side))
}

/// The same with ringloop's loop spinning `spin` before it parks (no peer has the knob).
fn wake_latency_spinning(backend: ringloop::Backend, spin: Duration) -> f64 {
    let rt = ringloop::Runtime::builder()
        .backend(backend)
        .spin_before_park(spin)
        .build()
        .unwrap();
    ping_pong(|loop_side| rt.block_on(loop_side).unwrap())
}

/// Runs the ping-pong, its loop side through `run`; µs per one-way wake.
fn ping_pong(run: impl FnOnce(Pin<Box<dyn Future<Output = ()>>>)) -> f64 {
    let rounds = scaled(20_000);
    let (to_loop_tx, to_loop_rx) = std::sync::mpsc::channel::<()>();
    let (back_tx, back_rx) = std::sync::mpsc::channel::<()>();
    let waker_slot = std::sync::Arc::new(std::sync::Mutex::new(None::<std::task::Waker>));
    let slot = waker_slot.clone();
    let pinger = std::thread::spawn(move || {
        pin_to_cpu(1);
        let start = Instant::now();
        for _ in 0..rounds {
            to_loop_tx.send(()).unwrap();
            if let Some(w) = slot.lock().unwrap().take() {
                w.wake();
            }
            back_rx.recv().unwrap();
        }
        start.elapsed()
    });
    run(Box::pin(async move {
        for _ in 0..rounds {
            poll_fn(|cx| {
                *waker_slot.lock().unwrap() = Some(cx.waker().clone());
                if to_loop_rx.try_recv().is_ok() {
                    waker_slot.lock().unwrap().take();
                    Poll::Ready(())
                } else {
                    Poll::Pending
                }
            })
            .await;
            back_tx.send(()).unwrap();
        }
    }));
    pinger.join().unwrap().as_secs_f64() * 1e6 / rounds as f64 / 2.0
}

/// (wall seconds, RSS bytes per task) for `n` tasks each sleeping 1 s, in a fresh process.
fn many_sleeps(peer: Peer) -> (f64, f64) {
    let n = scaled(1_000_000);
    let name = peer.name();
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--child-sleeps", name, &n.to_string()])
        .output()
        .expect("child");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut it = text
        .split_whitespace()
        .map(|v| v.parse::<f64>().unwrap_or(f64::NAN));
    (it.next().unwrap_or(f64::NAN), it.next().unwrap_or(f64::NAN))
}

fn child_sleeps(peer: Peer, n: usize) {
    pin_to_cpu(0);
    let before = rss_bytes();
    let sec = Duration::from_secs(1);
    let (wall, peak, harness) = on(peer, async move {
        match peer {
            Peer::Ringloop => {
                let spawn = || ringloop::spawn(ringloop::time::sleep(sec));
                sleepers(peer, n, spawn, Result::unwrap).await
            }
            Peer::Tokio => {
                let spawn = || tokio::task::spawn_local(tokio::time::sleep(sec));
                sleepers(peer, n, spawn, Result::unwrap).await
            }
            Peer::Monoio => {
                let spawn = || monoio::spawn(monoio::time::sleep(sec));
                sleepers(peer, n, spawn, drop).await
            }
        }
    });
    println!(
        "{wall} {}",
        (peak.saturating_sub(before) as f64 - harness as f64) / n as f64
    );
}

/// Spawns `n` sleeping tasks, measures RSS once they all sleep, joins them (`check`
/// takes each join result): (wall seconds, peak RSS, bytes the harness itself holds).
/// The join handles sit unboxed in one vector, so the harness adds one allocation to
/// what is timed and counted, not one per task.
async fn sleepers<H: Future>(
    peer: Peer,
    n: usize,
    spawn: impl FnMut() -> H,
    check: impl Fn(H::Output),
) -> (f64, u64, usize) {
    let start = Instant::now();
    let handles: Vec<H> = std::iter::repeat_with(spawn).take(n).collect();
    let harness = handles.capacity() * std::mem::size_of::<H>();
    // Let every task start sleeping, then measure the memory they hold.
    sleep_future(peer, Duration::from_millis(500)).await;
    let peak = rss_bytes();
    for h in handles {
        check(h.await);
    }
    (start.elapsed().as_secs_f64(), peak, harness)
}

/// Samples per peer for each row; the row shows each peer's median. One sample is a
/// short burst (tens of milliseconds), and a VM's stolen time or a neighbour's cache
/// traffic can slow any single one by 10-30%; the median of interleaved samples is what
/// a rerun would reproduce.
const SAMPLES: usize = 5;
/// Samples for the million-sleeps rows: each is a child process per peer (1-2.5 s).
const SLEEP_SAMPLES: usize = 3;

/// Each peer's `samples` results of `measure` (indexed like `PEERS`), taken in rounds that
/// rotate which peer goes first, so that a slow phase of the machine falls on every peer
/// alike.
fn interleaved<T>(samples: usize, mut measure: impl FnMut(Peer) -> T) -> [Vec<T>; 3] {
    let mut values: [Vec<T>; 3] = Default::default();
    for round in 0..samples {
        for i in 0..PEERS.len() {
            let peer = PEERS[(round + i) % PEERS.len()];
            values[peer as usize].push(measure(peer));
        }
    }
    values
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--child-sleeps") {
        let peer = match args[2].as_str() {
            "ringloop" => Peer::Ringloop,
            "tokio" => Peer::Tokio,
            _ => Peer::Monoio,
        };
        child_sleeps(peer, args[3].parse().unwrap());
        return;
    }
    if args.iter().any(|a| a == "--list") {
        return;
    }
    pin_to_cpu(0);
    println!(
        "ringloop benchmarks: one loop pinned to CPU 0, peers in the same run (BENCH_SCALE={})",
        scale()
    );
    // BENCH_ONLY=<text> runs only the rows whose name contains it (for profiling one row).
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    let want = |name: &str| name.contains(only.as_str());
    let mut rows = Vec::new();
    let mut add = |name: String, unit, target: &str, measure: &dyn Fn(Peer) -> f64| {
        if want(&name) {
            rows.push(Row {
                values: interleaved(SAMPLES, measure).map(common::median).to_vec(),
                name,
                unit,
                target: target.into(),
            });
        }
    };
    let n = scaled(1_000_000);
    add(
        format!("spawn + join, {n} tasks"),
        "ns/task",
        "≤ 50 ns",
        &spawn_join,
    );
    for live in [4_096, 65_536, 1_000_000] {
        add(
            format!("timer insert+cancel, {} live", scaled(live)),
            "ns/op",
            "≤ 35 ns, flat ≤ 1.3× from 4K to 1M",
            &|p| timer_insert_cancel(p, live),
        );
    }
    for live in [4_096, 65_536, 1_000_000] {
        add(
            format!("timer insert+expire, {} live", scaled(live)),
            "CPU ns/op",
            "flat",
            &|p| timer_insert_expire(p, live),
        );
    }
    add("cross-thread wake, one way".into(), "µs", "", &wake_latency);
    // One set of child runs gives both sleep rows (wall and RSS): each sample is a child
    // process per peer, so the rows take their medians from a fixed list of runs.
    let sleeps = std::cell::OnceCell::new();
    let sleeps = || sleeps.get_or_init(|| interleaved(SLEEP_SAMPLES, many_sleeps));
    let sleep_median = |p: Peer, field: fn(&(f64, f64)) -> f64| {
        common::median(sleeps()[p as usize].iter().map(field).collect())
    };
    add(
        format!("{n} tasks sleeping 1 s: wall"),
        "s",
        "≤ 1.2 s",
        &|p| sleep_median(p, |r| r.0),
    );
    add(
        format!("{n} tasks sleeping 1 s: RSS/task"),
        "bytes",
        "≤ 256 B",
        &|p| sleep_median(p, |r| r.1),
    );
    let columns = ["ringloop", "tokio", "monoio"];
    common::print_table(
        "loop benchmarks (ratio columns: ringloop ÷ each; below 1.0 is faster or smaller)",
        &columns,
        1,
        &rows,
    );
    common::record(&rows, &columns);
    if want("cross-thread wake") {
        let spin = Duration::from_micros(50);
        for backend in [ringloop::Backend::Uring, ringloop::Backend::Epoll] {
            let rounds: Vec<f64> = (0..3)
                .map(|_| wake_latency_spinning(backend, spin))
                .collect();
            println!(
                "cross-thread wake, one way, ringloop ({backend:?}) spinning {spin:?} before parking: {:.2} µs (median of 3)",
                common::median(rounds)
            );
        }
    }
    if want("ring round trip") {
        for backend in [ringloop::Backend::Uring, ringloop::Backend::Epoll] {
            nop_round_trips(backend);
        }
    }
}

/// Nop ops per second with 256 in flight: the driver's own overhead per op. No peer
/// exposes a nop, so this row has no ratio.
fn nop_round_trips(backend: ringloop::Backend) {
    let nops = scaled(1_000_000) / 256 * 256;
    let rt = ringloop::Runtime::builder()
        .backend(backend)
        .build()
        .unwrap();
    let secs = rt
        .block_on(async move {
            let start = Instant::now();
            let workers: Vec<_> = (0..256)
                .map(|_| {
                    ringloop::spawn(async move {
                        for _ in 0..nops / 256 {
                            ringloop::nop().await.unwrap();
                        }
                    })
                })
                .collect();
            for w in workers {
                w.await.unwrap();
            }
            start.elapsed().as_secs_f64()
        })
        .unwrap();
    println!(
        "ring round trip ({}): {:.2} M nops/s, 256 in flight, {:.1} completions per kernel call",
        rt.backend(),
        nops as f64 / secs / 1e6,
        rt.stats().completions_per_wait()
    );
}
