//! The features' counters on one shard: plain `Cell`s written only by the owning shard.
//!
//! Owns [`Stats`] (HTTP, WebSocket, defense, chaos and game counters), their label sets,
//! the `Send` snapshot [`ShardStats`] that `/health` sums, and the series `/metrics`
//! renders (together with the runtime's own counters, `shards::stats::RuntimeStats`).
//! Other shards never read these directly: a `ShardMsg::Stats`/`Metrics` request makes the
//! owner take a snapshot and send it back.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;

use rustc_hash::FxHashMap;

use shards::labels;
use shards::metrics::{Histogram, Sample};
use shards::stats::{inc, Disconnect, Labeled, RuntimeStats};

labels!(
    /// WebSocket frames received, by type.
    FrameIn { Text => "text", Binary => "binary", Ping => "ping", Pong => "pong", Close => "close" }
);
labels!(
    /// WebSocket frames sent, by type.
    FrameOut { Relay => "relay", Ping => "ping", Pong => "pong", Close => "close", Notice => "notice" }
);
labels!(
    /// Why a connection or upgrade was refused.
    Reject { PerIpLimit => "per_ip_limit", TotalLimit => "total_limit", Origin => "origin", Draining => "draining" }
);
labels!(
    /// Which limit was hit.
    Limit {
        HttpApi => "http_api", HttpAuth => "http_auth", WsMessages => "ws_messages",
        WsBytes => "ws_bytes", RoomCreates => "room_creates",
    }
);
labels!(
    /// Where a panic was caught.
    CrashScope { Connection => "connection", Room => "room" }
);
labels!(
    /// What chaos injection did.
    Chaos { Error => "error", Latency => "latency" }
);
labels!(
    /// Which protocol a rejected input came in on.
    Validation { Http => "http", Ws => "ws" }
);

/// The features' counters of one shard (single-threaded).
#[derive(Debug)]
pub struct Stats {
    /// Open WebSocket sessions owned by this shard.
    pub websockets: Cell<u64>,
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
    /// Frames received by type ([`FrameIn`]).
    pub frames_in: Labeled<5>,
    /// Frames sent by type ([`FrameOut`]), one per recipient.
    pub frames_out: Labeled<5>,
    /// WebSocket endings by reason ([`Disconnect`]).
    pub disconnects: Labeled<8>,
    /// Refused connections/upgrades by reason ([`Reject`]).
    pub rejected: Labeled<4>,
    /// Rate-limit hits by limit ([`Limit`]).
    pub rate_limited: Labeled<5>,
    /// Panics caught by scope ([`CrashScope`]).
    pub crashes: Labeled<2>,
    /// Chaos injections by kind ([`Chaos`]).
    pub chaos: Labeled<2>,
    /// Rejected input by protocol ([`Validation`]).
    pub validation_errors: Labeled<2>,
    /// HTTP requests by (route, status). Routes are a fixed set of names.
    pub http: RefCell<FxHashMap<(&'static str, u16), u64>>,
    /// HTTP request handling latency by route.
    pub http_latency: RefCell<FxHashMap<&'static str, Histogram>>,
    /// Time to handle one batch of WebSocket frames read together.
    pub ws_handle_latency: Histogram,
    /// Game rooms live on this shard (filled by the game module).
    pub games_active: Cell<u64>,
    /// Game rooms created on this shard.
    pub games_created_total: Cell<u64>,
    /// Finished game durations.
    pub game_duration: Histogram,
    /// Illegal or invalid game moves rejected.
    pub move_validation_errors_total: Cell<u64>,
    /// Matches the matchmaker formed on this shard.
    pub matches_created_total: Cell<u64>,
    /// Time from queueing to match.
    pub time_to_match: Histogram,
    /// Per-IP limit checks decided by this node alone because Redis did not answer.
    pub limits_local_fallback_total: Cell<u64>,
    /// Matchmaker queue sizes by (mode, region) for the queues this shard owns.
    pub matchmaker_queues: RefCell<BTreeMap<(String, String), u64>>,
}

impl Default for Stats {
    fn default() -> Self {
        Stats {
            websockets: Cell::new(0),
            http_requests_total: Cell::new(0),
            ws_messages_in_total: Cell::new(0),
            ws_messages_out_total: Cell::new(0),
            slow_consumers_total: Cell::new(0),
            ws_protocol_errors_total: Cell::new(0),
            frames_in: Labeled::default(),
            frames_out: Labeled::default(),
            disconnects: Labeled::default(),
            rejected: Labeled::default(),
            rate_limited: Labeled::default(),
            crashes: Labeled::default(),
            chaos: Labeled::default(),
            validation_errors: Labeled::default(),
            http: RefCell::new(FxHashMap::default()),
            http_latency: RefCell::new(FxHashMap::default()),
            ws_handle_latency: Histogram::latency(),
            games_active: Cell::new(0),
            games_created_total: Cell::new(0),
            game_duration: Histogram::duration(),
            move_validation_errors_total: Cell::new(0),
            matches_created_total: Cell::new(0),
            time_to_match: Histogram::duration(),
            matchmaker_queues: RefCell::new(BTreeMap::new()),
            limits_local_fallback_total: Cell::new(0),
        }
    }
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
    /// Count one answered HTTP request and its handling time.
    pub fn http_request(&self, route: &'static str, status: u16, secs: f64) {
        inc(&self.http_requests_total);
        *self.http.borrow_mut().entry((route, status)).or_insert(0) += 1;
        self.http_latency
            .borrow_mut()
            .entry(route)
            .or_insert_with(Histogram::latency)
            .observe(secs);
    }

