//! Process-wide lifecycle flags shared by every shard: how many listen, whether the drain
//! started. A few atomics read by readiness probes and by each shard's housekeeping tick,
//! never on a per-message path. The signal thread starts the drain.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Instant;

/// Listening and draining, for the whole process.
#[derive(Debug)]
pub struct Lifecycle {
    /// When the process started (for uptime).
    pub started: Instant,
    /// Number of shards.
    pub shards: usize,
    listening: AtomicUsize,
    draining: AtomicBool,
}

impl Lifecycle {
    /// Fresh state for `shards` shards.
    pub fn new(shards: usize) -> Lifecycle {
        Lifecycle {
            started: Instant::now(),
            shards,
            listening: AtomicUsize::new(0),
            draining: AtomicBool::new(false),
        }
    }

    /// A shard's listener accepts.
    pub fn shard_listening(&self) {
        self.listening.fetch_add(1, Ordering::AcqRel);
    }

    /// Whether every shard accepts.
    pub fn all_listening(&self) -> bool {
        self.listening.load(Ordering::Acquire) >= self.shards
    }

    /// Start the graceful drain (idempotent). Returns true the first time.
    pub fn begin_drain(&self) -> bool {
        !self.draining.swap(true, Ordering::AcqRel)
    }

    /// Whether the drain has started.
    pub fn draining(&self) -> bool {
        self.draining.load(Ordering::Acquire)
    }
}
