//! `cargo bench --bench fs_bench`: random 4 KiB reads from a 1 GiB file in the page cache,
//! 64 reads in flight, on one core: ringloop (io_uring and epoll) against `tokio::fs` and
//! monoio's positional reads.
//!
//! The file is `target/bench-read-file` (made once, sized by `BENCH_SCALE`), read through
//! once before timing so every read hits the page cache.

#[path = "common/mod.rs"]
mod common;

use common::{pin_to_cpu, scale, scaled, Row};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::Instant;

const BLOCK: u64 = 4096;
const IN_FLIGHT: usize = 64;

/// A tiny LCG: the same offsets for every contender.
fn offsets(seed: u64, count: usize, blocks: u64) -> Vec<u64> {
    let mut x = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
    (0..count)
        .map(|_| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((x >> 17) % blocks) * BLOCK
        })
        .collect()
}

fn prepare(size: u64) -> std::io::Result<PathBuf> {
    use std::io::{Read, Write};
    let dir = std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".into());
    let path = Path::new(&dir).join("bench-read-file");
    if std::fs::metadata(&path).map(|m| m.len()).ok() != Some(size) {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&path)?);
        let chunk: Vec<u8> = (0..1 << 20).map(|i| (i * 7) as u8).collect();
        for _ in 0..size >> 20 {
            f.write_all(&chunk)?;
        }
        f.flush()?;
    }
    // Read it through once so every timed read is a page-cache hit.
    let mut f = std::fs::File::open(&path)?;
    let mut buf = vec![0; 1 << 20];
    while f.read(&mut buf)? > 0 {}
    Ok(path)
}

/// Reads per second for `plan` (split among IN_FLIGHT tasks), checking every block's bytes.
fn ringloop_reads(backend: ringloop::Backend, path: &Path, plan: &[u64]) -> f64 {
    let rt = ringloop::Runtime::builder()
        .backend(backend)
        .build()
        .expect("runtime");
    let (path, plan) = (path.to_owned(), plan.to_vec());
    rt.block_on(async move {
        let file = Rc::new(ringloop::fs::File::open(&path).await.expect("open"));
        let plan = Rc::new(plan);
        let start = Instant::now();
        let tasks: Vec<_> = (0..IN_FLIGHT)
            .map(|t| {
                let (file, plan) = (file.clone(), plan.clone());
                ringloop::spawn(async move {
                    let mut buf = Vec::with_capacity(BLOCK as usize);
                    for &offset in plan.iter().skip(t).step_by(IN_FLIGHT) {
                        buf.clear();
                        let (res, b) = file.read_exact_at(buf, offset).await;
                        res.expect("read");
                        assert_eq!(b[1], ((offset + 1) * 7) as u8);
                        buf = b;
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.expect("reader");
        }
        plan.len() as f64 / start.elapsed().as_secs_f64()
    })
    .expect("block_on")
}

fn tokio_reads(path: &Path, plan: &[u64]) -> f64 {
    use tokio::io::{AsyncReadExt, AsyncSeekExt};
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio");
    let (path, plan) = (path.to_owned(), Rc::new(plan.to_vec()));
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async move {
        let start = Instant::now();
        let mut tasks = Vec::new();
        for t in 0..IN_FLIGHT {
            // A tokio::fs::File has one cursor, so each reader opens its own.
            let mut file = tokio::fs::File::open(&path).await.expect("open");
            let plan = plan.clone();
            tasks.push(tokio::task::spawn_local(async move {
                let mut buf = vec![0u8; BLOCK as usize];
                for &offset in plan.iter().skip(t).step_by(IN_FLIGHT) {
                    file.seek(std::io::SeekFrom::Start(offset))
                        .await
                        .expect("seek");
                    file.read_exact(&mut buf).await.expect("read");
                    assert_eq!(buf[1], ((offset + 1) * 7) as u8);
                }
            }));
        }
        for t in tasks {
            t.await.expect("reader");
        }
        plan.len() as f64 / start.elapsed().as_secs_f64()
    })
}

fn monoio_reads(path: &Path, plan: &[u64]) -> f64 {
    let mut rt = monoio::RuntimeBuilder::<monoio::FusionDriver>::new()
        .build()
        .expect("monoio");
    let (path, plan) = (path.to_owned(), Rc::new(plan.to_vec()));
    rt.block_on(async move {
        let file = Rc::new(monoio::fs::File::open(&path).await.expect("open"));
        let start = Instant::now();
        let tasks: Vec<_> = (0..IN_FLIGHT)
            .map(|t| {
                let (file, plan) = (file.clone(), plan.clone());
                monoio::spawn(async move {
                    let mut buf = vec![0u8; BLOCK as usize];
                    for &offset in plan.iter().skip(t).step_by(IN_FLIGHT) {
                        let (res, b) = file.read_exact_at(buf, offset).await;
                        res.expect("read");
                        assert_eq!(b[1], ((offset + 1) * 7) as u8);
                        buf = b;
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await;
        }
        plan.len() as f64 / start.elapsed().as_secs_f64()
    })
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    pin_to_cpu(0);
    let size = ((1u64 << 30) as f64 * scale().min(1.0)) as u64 & !((1 << 20) - 1);
    let path = match prepare(size.max(1 << 20)) {
        Ok(p) => p,
        Err(e) => {
            println!("NOTE: file reads NOT MEASURED: could not prepare the file: {e}");
            return;
        }
    };
    let plan = offsets(42, scaled(400_000), size.max(1 << 20) / BLOCK);
    let columns = ["ringloop-uring", "ringloop-epoll", "tokio", "monoio"];
    let values = vec![
        ringloop_reads(ringloop::Backend::Uring, &path, &plan),
        ringloop_reads(ringloop::Backend::Epoll, &path, &plan),
        tokio_reads(&path, &plan),
        monoio_reads(&path, &plan),
    ];
    let rows = [Row {
        name: format!(
            "random 4 KiB reads, {} MiB cached file, {IN_FLIGHT} in flight",
            size >> 20
        ),
        unit: "reads/s",
        values,
        target: "uring ≥ 3× tokio::fs".into(),
    }];
    common::print_table(
        "file reads on one core (ratio columns: ringloop-uring ÷ each; higher is better)",
        &columns,
        1,
        &rows,
    );
    common::record(&rows, &columns);
}