    /// Append this shard's series, the runtime's counters `rt` included.
    pub fn collect(&self, rooms: u64, rt: &RuntimeStats, out: &mut Vec<Sample>) {
        out.push(Sample::gauge(
            "roomcore_active_connections",
            &[],
            rt.connections.get() as f64,
        ));
        out.push(Sample::gauge(
            "roomcore_active_websockets",
            &[],
            self.websockets.get() as f64,
        ));
        out.push(Sample::gauge("roomcore_active_rooms", &[], rooms as f64));
        out.push(Sample::counter(
            "roomcore_connections_total",
            &[],
            rt.accepted_total.get(),
        ));
        out.push(Sample::counter(
            "roomcore_accept_errors_total",
            &[],
            rt.accept_errors_total.get(),
        ));
        out.push(Sample::counter(
            "roomcore_slow_consumers_total",
            &[],
            self.slow_consumers_total.get(),
        ));
        out.push(Sample::counter(
            "roomcore_timeouts_total",
            &[],
            rt.timeouts_total.get(),
        ));
        out.push(Sample::counter(
            "roomcore_socket_handoffs_total",
            &[],
            rt.handoffs_total.get(),
        ));
        for k in FrameIn::ALL {
            out.push(Sample::counter(
                "roomcore_ws_messages_received_total",
                &[("type", k.label())],
                self.frames_in.get(*k as usize),
            ));
        }
        for k in FrameOut::ALL {
            // Heartbeat pings are the runtime's.
            let extra = if *k == FrameOut::Ping {
                rt.pings_sent_total.get()
            } else {
                0
            };
            out.push(Sample::counter(
                "roomcore_ws_messages_sent_total",
                &[("type", k.label())],
                self.frames_out.get(*k as usize) + extra,
            ));
        }
        for k in Disconnect::ALL {
            out.push(Sample::counter(
                "roomcore_ws_disconnections_total",
                &[("reason", k.label())],
                self.disconnects.get(*k as usize),
            ));
        }
        for k in Reject::ALL {
            out.push(Sample::counter(
                "roomcore_connections_rejected_total",
                &[("reason", k.label())],
                self.rejected.get(*k as usize),
            ));
        }
        for k in Limit::ALL {
            out.push(Sample::counter(
                "roomcore_rate_limit_hits_total",
                &[("limit", k.label())],
                self.rate_limited.get(*k as usize),
            ));
        }
        for k in CrashScope::ALL {
            // Panics in a connection's task are caught (and counted) by the runtime.
            let extra = if *k == CrashScope::Connection {
                rt.crashes_total.get()
            } else {
                0
            };
            out.push(Sample::counter(
                "roomcore_crashes_total",
                &[("scope", k.label())],
                self.crashes.get(*k as usize) + extra,
            ));
        }
        for k in Chaos::ALL {
            out.push(Sample::counter(
                "roomcore_chaos_injected_total",
                &[("kind", k.label())],
                self.chaos.get(*k as usize),
            ));
        }
        for k in Validation::ALL {
            out.push(Sample::counter(
                "roomcore_validation_errors_total",
                &[("protocol", k.label())],
                self.validation_errors.get(*k as usize),
            ));
        }
        for ((route, status), n) in self.http.borrow().iter() {
            out.push(Sample::counter(
                "roomcore_http_requests_total",
                &[("route", route), ("status", &status.to_string())],
                *n,
            ));
        }
        for (route, h) in self.http_latency.borrow().iter() {
            out.push(Sample::histogram(
                "roomcore_http_request_duration_seconds",
                &[("route", route)],
                h.snapshot(),
            ));
        }
        out.push(Sample::histogram(
            "roomcore_ws_message_duration_seconds",
            &[],
            self.ws_handle_latency.snapshot(),
        ));
        out.push(Sample::gauge(
            "roomcore_active_games",
            &[],
            self.games_active.get() as f64,
        ));
        out.push(Sample::counter(
            "roomcore_games_created_total",
            &[],
            self.games_created_total.get(),
        ));
        out.push(Sample::histogram(
            "roomcore_game_duration_seconds",
            &[],
            self.game_duration.snapshot(),
        ));
        out.push(Sample::counter(
            "roomcore_move_validation_errors_total",
            &[],
            self.move_validation_errors_total.get(),
        ));
        out.push(Sample::counter(
            "roomcore_matches_created_total",
            &[],
            self.matches_created_total.get(),
        ));
        out.push(Sample::histogram(
            "roomcore_time_to_match_seconds",
            &[],
            self.time_to_match.snapshot(),
        ));
        out.push(Sample::counter(
            "roomcore_limits_local_fallback_total",
            &[],
            self.limits_local_fallback_total.get(),
        ));
        for ((mode, region), n) in self.matchmaker_queues.borrow().iter() {
            out.push(Sample::gauge(
                "roomcore_matchmaker_queue_size",
                &[("mode", mode), ("region", region)],
                *n as f64,
            ));
        }
    }

