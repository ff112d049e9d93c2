//! CPU-bound work: the wrong way (on the loop) next to the right way (`spawn_blocking`),
//! with the stall detector watching.
//!
//! ```text
//! cargo run --release --example cpu_bound
//! ```

use ringloop::time::{interval, sleep};
use ringloop::Runtime;
use std::time::{Duration, Instant};

/// About 300 ms of pure computation.
fn crunch() -> u64 {
    let start = Instant::now();
    let mut x = 1u64;
    while start.elapsed() < Duration::from_millis(300) {
        for _ in 0..10_000 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
        }
    }
    x
}

/// Runs `work` while a 10 ms heartbeat ticks; returns (heartbeats seen, heartbeats a
/// responsive loop would have seen).
async fn heartbeats_during<F: std::future::Future<Output = u64>>(
    start_work: impl FnOnce() -> F,
) -> (u32, u32) {
    let ticks = std::rc::Rc::new(std::cell::Cell::new(0u32));
    let counter = ticks.clone();
    let beating = ringloop::spawn(async move {
        let mut every = interval(Duration::from_millis(10));
        every.tick().await;
        loop {
            every.tick().await;
            counter.set(counter.get() + 1);
        }
    });
    sleep(Duration::from_millis(1)).await;
    let before = Instant::now();
    std::hint::black_box(start_work().await);
    let expected = (before.elapsed().as_millis() / 10) as u32;
    beating.cancel();
    let _ = beating.await;
    (ticks.get(), expected)
}

fn main() -> std::io::Result<()> {
    // The stall detector reports any poll that holds the loop for more than 100 ms.
    let rt = Runtime::builder()
        .stall_threshold(Duration::from_millis(100))
        .build()?;
    println!("backend = {}", rt.backend());
    rt.block_on(async {
        println!("\nwrong: computing inside a task blocks the loop (watch for the stall warning):");
        use std::io::Write as _;
        let _ = std::io::stdout().flush();
        let (seen, expected) = heartbeats_during(|| async { ringloop::spawn(async { crunch() }).await.unwrap() }).await;
        println!("  heartbeats: {seen} of about {expected}: the loop was frozen");

        println!("\nright: ringloop::spawn_blocking runs it on the blocking pool; the loop stays responsive:");
        let (seen, expected) = heartbeats_during(|| async { ringloop::spawn_blocking(crunch).await.unwrap() }).await;
        println!("  heartbeats: {seen} of about {expected}: the loop stayed responsive");
    })?;
    let stats = rt.stats();
    println!(
        "\nstalls reported: {} (the wrong way), longest poll: {:?}",
        stats.stalls, stats.longest_poll
    );
    Ok(())
}
