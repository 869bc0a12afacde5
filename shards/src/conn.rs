//! The connection table: every open connection of one shard, as the housekeeping tick sees
//! it.
//!
//! Owns [`ConnEntry`] (identity, deadline, heartbeat state, the session outbox while the
//! connection is a message session) and [`ConnTable`] (entries by id, the id counter). An
//! entry is added when a connection is accepted or adopted and leaves when its task ends;
//! the table never holds a socket, only its descriptor number, so a timeout is a
//! `shutdown(2)` that wakes the owning task with EOF.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::os::fd::RawFd;
use std::rc::Rc;
use std::time::Instant;

use crate::outbox::Outbox;
use crate::stats::{self, RuntimeStats};

/// One connection as the housekeeping tick sees it.
#[derive(Debug)]
pub struct ConnEntry {
    /// Unique on this shard for the life of the process; the low 8 bits name the shard.
    pub id: u64,
    pub fd: RawFd,
    pub peer: SocketAddr,
    /// When passed, the socket is shut down (head, idle and close timeouts).
    pub deadline: Cell<Option<Instant>>,
    /// Between two requests of a keep-alive connection: closed soon after a drain starts.
    pub idle: Cell<bool>,
    /// The outbox of a message session (a WebSocket): it receives heartbeats and is told
    /// when the shard drains.
    pub session: RefCell<Option<Rc<Outbox>>>,
    /// An unanswered heartbeat ping (when it was sent).
    pub ping_sent: Cell<Option<Instant>>,
    /// When the last ping was sent (or the session started).
    pub last_ping: Cell<Instant>,
}

impl ConnEntry {
    /// The session's outbox, if this connection is a message session.
    pub fn outbox(&self) -> Option<Rc<Outbox>> {
        self.session.borrow().clone()
    }

    /// A pong (or any sign of life the protocol counts as one) arrived.
    pub fn pong(&self) {
        self.ping_sent.set(None);
    }
}

/// Open connections of one shard by id; entries leave when their task ends.
#[derive(Debug, Default)]
pub struct ConnTable {
    shard: u64,
    entries: RefCell<HashMap<u64, Rc<ConnEntry>>>,
    next: Cell<u64>,
}

impl ConnTable {
    /// The table of shard `shard`.
    pub fn new(shard: usize) -> ConnTable {
        ConnTable {
            shard: shard as u64 & 0xff,
            entries: RefCell::new(HashMap::new()),
            next: Cell::new(1),
        }
    }

    /// Add a connection.
    pub fn register(&self, fd: RawFd, peer: SocketAddr, stats: &RuntimeStats) -> Rc<ConnEntry> {
        let n = self.next.get();
        self.next.set(n + 1);
        let e = Rc::new(ConnEntry {
            id: (n << 8) | self.shard,
            fd,
            peer,
            deadline: Cell::new(None),
            idle: Cell::new(false),
            session: RefCell::new(None),
            ping_sent: Cell::new(None),
            last_ping: Cell::new(Instant::now()),
        });
        self.entries.borrow_mut().insert(e.id, e.clone());
        stats::inc(&stats.connections);
        // Adopted sockets count too: every connection a shard starts serving.
        stats::inc(&stats.accepted_total);
        e
    }

    /// Remove a connection.
    pub fn deregister(&self, e: &ConnEntry, stats: &RuntimeStats) {
        if self.entries.borrow_mut().remove(&e.id).is_some() {
            stats::dec(&stats.connections);
        }
    }

    /// The entry of connection `id`.
    pub fn get(&self, id: u64) -> Option<Rc<ConnEntry>> {
        self.entries.borrow().get(&id).cloned()
    }

    /// Number of open connections.
    pub fn len(&self) -> usize {
        self.entries.borrow().len()
    }

    /// Whether no connection is open.
    pub fn is_empty(&self) -> bool {
        self.entries.borrow().is_empty()
    }

    /// Call `f` on every entry (no entry may be added or removed inside `f`).
    pub fn for_each(&self, mut f: impl FnMut(&ConnEntry)) {
        for e in self.entries.borrow().values() {
            f(e);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_name_the_shard_and_entries_leave() {
        let stats = RuntimeStats::default();
        let t = ConnTable::new(3);
        let peer = "127.0.0.1:9".parse().unwrap();
        let a = t.register(10, peer, &stats);
        let b = t.register(11, peer, &stats);
        assert_eq!(a.id & 0xff, 3);
        assert_ne!(a.id, b.id);
        assert_eq!(stats.connections.get(), 2);
        assert!(t.get(a.id).is_some());
        t.deregister(&a, &stats);
        t.deregister(&a, &stats);
        assert_eq!(stats.connections.get(), 1);
        assert_eq!(t.len(), 1);
    }
}
