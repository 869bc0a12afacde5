//! The runtime's own counters, and the building blocks features count with.
//!
//! Owns [`RuntimeStats`] (connections, accepts, timeouts, hand-offs, heartbeats, caught
//! panics: what the runtime itself does), the [`labels!`](crate::labels) macro and
//! [`Labeled`] counters that features declare their labelled series with, and
//! [`Disconnect`], why a message session ended (an outbox records it). Plain `Cell`s written
//! only by the owning shard: other shards read them through a message to that shard.

use std::cell::Cell;

/// Declares a label enum with a fixed set of values, indexable into [`Labeled`] arrays.
#[macro_export]
macro_rules! labels {
    ($(#[$m:meta])* $name:ident { $($v:ident => $s:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum $name { $($v),+ }
        impl $name {
            /// Every value, in index order.
            pub const ALL: &'static [$name] = &[$($name::$v),+];
            /// The label value.
            pub fn label(self) -> &'static str {
                match self { $($name::$v => $s),+ }
            }
        }
    };
}

labels!(
    /// Why a message session (a WebSocket) ended.
    Disconnect {
        ClientClose => "client_close", Eof => "eof", ProtocolError => "protocol_error",
        SlowConsumer => "slow_consumer", PingTimeout => "ping_timeout", RateLimited => "rate_limited",
        Shutdown => "shutdown", Crash => "crash",
    }
);

fn cells<const N: usize>() -> [Cell<u64>; N] {
    std::array::from_fn(|_| Cell::new(0))
}

/// Counters labelled by one label enum (`N` = its number of values).
#[derive(Debug)]
pub struct Labeled<const N: usize>([Cell<u64>; N]);

impl<const N: usize> Default for Labeled<N> {
    fn default() -> Self {
        Labeled(cells())
    }
}

impl<const N: usize> Labeled<N> {
    /// Add one to the series at `i`.
    #[inline]
    pub fn inc(&self, i: usize) {
        self.add(i, 1);
    }

    /// Add `n` to the series at `i`.
    #[inline]
    pub fn add(&self, i: usize, n: u64) {
        if let Some(c) = self.0.get(i) {
            c.set(c.get() + n);
        }
    }

    /// Value at `i`.
    pub fn get(&self, i: usize) -> u64 {
        self.0.get(i).map_or(0, Cell::get)
    }
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

/// What the runtime of one shard counted.
#[derive(Debug, Default)]
pub struct RuntimeStats {
    /// Open TCP connections in this shard's table (HTTP and WebSocket).
    pub connections: Cell<u64>,
    /// Connections accepted by this shard's listener since start.
    pub accepted_total: Cell<u64>,
    /// `accept` failures (out of file descriptors and the like).
    pub accept_errors_total: Cell<u64>,
    /// Connections shut down by a deadline (request head, idle, ping, close).
    pub timeouts_total: Cell<u64>,
    /// Sockets handed to another shard.
    pub handoffs_total: Cell<u64>,
    /// Heartbeat pings queued to message sessions.
    pub pings_sent_total: Cell<u64>,
    /// Panics caught in a connection's task.
    pub crashes_total: Cell<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_and_counters() {
        let l: Labeled<8> = Labeled::default();
        l.inc(Disconnect::Crash as usize);
        l.add(Disconnect::Eof as usize, 2);
        l.add(99, 1);
        assert_eq!(l.get(Disconnect::Crash as usize), 1);
        assert_eq!(l.get(Disconnect::Eof as usize), 2);
        assert_eq!(Disconnect::ALL.len(), 8);
        assert_eq!(Disconnect::SlowConsumer.label(), "slow_consumer");
        let s = RuntimeStats::default();
        inc(&s.connections);
        dec(&s.connections);
        dec(&s.connections);
        assert_eq!(s.connections.get(), 0);
    }
}