    /// Snapshot the counters; `rooms` comes from the room table, `rt` from the runtime.
    pub fn snapshot(&self, shard: usize, rooms: u64, rt: &RuntimeStats) -> ShardStats {
        ShardStats {
            shard,
            connections: rt.connections.get(),
            websockets: self.websockets.get(),
            rooms,
            accepted_total: rt.accepted_total.get(),
            http_requests_total: self.http_requests_total.get(),
            ws_messages_in_total: self.ws_messages_in_total.get(),
            ws_messages_out_total: self.ws_messages_out_total.get(),
            slow_consumers_total: self.slow_consumers_total.get(),
            ws_protocol_errors_total: self.ws_protocol_errors_total.get(),
            migrated_out_total: rt.handoffs_total.get(),
            timeouts_total: rt.timeouts_total.get(),
        }
    }
}

impl ShardStats {
    /// Sum of several shards' snapshots (`shard` is left 0).
    pub fn total(all: &[ShardStats]) -> ShardStats {
        all.iter().fold(ShardStats::default(), |t, s| t.plus(s))
    }

    /// This sum plus shard `s`'s counters (`shard` is kept).
    pub fn plus(mut self, s: &ShardStats) -> ShardStats {
        self.connections += s.connections;
        self.websockets += s.websockets;
        self.rooms += s.rooms;
        self.accepted_total += s.accepted_total;
        self.http_requests_total += s.http_requests_total;
        self.ws_messages_in_total += s.ws_messages_in_total;
        self.ws_messages_out_total += s.ws_messages_out_total;
        self.slow_consumers_total += s.slow_consumers_total;
        self.ws_protocol_errors_total += s.ws_protocol_errors_total;
        self.migrated_out_total += s.migrated_out_total;
        self.timeouts_total += s.timeouts_total;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use shards::stats::dec;

    #[test]
    fn totals_add_up() {
        let a = Stats::default();
        let rt = RuntimeStats::default();
        inc(&rt.connections);
        inc(&rt.connections);
        dec(&rt.connections);
        dec(&a.websockets);
        let s1 = a.snapshot(0, 3, &rt);
        let s2 = a.snapshot(1, 4, &rt);
        let t = ShardStats::total(&[s1, s2]);
        assert_eq!(t.connections, 2);
        assert_eq!(t.websockets, 0);
        assert_eq!(t.rooms, 7);
    }
}
