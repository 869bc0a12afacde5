//! Chaos injection (off by default): fail a fraction of non-probe HTTP
//! requests and WebSocket messages (`CHAOS_ERROR_RATE`) and delay them
//! (`CHAOS_LATENCY_MS`), so alerts and rollbacks can be rehearsed. Every
//! injection is counted and logged as such.

use std::cell::Cell;

/// A per-shard xorshift generator (no locks, no syscalls).
#[derive(Debug)]
pub struct Rng(Cell<u64>);

impl Rng {
    /// Seeded from the shard id and the clock.
    pub fn new(seed: u64) -> Rng {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        Rng(Cell::new((seed ^ t) | 1))
    }

    /// Next value in [0, 1).
    pub fn next_f64(&self) -> f64 {
        let mut x = self.0.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0.set(x);
        (x >> 11) as f64 / (1u64 << 53) as f64
    }

    /// True with probability `p`.
    pub fn chance(&self, p: f64) -> bool {
        p > 0.0 && self.next_f64() < p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chance_matches_rate() {
        let r = Rng::new(7);
        let hits = (0..100_000).filter(|_| r.chance(0.25)).count();
        assert!((20_000..30_000).contains(&hits), "{hits}");
        assert!(!(0..1000).any(|_| r.chance(0.0)));
    }
}
