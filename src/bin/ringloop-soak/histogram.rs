//! Latencies in a fixed-size log histogram: 128 buckets per power of two (each about 0.54%
//! wide) from 1 µs to about an hour, so an hours-long run measures itself in constant memory
//! (32 KiB). The benches compare p99s that differ by a few percent, so the buckets must be
//! finer than that (at 32 per octave, 2.2%, neighbouring buckets read as a 2-4% gap).
//!
//! Shared by the soak, `examples/loadgen.rs` and the benches (which include this file by
//! path), each using a subset of it.
#![allow(dead_code)]

pub struct Histogram {
    buckets: Vec<u64>,
    count: u64,
    max_us: f64,
}

const PER_OCTAVE: f64 = 128.0;
const OCTAVES: usize = 32;

impl Default for Histogram {
    fn default() -> Self {
        Self {
            buckets: vec![0; PER_OCTAVE as usize * OCTAVES],
            count: 0,
            max_us: 0.0,
        }
    }
}

impl Histogram {
    pub fn record(&mut self, micros: f64) {
        self.record_n(micros, 1);
    }

    /// Records `n` samples of the same latency (a pipelined batch).
    pub fn record_n(&mut self, micros: f64, n: u64) {
        let index = (micros.max(1.0).log2() * PER_OCTAVE) as usize;
        let last = self.buckets.len() - 1;
        self.buckets[index.min(last)] += n;
        self.count += n;
        self.max_us = self.max_us.max(micros);
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    pub fn merge(&mut self, other: &Histogram) {
        for (mine, theirs) in self.buckets.iter_mut().zip(&other.buckets) {
            *mine += theirs;
        }
        self.count += other.count;
        self.max_us = self.max_us.max(other.max_us);
    }

    /// The latency (µs) at quantile `q` in 0..=1: its bucket's upper edge, so at most one
    /// bucket width (about 0.54%) high. Zero when nothing was recorded.
    pub fn quantile(&self, q: f64) -> f64 {
        if self.count == 0 {
            return 0.0;
        }
        let rank = ((self.count as f64 * q).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, n) in self.buckets.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return 2f64.powf((i + 1) as f64 / PER_OCTAVE).min(self.max_us);
            }
        }
        self.max_us
    }

    /// (p50, p99, max) in µs.
    pub fn percentiles(&self) -> (f64, f64, f64) {
        (self.quantile(0.5), self.quantile(0.99), self.max_us)
    }
}

#[cfg(test)]
mod tests {
    // Spelled out, not imported: harness-less benches that include this file compile
    // the module without its tests, and an import would be unused there.

    #[test]
    fn quantiles_are_within_one_bucket() {
        let mut h = super::Histogram::default();
        for us in 1..=10_000 {
            h.record(us as f64);
        }
        for (q, exact) in [(0.5, 5_000.0), (0.99, 9_900.0), (0.999, 9_990.0)] {
            let got = h.quantile(q);
            assert!(
                got >= exact && got <= exact * 1.006,
                "q{q}: {got} vs {exact}"
            );
        }
        assert_eq!(h.quantile(1.0), 10_000.0);
        assert_eq!(h.count(), 10_000);
    }

    #[test]
    fn empty_and_merged() {
        let mut a = super::Histogram::default();
        assert_eq!(a.percentiles(), (0.0, 0.0, 0.0));
        let mut b = super::Histogram::default();
        b.record_n(100.0, 99);
        b.record(5_000.0);
        a.merge(&b);
        assert_eq!(a.count(), 100);
        assert!(a.quantile(0.5) >= 100.0 && a.quantile(0.5) < 100.6);
        assert_eq!(a.quantile(1.0), 5_000.0);
    }
}
