//! The memory watermark: resident memory against `MEMORY_LIMIT_BYTES` or the
//! cgroup limit; above 85% a warning is logged and a gauge set. Read from
//! /proc and /sys by the housekeeping tick of shard 0, never on a request path.

use std::cell::Cell;

/// Fraction of the limit that raises the watermark.
pub const WATERMARK: f64 = 0.85;

/// Last reading.
#[derive(Debug, Default, Clone, Copy)]
pub struct MemoryReading {
    pub rss: u64,
    /// 0 = no known limit.
    pub limit: u64,
}

impl MemoryReading {
    /// Whether resident memory is above the watermark.
    pub fn over_watermark(&self) -> bool {
        self.limit > 0 && self.rss as f64 > self.limit as f64 * WATERMARK
    }
}

/// Resident set size of this process, in bytes.
pub fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(4096) as u64;
    pages * page
}

/// The cgroup (v2, then v1) memory limit, if any.
pub fn cgroup_limit() -> u64 {
    for p in [
        "/sys/fs/cgroup/memory.max",
        "/sys/fs/cgroup/memory/memory.limit_in_bytes",
    ] {
        if let Ok(s) = std::fs::read_to_string(p) {
            if let Ok(v) = s.trim().parse::<u64>() {
                // cgroup v1 reports "no limit" as a huge number.
                if v < (1u64 << 60) {
                    return v;
                }
            }
        }
    }
    0
}

/// Per-shard cache of the last reading (updated by the tick).
#[derive(Debug, Default)]
pub struct MemoryGauge(Cell<MemoryReading>);

impl MemoryGauge {
    /// The last reading.
    pub fn get(&self) -> MemoryReading {
        self.0.get()
    }

    /// Take a new reading; returns true when the watermark was just crossed upward.
    pub fn refresh(&self, configured_limit: u64) -> bool {
        let before = self.0.get().over_watermark();
        let limit = if configured_limit > 0 {
            configured_limit
        } else {
            cgroup_limit()
        };
        let r = MemoryReading {
            rss: rss_bytes(),
            limit,
        };
        self.0.set(r);
        !before && r.over_watermark()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watermark() {
        assert!(!MemoryReading { rss: 90, limit: 0 }.over_watermark());
        assert!(MemoryReading {
            rss: 86,
            limit: 100
        }
        .over_watermark());
        assert!(!MemoryReading {
            rss: 85,
            limit: 100
        }
        .over_watermark());
        assert!(rss_bytes() > 0);
    }
}
