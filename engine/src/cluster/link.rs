//! The `cluster` thread: the command connection to Redis.
//!
//! Owns the node's lease (renewed every `CLUSTER_HEARTBEAT_MS` by the [`HEARTBEAT`] script,
//! which also returns the live nodes; a changed view goes to every shard), and runs what the
//! shards queue ([`Op`]): publishes are pipelined, everything waiting goes out in one round
//! trip. A lost connection is retried with backoff; meanwhile publishes are dropped and
//! counted, and the node keeps its last view of the cluster.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError};
use futures_channel::mpsc;

use super::members::{Membership, HEARTBEAT, NODES_KEY};
use super::{limits, next_backoff, owner, to_shard, Health, Inbound, NodeConfig, Op};
use crate::log;

/// Most queued operations sent in one pipeline.
const BATCH: usize = 512;

struct Link {
    cfg: NodeConfig,
    client: redis::Client,
    con: Option<redis::Connection>,
    health: Arc<Health>,
    shards: Vec<mpsc::Sender<Inbound>>,
    script: redis::Script,
    view: Arc<Membership>,
    /// Set after the first successful heartbeat: a missing lease then means it was lost.
    registered: bool,
    /// The Redis dataset the last heartbeat saw (a new one: Redis restarted empty).
    boot: Option<String>,
    backoff: Duration,
    next_try: Instant,
    down_logged: bool,
    /// The matchmaking queues this node served after the last heartbeat.
    queues: Arc<Vec<String>>,
    /// The node left the cluster (drained): no more heartbeats.
    left: bool,
}

/// Start the `cluster` thread.
pub fn spawn(
    cfg: NodeConfig,
    client: redis::Client,
    ops: Receiver<Op>,
    shards: Vec<mpsc::Sender<Inbound>>,
    health: Arc<Health>,
) -> Result<(), String> {
    let me = cfg.node_id.clone();
    let mut link = Link {
        cfg,
        client,
        con: None,
        health,
        shards,
        script: redis::Script::new(HEARTBEAT),
        view: Arc::new(Membership {
            me,
            nodes: Vec::new(),
        }),
        registered: false,
        boot: None,
        backoff: Duration::ZERO,
        next_try: Instant::now(),
        down_logged: false,
        queues: Arc::new(Vec::new()),
        left: false,
    };
    std::thread::Builder::new()
        .name("cluster".into())
        .spawn(move || link.run(ops))
        .map(|_| ())
        .map_err(|e| format!("cannot start the cluster thread: {e}"))
}

