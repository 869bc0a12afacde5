//! Latency histograms: an HdrHistogram in microseconds (3 significant digits, up to one hour),
//! merging (per-step histograms into a run total, several runs into one), and the summaries and
//! percentile curves that reports, JSON and plots are built from.

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// Highest trackable latency: one hour in microseconds. Larger values are clamped.
pub const MAX_US: u64 = 3_600_000_000;

/// A latency histogram with microsecond resolution.
#[derive(Clone, Debug)]
pub struct LatencyHist {
    h: Histogram<u64>,
}

impl Default for LatencyHist {
    fn default() -> Self {
        Self::new()
    }
}

/// Percentiles of one histogram, all in microseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Number of recorded values.
    pub count: u64,
    /// Smallest value.
    pub min: u64,
    /// Arithmetic mean.
    pub mean: f64,
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 95th percentile.
    pub p95: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    pub p999: u64,
    /// 99.99th percentile.
    pub p9999: u64,
    /// Largest value.
    pub max: u64,
}

/// One point of a percentile curve: `percentile` in 0..=100, `value_us` in microseconds.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct CurvePoint {
    /// Percentile, 0..=100.
    pub percentile: f64,
    /// Latency at that percentile (microseconds).
    pub value_us: u64,
}

impl LatencyHist {
    /// An empty histogram.
    pub fn new() -> Self {
        let h = Histogram::new_with_max(MAX_US, 3).expect("static histogram bounds are valid");
        Self { h }
    }

    /// Records a latency given in nanoseconds.
    #[inline]
    pub fn record_ns(&mut self, ns: u64) {
        self.record_us(ns / 1_000);
    }

    /// Records a latency given in microseconds (clamped to [`MAX_US`]).
    #[inline]
    pub fn record_us(&mut self, us: u64) {
        self.h.saturating_record(us.min(MAX_US));
    }

    /// Adds every value of `other` into `self`.
    pub fn merge(&mut self, other: &LatencyHist) {
        // both histograms share the same bounds, so `add` cannot fail
        let _ = self.h.add(&other.h);
    }

    /// Merges a set of histograms into a new one.
    pub fn merged<'a>(parts: impl IntoIterator<Item = &'a LatencyHist>) -> LatencyHist {
        let mut out = LatencyHist::new();
        for p in parts {
            out.merge(p);
        }
        out
    }

    /// Removes every value.
    pub fn clear(&mut self) {
        self.h.reset();
    }

    /// Number of recorded values.
    pub fn count(&self) -> u64 {
        self.h.len()
    }

    /// Value at a percentile (0..=100), microseconds; 0 when empty.
    pub fn percentile(&self, p: f64) -> u64 {
        if self.h.is_empty() {
            0
        } else {
            self.h.value_at_percentile(p)
        }
    }

    /// The underlying HdrHistogram (for the .hgrm writer).
    pub fn raw(&self) -> &Histogram<u64> {
        &self.h
    }

    /// Standard percentiles of the histogram.
    pub fn summary(&self) -> Summary {
        if self.h.is_empty() {
            return Summary::default();
        }
        Summary {
            count: self.h.len(),
            min: self.h.min(),
            mean: self.h.mean(),
            p50: self.percentile(50.0),
            p90: self.percentile(90.0),
            p95: self.percentile(95.0),
            p99: self.percentile(99.0),
            p999: self.percentile(99.9),
            p9999: self.percentile(99.99),
            max: self.h.max(),
        }
    }

    /// Percentile curve at the fixed points plots use (0 .. 99.999 and 100).
    pub fn curve(&self) -> Vec<CurvePoint> {
        if self.h.is_empty() {
            return Vec::new();
        }
        CURVE_PERCENTILES
            .iter()
            .map(|&p| CurvePoint {
                percentile: p,
                value_us: if p >= 100.0 {
                    self.h.max()
                } else {
                    self.percentile(p)
                },
            })
            .collect()
    }
}

/// Percentiles sampled for curves (JSON and SVG): dense enough for a log-scale plot.
pub const CURVE_PERCENTILES: &[f64] = &[
    0.0, 10.0, 25.0, 50.0, 75.0, 80.0, 90.0, 95.0, 97.0, 99.0, 99.5, 99.7, 99.9, 99.95, 99.97,
    99.99, 99.995, 99.999, 100.0,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_equals_recording_everything_into_one() {
        let mut a = LatencyHist::new();
        let mut b = LatencyHist::new();
        let mut all = LatencyHist::new();
        for v in 1..=1000u64 {
            a.record_us(v);
            all.record_us(v);
        }
        for v in 5000..=5100u64 {
            b.record_us(v);
            all.record_us(v);
        }
        let m = LatencyHist::merged([&a, &b]);
        assert_eq!(m.count(), 1101);
        assert_eq!(m.summary(), all.summary());
        assert_eq!(m.summary().max, all.summary().max);
        assert!(m.summary().p99 >= 5000);
        assert!(m.summary().p50 <= 600);
    }

    #[test]
    fn merging_empty_is_identity() {
        let mut a = LatencyHist::new();
        a.record_us(42);
        let before = a.summary();
        a.merge(&LatencyHist::new());
        assert_eq!(a.summary(), before);
        let e = LatencyHist::merged(std::iter::empty());
        assert_eq!(e.count(), 0);
        assert_eq!(e.summary(), Summary::default());
        assert!(e.curve().is_empty());
    }

    #[test]
    fn ns_are_converted_and_huge_values_clamped() {
        let mut h = LatencyHist::new();
        h.record_ns(1_500_000);
        assert_eq!(h.summary().max, 1_500);
        h.record_us(u64::MAX);
        assert!(h.summary().max >= MAX_US);
        assert_eq!(h.count(), 2);
    }

    #[test]
    fn curve_is_monotonic_and_ends_at_max() {
        let mut h = LatencyHist::new();
        for v in 0..10_000u64 {
            h.record_us(100 + v % 977);
        }
        let c = h.curve();
        assert_eq!(c.len(), CURVE_PERCENTILES.len());
        for w in c.windows(2) {
            assert!(w[1].value_us >= w[0].value_us);
            assert!(w[1].percentile > w[0].percentile);
        }
        assert_eq!(c.last().unwrap().value_us, h.summary().max);
    }

    #[test]
    fn clear_empties() {
        let mut h = LatencyHist::new();
        h.record_us(5);
        h.clear();
        assert_eq!(h.count(), 0);
    }
}
