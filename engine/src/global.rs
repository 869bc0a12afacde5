//! Process-wide state of the engine shared by all shards: readiness and the WebSocket total.
//!
//! The only cross-thread state outside the mesh, besides the runtime's [`Lifecycle`]
//! (listening and draining): whether storage is open, the number of open WebSockets in
//! the process (for `MAX_TOTAL_CONNECTIONS`), and the memory thread's last reading. A few atomics read on `/ready` and touched on
//! upgrade and close, never per message.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use shards::Lifecycle;

use crate::memory::MemoryWatch;

/// Readiness of the whole server.
#[derive(Debug)]
pub struct Global {
    /// Listening and draining (the runtime's).
    pub lifecycle: Arc<Lifecycle>,
    /// The last memory reading (written by the memory thread).
    pub memory: Arc<MemoryWatch>,
    storage_open: AtomicBool,
    /// Open WebSockets across all shards (for MAX_TOTAL_CONNECTIONS).
    ws_total: AtomicUsize,
}

impl Global {
    /// Fresh state for `shards` shards, with the memory readings of `memory`.
    pub fn new(shards: usize, memory: Arc<MemoryWatch>) -> Global {
        Global {
            lifecycle: Arc::new(Lifecycle::new(shards)),
            memory,
            storage_open: AtomicBool::new(false),
            ws_total: AtomicUsize::new(0),
        }
    }

    /// Storage is open (or there is none to wait for).
    pub fn set_storage_open(&self) {
        self.storage_open.store(true, Ordering::Release);
    }

    /// Whether the drain has started.
    pub fn draining(&self) -> bool {
        self.lifecycle.draining()
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
        self.lifecycle.all_listening()
            && self.storage_open.load(Ordering::Acquire)
            && !self.lifecycle.draining()
    }
}
