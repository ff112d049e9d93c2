//! Helpers every bench shares: scaling, CPU pinning, resource readings and the result table.
#![allow(dead_code)]

use std::time::Duration;

/// The median of `values` (the upper middle one for an even count; NaN when empty).
pub fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

/// `BENCH_SCALE` (default 1.0) multiplies every work count and duration: 0.1 is a smoke run.
pub fn scale() -> f64 {
    std::env::var("BENCH_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1.0)
}

pub fn scaled(n: usize) -> usize {
    ((n as f64 * scale()) as usize).max(1)
}

pub fn scaled_secs(secs: f64) -> Duration {
    Duration::from_secs_f64((secs * scale()).max(0.5))
}

/// Pins the calling thread (and the threads and processes it starts later) to one CPU,
/// with `taskset` so the benches need no `unsafe`.
pub fn pin_to_cpu(cpu: usize) {
    let tid = std::fs::read_link("/proc/thread-self")
        .ok()
        .and_then(|p| Some(p.file_name()?.to_string_lossy().into_owned()))
        .unwrap_or_else(|| std::process::id().to_string());
    let pinned = std::process::Command::new("taskset")
        .args(["-p", "-c", &cpu.to_string(), &tid])
        .stdout(std::process::Stdio::null())
        .status();
    if !matches!(pinned, Ok(s) if s.success()) {
        eprintln!("warning: could not pin to CPU {cpu} (taskset); figures will be noisier");
    }
}

pub fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

/// Nanoseconds of CPU (user + system) every thread of process `pid` has used so far, from
/// `/proc/<pid>/task/*/schedstat`.
pub fn process_cpu_ns(pid: u32) -> u64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

/// Nanoseconds of CPU the calling thread has used (`/proc/thread-self/schedstat`): time
/// asleep in the kernel waiting for a deadline does not count.
pub fn thread_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// One printed row: a name, a unit, and each contender's figure (NaN where not measured).
pub struct Row {
    pub name: String,
    pub unit: &'static str,
    pub values: Vec<f64>,
    pub target: String,
}

/// Prints rows as a table: every contender's figure, then each figure of the first column
/// divided by each peer's (below 1.0: the first is faster or smaller, unless the unit is a
/// rate, where above 1.0 is better; the header says which).
pub fn print_table(title: &str, columns: &[&str], peers_from: usize, rows: &[Row]) {
    println!("\n{title}");
    let width = |c: &str, min: usize| c.chars().count().max(min) + 1;
    let mut header = format!("{:<60}", "benchmark");
    for c in columns {
        header += &format!("{c:>w$}", w = width(c, 10));
    }
    for c in &columns[peers_from..] {
        let c = format!("÷{c}");
        header += &format!("{c:>w$}", w = width(&c, 8));
    }
    println!("{header}  target");
    for r in rows {
        let mut line = format!("{:<60}", format!("{} ({})", r.name, r.unit));
        for (c, v) in columns.iter().zip(&r.values) {
            line += &format!("{:>w$}", fmt(*v), w = width(c, 10));
        }
        for (c, peer) in columns[peers_from..].iter().zip(&r.values[peers_from..]) {
            let ratio = format!("{:.2}", r.values[0] / peer);
            line += &format!("{ratio:>w$}", w = width(c, 8) + 1);
        }
        println!("{line}  {}", r.target);
    }
}

fn fmt(v: f64) -> String {
    if v.is_nan() {
        "n/a".into()
    } else if v.abs() >= 1000.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.3}")
    }
}

/// Appends `name,unit,contender,value,scale` lines to `target/bench-results.csv`, the
/// input of `benches/chart.py` (which draws only the rows of the last run's scale).
pub fn record(rows: &[Row], columns: &[&str]) {
    use std::io::Write;
    let dir = std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".into());
    let Ok(mut file) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(format!("{dir}/bench-results.csv"))
    else {
        return;
    };
    for r in rows {
        for (column, value) in columns.iter().zip(&r.values) {
            // Names hold commas: quote every text field (RFC 4180).
            let quote = |text: &str| format!("\"{}\"", text.replace('"', "\"\""));
            let _ = writeln!(
                file,
                "{},{},{},{},{}",
                quote(&r.name),
                quote(r.unit),
                quote(column),
                value,
                scale()
            );
        }
    }
}