impl Link {
    fn run(&mut self, ops: Receiver<Op>) {
        let mut next_beat = Instant::now();
        loop {
            let now = Instant::now();
            if now >= next_beat && !self.left {
                self.heartbeat();
                next_beat = now + self.cfg.heartbeat;
            }
            let wait = next_beat.saturating_duration_since(Instant::now());
            match ops.recv_timeout(wait) {
                Ok(op) => {
                    let mut batch = vec![op];
                    while batch.len() < BATCH {
                        match ops.try_recv() {
                            Ok(op) => batch.push(op),
                            Err(_) => break,
                        }
                    }
                    self.run_ops(batch);
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return,
            }
        }
    }

    /// The connection, (re)connecting when the backoff allows.
    fn con(&mut self) -> Option<&mut redis::Connection> {
        if self.con.is_none() && Instant::now() >= self.next_try {
            match self
                .client
                .get_connection_with_timeout(Duration::from_secs(1))
            {
                Ok(c) => {
                    let _ = c.set_read_timeout(Some(Duration::from_secs(2)));
                    let _ = c.set_write_timeout(Some(Duration::from_secs(2)));
                    self.con = Some(c);
                    self.backoff = Duration::ZERO;
                    if self.down_logged {
                        log!(Info, "redis reachable again", node = self.cfg.node_id);
                        self.down_logged = false;
                    }
                }
                Err(e) => self.failed(&e),
            }
        }
        self.con.as_mut()
    }

    fn failed(&mut self, e: &redis::RedisError) {
        self.con = None;
        self.health.redis_up.store(false, Ordering::Relaxed);
        self.backoff = next_backoff(self.backoff, self.cfg.backoff_max);
        self.next_try = Instant::now() + self.backoff;
        if !self.down_logged {
            log!(
                Warn,
                "redis unreachable: cross-node traffic stops, local rooms go on",
                node = self.cfg.node_id,
                error = e
            );
            self.down_logged = true;
        }
    }

    fn run_ops(&mut self, batch: Vec<Op>) {
        let mut pipe = redis::pipe();
        let mut n = 0u64;
        let mut calls = Vec::new();
        for op in batch {
            match op {
                Op::Publish { channel, payload } => {
                    pipe.cmd("PUBLISH").arg(channel).arg(payload).ignore();
                    n += 1;
                }
                call => calls.push(call),
            }
        }
        let node = self.cfg.node_id.clone();
        for call in calls {
            if matches!(call, Op::Leave) {
                // Heartbeats stop even if Redis does not answer: the lease then expires.
                self.left = true;
                log!(Info, "leaving the cluster", node = node);
            }
            match self.con() {
                Some(con) => {
                    let r = match call {
                        Op::Limit(l) => limits::run(con, l),
                        Op::Owner(o) => owner::run(con, o),
                        Op::Eval {
                            script,
                            keys,
                            args,
                            reply,
                        } => eval(con, script, &keys, &args, reply),
                        Op::Leave => leave(con, &node),
                        Op::Publish { .. } => Ok(()),
                    };
                    match r {
                        Ok(()) => self.health.redis_up.store(true, Ordering::Relaxed),
                        Err(e) => self.failed(&e),
                    }
                }
                None => match call {
                    Op::Limit(l) => limits::fail(l),
                    Op::Owner(o) => owner::fail(o),
                    Op::Eval { reply, .. } => {
                        if let Some(r) = reply {
                            let _ = r.send(None);
                        }
                    }
                    Op::Leave | Op::Publish { .. } => {}
                },
            }
        }
        if n == 0 {
            return;
        }
        let Some(con) = self.con() else {
            self.health.dropped.fetch_add(n, Ordering::Relaxed);
            return;
        };
        match pipe.query::<()>(con) {
            Ok(()) => {
                self.health.published.fetch_add(n, Ordering::Relaxed);
                self.health.redis_up.store(true, Ordering::Relaxed);
            }
            Err(e) => {
                self.health.dropped.fetch_add(n, Ordering::Relaxed);
                self.failed(&e);
            }
        }
    }

    fn heartbeat(&mut self) {
        let lease_ms = self.cfg.lease.as_millis() as u64;
        let (id, url, registered) = (
            self.cfg.node_id.clone(),
            self.cfg.public_url.clone(),
            self.registered,
        );
        let script = self.script.clone();
        let Some(con) = self.con() else { return };
        let answer: Result<Vec<redis::Value>, _> = script
            .key(NODES_KEY)
            .arg(&id)
            .arg(&url)
            .arg(lease_ms)
            .arg(if registered { "1" } else { "0" })
            .arg(crate::game::reconnect::random_hex(8))
            .invoke(con);
        let v = match answer {
            Ok(v) => v,
            Err(e) => return self.failed(&e),
        };
        self.health.redis_up.store(true, Ordering::Relaxed);
        let Some((lost, boot, view)) = Membership::from_heartbeat(&id, &v) else {
            log!(Warn, "unreadable heartbeat answer from redis");
            return;
        };
        self.registered = true;
        // A new dataset: Redis restarted empty. The lease was not lost, the records were.
        let reset = self.boot.as_ref().is_some_and(|b| *b != boot);
        self.boot = Some(boot);
        let lost = lost && !reset;
        if reset {
            log!(
                Warn,
                "redis came back empty: this node registers again and records its rooms anew",
                node = id
            );
        }
        if lost {
            self.health.leases_lost.fetch_add(1, Ordering::Relaxed);
            log!(
                Warn,
                "cluster lease had expired: giving up game rooms and queues",
                node = id
            );
        }
        self.health
            .live_nodes
            .store(view.nodes.len(), Ordering::Relaxed);
        self.hold_queues();
        if lost || reset || *self.view != view {
            if view.nodes.len() != self.view.nodes.len() {
                log!(Info, "cluster membership changed", nodes = view.nodes.len());
            }
            self.view = Arc::new(view);
            for i in 0..self.shards.len() {
                let m = Inbound::Members {
                    view: self.view.clone(),
                    lost,
                    reset,
                };
                to_shard(&mut self.shards, i, m, &self.health);
            }
        }
    }

    /// Renew the leases of the matchmaking queues this node serves and take those nobody
    /// serves ([`super::queues::HOLD`]); a changed list goes to every shard.
    fn hold_queues(&mut self) {
        let lease_ms = self.cfg.lease.as_millis() as u64;
        let id = self.cfg.node_id.clone();
        let Some(con) = self.con() else { return };
        let held: Vec<String> = match redis::Script::new(super::queues::HOLD)
            .arg(&id)
            .arg(lease_ms)
            .invoke(con)
        {
            Ok(h) => h,
            Err(e) => return self.failed(&e),
        };
        let mut held = held;
        held.sort();
        if *self.queues != held {
            log!(Info, "matchmaking queues served here", queues = held.len());
            self.queues = Arc::new(held);
            for i in 0..self.shards.len() {
                let m = Inbound::Queues(self.queues.clone());
                to_shard(&mut self.shards, i, m, &self.health);
            }
        }
    }
}

/// Leave the cluster (the end of a drain).
fn leave(con: &mut redis::Connection, node: &str) -> Result<(), redis::RedisError> {
    redis::Script::new(super::members::LEAVE)
        .key(NODES_KEY)
        .arg(node)
        .invoke::<i64>(con)
        .map(|_| ())
}

/// Run one script; its answer goes to `reply`. `Err`: the connection failed (a script error,
/// such as bad arguments, answers `None` and keeps the connection).
fn eval(
    con: &mut redis::Connection,
    script: &str,
    keys: &[String],
    args: &[Vec<u8>],
    reply: Option<futures_channel::oneshot::Sender<Option<redis::Value>>>,
) -> Result<(), redis::RedisError> {
    let s = redis::Script::new(script);
    let mut inv = s.prepare_invoke();
    for k in keys {
        inv.key(k);
    }
    for a in args {
        inv.arg(a.as_slice());
    }
    let r: Result<redis::Value, _> = inv.invoke(con);
    let (answer, out) = match r {
        Ok(v) => (Some(v), Ok(())),
        Err(e) if e.is_io_error() || e.is_timeout() || e.is_connection_dropped() => (None, Err(e)),
        Err(e) => {
            log!(Warn, "redis script failed", error = e);
            (None, Ok(()))
        }
    };
    if let Some(r) = reply {
        let _ = r.send(answer);
    }
    out
}
