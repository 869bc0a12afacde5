//! Per-shard counters: plain `Cell`s written only by the owning shard.
//!
//! Other shards never read these directly: a `ShardMsg::Stats` request makes the
//! owner take a [`ShardStats`] snapshot and send it back.

use std::cell::Cell;

/// Live counters of one shard (single-threaded).
#[derive(Debug, Default)]
pub struct Stats {
    /// Open TCP connections (HTTP and WebSocket) owned by this shard.
    pub connections: Cell<u64>,
    /// Open WebSocket sessions owned by this shard.
    pub websockets: Cell<u64>,
    /// Connections accepted since start.
    pub accepted_total: Cell<u64>,
    /// HTTP requests answered since start.
    pub http_requests_total: Cell<u64>,
    /// WebSocket data messages received.
    pub ws_messages_in_total: Cell<u64>,
    /// WebSocket frames delivered to recipients (one per recipient).
    pub ws_messages_out_total: Cell<u64>,
    /// Connections closed because their outbound queue overflowed.
    pub slow_consumers_total: Cell<u64>,
    /// Protocol errors that closed a WebSocket (1002/1007/1009).
    pub ws_protocol_errors_total: Cell<u64>,
    /// Sockets handed to another shard (room owner) after the upgrade.
    pub migrated_out_total: Cell<u64>,
    /// Connections dropped for a slow request head (slowloris) or idle timeout.
    pub timeouts_total: Cell<u64>,
}

/// Increment a counter cell.
#[inline]
pub fn inc(c: &Cell<u64>) {
    c.set(c.get() + 1);
}

/// Decrement a gauge cell (saturating).
#[inline]
pub fn dec(c: &Cell<u64>) {
    c.set(c.get().saturating_sub(1));
}

/// A `Send` snapshot of one shard's counters.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ShardStats {
    pub shard: usize,
    pub connections: u64,
    pub websockets: u64,
    pub rooms: u64,
    pub accepted_total: u64,
    pub http_requests_total: u64,
    pub ws_messages_in_total: u64,
    pub ws_messages_out_total: u64,
    pub slow_consumers_total: u64,
    pub ws_protocol_errors_total: u64,
    pub migrated_out_total: u64,
    pub timeouts_total: u64,
}

impl Stats {
    /// Snapshot the counters; `rooms` comes from the room table.
    pub fn snapshot(&self, shard: usize, rooms: u64) -> ShardStats {
        ShardStats {
            shard,
            connections: self.connections.get(),
            websockets: self.websockets.get(),
            rooms,
            accepted_total: self.accepted_total.get(),
            http_requests_total: self.http_requests_total.get(),
            ws_messages_in_total: self.ws_messages_in_total.get(),
            ws_messages_out_total: self.ws_messages_out_total.get(),
            slow_consumers_total: self.slow_consumers_total.get(),
            ws_protocol_errors_total: self.ws_protocol_errors_total.get(),
            migrated_out_total: self.migrated_out_total.get(),
            timeouts_total: self.timeouts_total.get(),
        }
    }
}

impl ShardStats {
    /// Sum of several shards' snapshots (`shard` is left 0).
    pub fn total(all: &[ShardStats]) -> ShardStats {
        let mut t = ShardStats::default();
        for s in all {
            t.connections += s.connections;
            t.websockets += s.websockets;
            t.rooms += s.rooms;
            t.accepted_total += s.accepted_total;
            t.http_requests_total += s.http_requests_total;
            t.ws_messages_in_total += s.ws_messages_in_total;
            t.ws_messages_out_total += s.ws_messages_out_total;
            t.slow_consumers_total += s.slow_consumers_total;
            t.ws_protocol_errors_total += s.ws_protocol_errors_total;
            t.migrated_out_total += s.migrated_out_total;
            t.timeouts_total += s.timeouts_total;
        }
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_add_up() {
        let a = Stats::default();
        inc(&a.connections);
        inc(&a.connections);
        dec(&a.connections);
        dec(&a.websockets);
        let s1 = a.snapshot(0, 3);
        let s2 = a.snapshot(1, 4);
        let t = ShardStats::total(&[s1, s2]);
        assert_eq!(t.connections, 2);
        assert_eq!(t.websockets, 0);
        assert_eq!(t.rooms, 7);
    }
}
