//! The memory watermark: resident memory against `MEMORY_LIMIT_BYTES` or the
//! cgroup limit; above 85% a warning is logged and a gauge set.
//!
//! Reading /proc and /sys is a blocking file read, so no shard does it: one thread of its
//! own (`memory`) takes a reading every [`EVERY`] and stores it in a [`MemoryWatch`] (two
//! atomics) that `/metrics` reads on any shard without waiting.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// How often the memory thread takes a reading.
pub const EVERY: Duration = Duration::from_secs(5);

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

/// The last reading, shared by every shard (written by the memory thread only).
#[derive(Debug, Default)]
pub struct MemoryWatch {
    rss: AtomicU64,
    limit: AtomicU64,
}

impl MemoryWatch {
    /// The last reading.
    pub fn get(&self) -> MemoryReading {
        MemoryReading {
            rss: self.rss.load(Ordering::Relaxed),
            limit: self.limit.load(Ordering::Relaxed),
        }
    }

    /// Take a new reading; returns true when the watermark was just crossed upward.
    pub fn refresh(&self, configured_limit: u64) -> bool {
        let before = self.get().over_watermark();
        let limit = if configured_limit > 0 {
            configured_limit
        } else {
            cgroup_limit()
        };
        let r = MemoryReading {
            rss: rss_bytes(),
            limit,
        };
        self.rss.store(r.rss, Ordering::Relaxed);
        self.limit.store(r.limit, Ordering::Relaxed);
        !before && r.over_watermark()
    }

    /// Take a first reading now, then one every [`EVERY`] on a thread of its own, which
    /// logs when the watermark is crossed upward.
    pub fn start(configured_limit: u64) -> std::io::Result<Arc<MemoryWatch>> {
        let watch = Arc::new(MemoryWatch::default());
        watch.refresh(configured_limit);
        let w = watch.clone();
        std::thread::Builder::new()
            .name("memory".into())
            .spawn(move || loop {
                std::thread::sleep(EVERY);
                if w.refresh(configured_limit) {
                    let m = w.get();
                    crate::log!(
                        Warn,
                        "memory above 85% of the limit",
                        rss_bytes = m.rss,
                        limit_bytes = m.limit
                    );
                }
            })?;
        Ok(watch)
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
        let w = MemoryWatch::default();
        assert!(w.refresh(1), "1 byte is crossed at once");
        assert!(!w.refresh(1), "only the first crossing counts");
        assert!(w.get().rss > 0);
    }
}
