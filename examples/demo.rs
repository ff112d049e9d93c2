//! The first thing to run: what ringloop does, in one minute.
//!
//! ```text
//! cargo run --release --example demo                # io_uring, or epoll if it is blocked
//! RINGLOOP_BACKEND=epoll cargo run --release --example demo
//! ```

use ringloop::fs::File;
use ringloop::net::{TcpListener, TcpStream};
use ringloop::time::sleep;
use ringloop::Runtime;
use std::io;
use std::time::{Duration, Instant};

async fn ten_sleeps_concurrently() -> Duration {
    let start = Instant::now();
    let tasks: Vec<_> = (0..10)
        .map(|_| ringloop::spawn(sleep(Duration::from_secs(1))))
        .collect();
    for task in tasks {
        task.await.expect("sleep task");
    }
    start.elapsed()
}

async fn echo_round_trip() -> io::Result<Duration> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let server = ringloop::spawn(async move {
        let (stream, _) = listener.accept().await?;
        let mut buf = Vec::with_capacity(4096);
        loop {
            let (res, data) = stream.read(buf).await;
            if res? == 0 {
                return io::Result::Ok(());
            }
            let (res, data) = stream.write_all(data).await;
            res?;
            buf = data;
        }
    });
    let client = TcpStream::connect(&addr).await?;
    let start = Instant::now();
    let message = b"hello over TCP".to_vec();
    let (res, message) = client.write_all(message).await;
    res?;
    let (res, reply) = client.read_exact(Vec::with_capacity(message.len())).await;
    res?;
    let took = start.elapsed();
    assert_eq!(reply, message, "the echo came back changed");
    client.shutdown(std::net::Shutdown::Write).await?;
    server.await.map_err(io::Error::from)??;
    Ok(took)
}

async fn file_write_read() -> io::Result<usize> {
    let dir = std::env::temp_dir().join(format!("ringloop-demo-{}", std::process::id()));
    ringloop::fs::create_dir(&dir).await.or_else(|e| {
        if e.kind() == io::ErrorKind::AlreadyExists {
            Ok(())
        } else {
            Err(e)
        }
    })?;
    let path = dir.join("demo.txt");
    let text = b"written and read back through ringloop\n".repeat(1000);
    let file = File::create(&path).await?;
    let (res, text) = file.write_all_at(text, 0).await;
    res?;
    file.sync_all().await?;
    file.close().await?;
    let back = ringloop::fs::read(&path).await?;
    assert_eq!(back, text, "the file came back changed");
    ringloop::fs::remove_file(&path).await?;
    ringloop::fs::remove_dir(&dir).await?;
    Ok(back.len())
}

async fn run_demo() -> io::Result<()> {
    let took = ten_sleeps_concurrently().await;
    println!(
        "ten concurrent 1 s sleeps finished in {:.2} s (one after another they take 10 s)",
        took.as_secs_f64()
    );

    let rtt = echo_round_trip().await?;
    println!(
        "TCP echo round trip on 127.0.0.1: {:.1} µs",
        rtt.as_secs_f64() * 1e6
    );

    let bytes = file_write_read().await?;
    println!("wrote, fsynced and read back a {bytes}-byte file");
    Ok(())
}

fn main() -> io::Result<()> {
    let rt = Runtime::new()?;
    println!(
        "ringloop demo: backend = {} ({})",
        rt.backend(),
        rt.describe()
    );
    if let Some(reason) = rt.fallback_reason() {
        println!("  (io_uring was not used: {reason})");
    }
    let interrupted = rt.block_on(async {
        // Ctrl-C stops the demo cleanly instead of killing it mid-way.
        let ctrl_c = ringloop::signal::ctrl_c();
        match ringloop::future::race(run_demo(), ctrl_c).await {
            ringloop::future::Either::Left(result) => result.map(|()| false),
            ringloop::future::Either::Right(_) => Ok(true),
        }
    })??;
    if interrupted {
        println!("interrupted: stopped cleanly");
        return Ok(());
    }
    let stats = rt.stats();
    println!(
        "loop stats: {} ops, {} kernel waits ({:.2} completions each), {} tasks polled, {} timers fired",
        stats.ops_submitted,
        stats.kernel_waits,
        stats.completions_per_wait(),
        stats.tasks_polled,
        stats.timers_fired
    );
    Ok(())
}
