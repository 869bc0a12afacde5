//! Process-wide lifecycle state shared by all shards: readiness and draining.
//!
//! The only cross-thread state outside the mesh: a few atomics read on
//! `/ready` and by each shard's housekeeping tick, never on a per-message path.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Instant;

/// Lifecycle flags of the whole server.
#[derive(Debug)]
pub struct Global {
    /// When the process started (for uptime).
    pub started: Instant,
    /// Number of shards.
    pub shards: usize,
    listening: AtomicUsize,
    storage_open: AtomicBool,
    draining: AtomicBool,
    /// Open WebSockets across all shards (for MAX_TOTAL_CONNECTIONS).
    ws_total: AtomicUsize,
}

impl Global {
    /// Fresh state for `shards` shards.
    pub fn new(shards: usize) -> Global {
        Global {
            started: Instant::now(),
            shards,
            listening: AtomicUsize::new(0),
            storage_open: AtomicBool::new(false),
            draining: AtomicBool::new(false),
            ws_total: AtomicUsize::new(0),
        }
    }

    /// A shard's listener is bound.
    pub fn shard_listening(&self) {
        self.listening.fetch_add(1, Ordering::AcqRel);
    }

    /// Storage is open (or there is none to wait for).
    pub fn set_storage_open(&self) {
        self.storage_open.store(true, Ordering::Release);
    }

    /// Start the graceful drain (idempotent). Returns true the first time.
    pub fn begin_drain(&self) -> bool {
        !self.draining.swap(true, Ordering::AcqRel)
    }

    /// Whether the drain has started.
    pub fn draining(&self) -> bool {
        self.draining.load(Ordering::Acquire)
    }

    /// Take one WebSocket slot if fewer than `max` are open (0 = no limit).
    pub fn take_ws_slot(&self, max: u32) -> bool {
        let n = self.ws_total.fetch_add(1, Ordering::AcqRel);
        if max > 0 && n >= max as usize {
            self.ws_total.fetch_sub(1, Ordering::AcqRel);
            return false;
        }
        true
    }

    /// Give a WebSocket slot back.
    pub fn give_ws_slot(&self) {
        let _ = self
            .ws_total
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
    }

    /// Open WebSockets across all shards.
    pub fn ws_total(&self) -> usize {
        self.ws_total.load(Ordering::Acquire)
    }

    /// Ready: every shard listens, storage is open, and we are not draining.
    pub fn ready(&self) -> bool {
        self.listening.load(Ordering::Acquire) >= self.shards
            && self.storage_open.load(Ordering::Acquire)
            && !self.draining()
    }
}
