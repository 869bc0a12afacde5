//! Metric primitives of one shard: fixed-bucket latency histograms in `Cell`s
//! and the `Send` samples a scrape gathers from every shard.
//!
//! Owns no metric names or help texts (the engine's `metrics` module does) and
//! never renders anything: it only counts, snapshots and merges.

use std::cell::Cell;
use std::collections::BTreeMap;

/// Upper bounds (seconds) of the latency buckets, Prometheus `le` values.
pub const LATENCY_BUCKETS: [f64; 16] = [
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0, 2.5, 10.0,
];

/// Upper bounds (seconds) for long durations (games, time to match).
pub const DURATION_BUCKETS: [f64; 12] = [
    1.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0, 7200.0,
];

/// A single-threaded histogram with fixed bucket bounds.
#[derive(Debug)]
pub struct Histogram {
    bounds: &'static [f64],
    /// Non-cumulative counts; the last slot is `+Inf`.
    counts: Box<[Cell<u64>]>,
    sum_micros: Cell<u64>,
}

impl Histogram {
    /// An empty histogram over `bounds` (ascending).
    pub fn new(bounds: &'static [f64]) -> Histogram {
        Histogram {
            bounds,
            counts: (0..=bounds.len()).map(|_| Cell::new(0)).collect(),
            sum_micros: Cell::new(0),
        }
    }

    /// Latency buckets from 50 µs to 10 s.
    pub fn latency() -> Histogram {
        Histogram::new(&LATENCY_BUCKETS)
    }

    /// Duration buckets from 1 s to 2 h.
    pub fn duration() -> Histogram {
        Histogram::new(&DURATION_BUCKETS)
    }

    /// Record one observation of `secs` seconds.
    pub fn observe(&self, secs: f64) {
        let i = self
            .bounds
            .iter()
            .position(|b| secs <= *b)
            .unwrap_or(self.bounds.len());
        let c = &self.counts[i];
        c.set(c.get() + 1);
        self.sum_micros
            .set(self.sum_micros.get() + (secs * 1e6) as u64);
    }

    /// Copy out the current values.
    pub fn snapshot(&self) -> HistSnapshot {
        HistSnapshot {
            bounds: self.bounds,
            counts: self.counts.iter().map(Cell::get).collect(),
            sum: self.sum_micros.get() as f64 / 1e6,
        }
    }
}

/// A histogram's values at scrape time (`Send`).
#[derive(Debug, Clone, PartialEq)]
pub struct HistSnapshot {
    pub bounds: &'static [f64],
    /// Non-cumulative bucket counts, `+Inf` last.
    pub counts: Vec<u64>,
    pub sum: f64,
}

impl HistSnapshot {
    /// Total observations.
    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }

    fn add(&mut self, o: &HistSnapshot) {
        if self.counts.len() == o.counts.len() {
            for (a, b) in self.counts.iter_mut().zip(&o.counts) {
                *a += b;
            }
            self.sum += o.sum;
        }
    }
}

/// One value of one metric series.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// Monotonic count (summed across shards).
    Counter(u64),
    /// Level (summed across shards, unless the metric is process-wide).
    Gauge(f64),
    Histogram(HistSnapshot),
}

/// A series: metric name + labels -> value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: &'static str,
    pub labels: Vec<(&'static str, String)>,
    pub value: Value,
}

impl Sample {
    /// A counter series.
    pub fn counter(name: &'static str, labels: &[(&'static str, &str)], v: u64) -> Sample {
        Sample {
            name,
            labels: labels.iter().map(|(k, v)| (*k, v.to_string())).collect(),
            value: Value::Counter(v),
        }
    }

    /// A gauge series.
    pub fn gauge(name: &'static str, labels: &[(&'static str, &str)], v: f64) -> Sample {
        Sample {
            name,
            labels: labels.iter().map(|(k, v)| (*k, v.to_string())).collect(),
            value: Value::Gauge(v),
        }
    }

    /// A histogram series.
    pub fn histogram(
        name: &'static str,
        labels: &[(&'static str, &str)],
        h: HistSnapshot,
    ) -> Sample {
        Sample {
            name,
            labels: labels.iter().map(|(k, v)| (*k, v.to_string())).collect(),
            value: Value::Histogram(h),
        }
    }
}

/// A series' identity: metric name and labels.
type SeriesKey = (&'static str, Vec<(&'static str, String)>);

/// Sum the samples of every shard series by series, ordered by name then labels.
pub fn merge(all: impl IntoIterator<Item = Sample>) -> Vec<Sample> {
    let mut by_key: BTreeMap<SeriesKey, Value> = BTreeMap::new();
    for s in all {
        match by_key.get_mut(&(s.name, s.labels.clone())) {
            None => {
                by_key.insert((s.name, s.labels), s.value);
            }
            Some(v) => match (v, &s.value) {
                (Value::Counter(a), Value::Counter(b)) => *a += b,
                (Value::Gauge(a), Value::Gauge(b)) => *a += b,
                (Value::Histogram(a), Value::Histogram(b)) => a.add(b),
                _ => {}
            },
        }
    }
    by_key
        .into_iter()
        .map(|((name, labels), value)| Sample {
            name,
            labels,
            value,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_and_sum() {
        let h = Histogram::latency();
        h.observe(0.000_01);
        h.observe(0.003);
        h.observe(99.0);
        let s = h.snapshot();
        assert_eq!(s.count(), 3);
        assert_eq!(s.counts[0], 1);
        assert_eq!(s.counts[6], 1); // 0.005
        assert_eq!(*s.counts.last().unwrap(), 1);
        assert!((s.sum - 99.003_01).abs() < 1e-3);
    }

    #[test]
    fn merge_sums_same_series() {
        let h1 = Histogram::latency();
        h1.observe(0.001);
        let h2 = Histogram::latency();
        h2.observe(0.001);
        let merged = merge(vec![
            Sample::counter("a", &[("x", "1")], 2),
            Sample::counter("a", &[("x", "1")], 3),
            Sample::counter("a", &[("x", "2")], 1),
            Sample::gauge("g", &[], 1.5),
            Sample::gauge("g", &[], 1.0),
            Sample::histogram("h", &[], h1.snapshot()),
            Sample::histogram("h", &[], h2.snapshot()),
        ]);
        assert_eq!(merged.len(), 4);
        assert_eq!(merged[0].value, Value::Counter(5));
        assert_eq!(merged[1].value, Value::Counter(1));
        assert_eq!(merged[2].value, Value::Gauge(2.5));
        match &merged[3].value {
            Value::Histogram(h) => assert_eq!(h.count(), 2),
            v => panic!("{v:?}"),
        }
    }
}
