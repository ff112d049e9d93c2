//! Counters every workload updates, the invariants, and the report (table and JSON).

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::time::Duration;

#[derive(Default)]
pub struct Counters {
    pub ops: Cell<u64>,
    pub bytes_verified: Cell<u64>,
    pub messages: Cell<u64>,
    pub connections: Cell<u64>,
    pub cancellations: Cell<u64>,
    pub timers: Cell<u64>,
    pub files: Cell<u64>,
    pub datagrams_sent: Cell<u64>,
    pub datagrams_received: Cell<u64>,
    pub blocking_jobs: Cell<u64>,
    pub remote_wakes: Cell<u64>,
    pub faults_injected: Cell<u64>,
    /// Expected errors (injected faults surfacing), by kind.
    pub errors: RefCell<BTreeMap<String, u64>>,
    /// The first broken invariant.
    pub failure: RefCell<Option<String>>,
}

impl Counters {
    pub fn add(cell: &Cell<u64>, n: u64) {
        cell.set(cell.get() + n);
    }

    pub fn error(&self, kind: &str) {
        *self
            .errors
            .borrow_mut()
            .entry(kind.to_string())
            .or_default() += 1;
    }

    /// Records a broken invariant (the first one wins).
    pub fn fail(&self, what: String) {
        let mut failure = self.failure.borrow_mut();
        if failure.is_none() {
            eprintln!("soak: INVARIANT BROKEN: {what}");
            *failure = Some(what);
        }
    }

    pub fn failed(&self) -> bool {
        self.failure.borrow().is_some()
    }
}

/// One backend's results.
pub struct Report {
    pub backend: String,
    pub seed: u64,
    pub duration: Duration,
    pub fds: (usize, usize),
    pub rss: (u64, u64, u64, u64),
    pub longest_stall: Duration,
    /// The longest pause of the whole process (see `watchdog.rs`).
    pub longest_pause: Duration,
    pub latency_us: (f64, f64, f64),
    pub live_at_end: (usize, usize, usize),
    pub totals: Vec<(&'static str, u64)>,
    pub errors: BTreeMap<String, u64>,
    pub failure: Option<String>,
}

impl Report {
    pub fn table(&self) -> String {
        let mut out = format!(
            "\n== soak on {} (seed {}, {:.0} s) : {}\n",
            self.backend,
            self.seed,
            self.duration.as_secs_f64(),
            if self.failure.is_none() {
                "PASS"
            } else {
                "FAIL"
            }
        );
        for (name, value) in &self.totals {
            out += &format!("  {name:<22} {value}\n");
        }
        out += &format!(
            "  {:<22} {} -> {}\n",
            "fds start -> end", self.fds.0, self.fds.1
        );
        out += &format!(
            "  {:<22} start {} / warm {} / peak {} / end {} KiB\n",
            "rss",
            self.rss.0 / 1024,
            self.rss.1 / 1024,
            self.rss.2 / 1024,
            self.rss.3 / 1024
        );
        out += &format!("  {:<22} {:?}\n", "longest loop stall", self.longest_stall);
        out += &format!(
            "  {:<22} {:?}\n",
            "longest process pause", self.longest_pause
        );
        out += &format!(
            "  {:<22} p50 {:.0} / p99 {:.0} / max {:.0} µs\n",
            "echo latency", self.latency_us.0, self.latency_us.1, self.latency_us.2
        );
        out += &format!(
            "  {:<22} tasks {} / ops {} / timers {}\n",
            "left at shutdown", self.live_at_end.0, self.live_at_end.1, self.live_at_end.2
        );
        for (kind, n) in &self.errors {
            out += &format!("  error {kind:<16} {n}\n");
        }
        if let Some(f) = &self.failure {
            out += &format!(
                "  FIRST FAILURE: {f}\n  reproduce with: --seed {} --backend {}\n",
                self.seed, self.backend
            );
        }
        out
    }

    pub fn json(&self) -> String {
        let totals: Vec<String> = self
            .totals
            .iter()
            .map(|(k, v)| format!("\"{k}\": {v}"))
            .collect();
        let errors: Vec<String> = self
            .errors
            .iter()
            .map(|(k, v)| format!("\"{}\": {v}", escape(k)))
            .collect();
        format!(
            "{{\"backend\": \"{}\", \"seed\": {}, \"duration_s\": {:.1}, \"pass\": {}, \"totals\": {{{}}}, \
             \"errors\": {{{}}}, \"fds\": {{\"start\": {}, \"end\": {}}}, \
             \"rss_bytes\": {{\"start\": {}, \"warm\": {}, \"peak\": {}, \"end\": {}}}, \
             \"longest_stall_ms\": {:.1}, \"longest_pause_ms\": {:.1}, \"latency_us\": {{\"p50\": {:.0}, \"p99\": {:.0}, \"max\": {:.0}}}, \
             \"left_at_shutdown\": {{\"tasks\": {}, \"ops\": {}, \"timers\": {}}}, \"first_failure\": {}}}",
            self.backend,
            self.seed,
            self.duration.as_secs_f64(),
            self.failure.is_none(),
            totals.join(", "),
            errors.join(", "),
            self.fds.0,
            self.fds.1,
            self.rss.0,
            self.rss.1,
            self.rss.2,
            self.rss.3,
            self.longest_stall.as_secs_f64() * 1e3,
            self.longest_pause.as_secs_f64() * 1e3,
            self.latency_us.0,
            self.latency_us.1,
            self.latency_us.2,
            self.live_at_end.0,
            self.live_at_end.1,
            self.live_at_end.2,
            self.failure.as_ref().map_or("null".to_string(), |f| format!("\"{}\"", escape(f)))
        )
    }
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

pub fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    statm
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0)
        * 4096
}

pub fn fd_count() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count())
        .unwrap_or(0)
}
