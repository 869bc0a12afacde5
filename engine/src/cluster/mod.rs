//! Several roomcore nodes serving as one, on Redis (`REDIS_URL`).
//!
//! Owns the node's side of the cluster: its lease and view of the live nodes, relay fan-out
//! between nodes, and the messages that carry game traffic to a room's owner node and its
//! events back. All Redis I/O happens on two threads of its own, never on a shard:
//! `cluster` ([`link`]: commands, publishes, the lease heartbeat) and `cluster-sub`
//! ([`sub`]: the subscriptions and what arrives on them). Shards reach them through the
//! [`Cluster`] handle (bounded queues: a full queue drops and counts, never blocks) and hear
//! back through one bounded inbox each ([`Inbound`], drained by a task in [`shard`]).
//! When Redis cannot be reached the node keeps serving its local rooms and members; what
//! would cross nodes is dropped and counted, and `/health` says `redis: false`.
//!
//! - [`members`]: leases, the live nodes, rendezvous hashing.
//! - [`wire`]: channel names and payloads.
//! - [`link`], [`sub`]: the two Redis threads.
//! - [`limits`]: per-IP WebSocket counts and rate windows across nodes.
//! - [`owner`]: which node owns a game room (claims, epochs, takeover); [`games`]: the game
//!   commands' view of it; [`remote`]: players whose socket is on another node.
//! - [`queues`]: matchmaking queues in Redis (tickets, the lease of the node serving each
//!   queue); [`matchmaker`]: enqueue, cancel and status from any node, and matching on the
//!   node that serves the queue.
//! - [`lobby`]: the room list across nodes.
//! - [`drain`]: a node leaving on purpose hands its game rooms over.
//! - [`shard`]: the per-shard state and inbox.

pub mod drain;
pub mod games;
pub mod limits;
pub mod link;
pub mod lobby;
pub mod matchmaker;
pub mod members;
pub mod owner;
pub mod queues;
pub mod remote;
pub mod shard;
pub mod sub;
pub mod wire;

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{Sender, TrySendError};
use futures_channel::{mpsc, oneshot};

use crate::config::ClusterArgs;
use members::Membership;
use wire::NodeMsg;

/// Capacity of each shard's inbox of cross-node messages.
pub const INBOX: usize = 16 * 1024;

/// What the Redis threads hand a shard.
#[derive(Debug)]
pub enum Inbound {
    /// The live nodes changed (or this node's lease was found lost: `lost`; or Redis came
    /// back empty, its records gone: `reset`).
    Members {
        view: Arc<Membership>,
        lost: bool,
        reset: bool,
    },
    /// A frame another node's member sent to relay room `room` (owned by this shard).
    Relay { room: String, frame: Vec<u8> },
    /// A control message for this node.
    Node(Box<NodeMsg>),
    /// Frames for connection `conn` of this shard (events of a room on another node).
    Frames { conn: u64, frames: Vec<Vec<u8>> },
    /// The matchmaking queues this node serves now (every shard gets the whole list; each
    /// serves those it owns).
    Queues(Arc<Vec<String>>),
}

/// What shards ask of the command thread.
#[derive(Debug)]
pub enum Op {
    /// PUBLISH (fire and forget).
    Publish { channel: String, payload: Vec<u8> },
    /// A per-IP limit.
    Limit(limits::LimitOp),
    /// Game room ownership.
    Owner(owner::OwnerOp),
    /// The node leaves the cluster (end of a drain): its lease and its queues' leases are
    /// given back, and it heartbeats no more.
    Leave,
    /// One Lua script (matchmaking queues); `reply` gets its answer (`None`: Redis did not
    /// answer).
    Eval {
        script: &'static str,
        keys: Vec<String>,
        args: Vec<Vec<u8>>,
        reply: Option<oneshot::Sender<Option<redis::Value>>>,
    },
}

/// What shards ask of the subscriber thread.
#[derive(Debug)]
pub enum SubOp {
    /// SUBSCRIBE; `done` learns whether it is active.
    Subscribe {
        channel: String,
        done: Option<oneshot::Sender<bool>>,
    },
    Unsubscribe {
        channel: String,
    },
}

/// Cluster counters and state shared by the threads and the shards (atomics only).
#[derive(Debug, Default)]
pub struct Health {
    /// Whether the command thread's last Redis exchange succeeded.
    pub redis_up: AtomicBool,
    /// Live nodes in the last heartbeat's view.
    pub live_nodes: AtomicUsize,
    /// Cross-node messages dropped (Redis down, a full queue or inbox, malformed).
    pub dropped: AtomicU64,
    /// Messages published to Redis.
    pub published: AtomicU64,
    /// Messages received from Redis and handed to a shard.
    pub received: AtomicU64,
    /// Times this node found its lease had expired.
    pub leases_lost: AtomicU64,
}

impl Health {
    fn count(c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }
}

/// The node's settings, resolved at start.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    pub redis_url: String,
    pub node_id: String,
    pub public_url: String,
    pub heartbeat: Duration,
    pub lease: Duration,
    pub backoff_max: Duration,
    pub queue_capacity: usize,
}

impl NodeConfig {
    /// From the configuration and the bound address; `None` without `REDIS_URL`.
    pub fn from_args(c: &ClusterArgs, addr: std::net::SocketAddr) -> Option<NodeConfig> {
        let redis_url = c.redis_url.clone()?;
        let node_id = c.node_id.clone().unwrap_or_else(|| {
            let host = std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|h| h.trim().to_string())
                .filter(|h| !h.is_empty())
                .unwrap_or_else(|| "node".into());
            format!("{host}-{}", crate::game::reconnect::random_hex(3))
        });
        let public_url = c.public_url.clone().unwrap_or_else(|| {
            let ip = if addr.ip().is_unspecified() {
                "127.0.0.1".to_string()
            } else {
                addr.ip().to_string()
            };
            format!("http://{ip}:{}", addr.port())
        });
        Some(NodeConfig {
            redis_url,
            node_id,
            public_url: public_url.trim_end_matches('/').to_string(),
            heartbeat: c.cluster_heartbeat,
            lease: c.cluster_lease,
            backoff_max: c.redis_backoff_max,
            queue_capacity: c.cluster_queue_capacity,
        })
    }
}

struct Inner {
    cfg: NodeConfig,
    /// Shards whose drain hand-over is not done yet (the last one makes the node leave).
    handing_over: AtomicUsize,
    tag: u64,
    ops: Sender<Op>,
    sub: Sender<SubOp>,
    health: Arc<Health>,
}

/// The shards' handle to the cluster threads (`Clone + Send`).
#[derive(Clone)]
pub struct Cluster(Arc<Inner>);

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("node", &self.0.cfg.node_id)
            .finish_non_exhaustive()
    }
}

impl Cluster {
    /// This node's id.
    pub fn node_id(&self) -> &str {
        &self.0.cfg.node_id
    }

    /// This node's public URL.
    pub fn public_url(&self) -> &str {
        &self.0.cfg.public_url
    }

    /// This node's tag in relay payloads.
    pub fn tag(&self) -> u64 {
        self.0.tag
    }

    /// The shared counters.
    pub fn health(&self) -> &Health {
        &self.0.health
    }

    /// Whether Redis answered the last exchange.
    pub fn redis_up(&self) -> bool {
        self.0.health.redis_up.load(Ordering::Relaxed)
    }

    fn op(&self, op: Op) -> bool {
        match self.0.ops.try_send(op) {
            Ok(()) => true,
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                Health::count(&self.0.health.dropped);
                false
            }
        }
    }

    /// Publish `payload` on `channel` (dropped and counted when Redis is down or the queue
    /// is full).
    pub fn publish(&self, channel: String, payload: Vec<u8>) -> bool {
        self.op(Op::Publish { channel, payload })
    }

    /// Ask the command thread and wait (at most 1 s) for its answer; `None`: Redis did not
    /// answer (the caller falls back to what the node knows alone).
    async fn ask<T>(&self, make: impl FnOnce(oneshot::Sender<Option<T>>) -> Op) -> Option<T> {
        if !self.redis_up() {
            return None;
        }
        let (tx, rx) = oneshot::channel();
        if !self.op(make(tx)) {
            return None;
        }
        let waited = glommio::timer::timeout(Duration::from_secs(1), async { Ok(rx.await) }).await;
        waited.ok().and_then(Result::ok).flatten()
    }

    /// Take one WebSocket slot of `ip` for this node's shard `shard`, if the live nodes hold
    /// fewer than `max` (`None`: Redis did not answer).
    pub async fn ip_acquire(&self, ip: std::net::IpAddr, shard: usize, max: u32) -> Option<bool> {
        let field = limits::field(self.node_id(), shard);
        self.ask(|reply| {
            Op::Limit(limits::LimitOp::Acquire {
                ip: ip.to_string(),
                field,
                max,
                reply,
            })
        })
        .await
    }

    /// Give back one slot of `ip` taken through [`Cluster::ip_acquire`].
    pub fn ip_release(&self, ip: std::net::IpAddr, shard: usize) {
        let field = limits::field(self.node_id(), shard);
        self.op(Op::Limit(limits::LimitOp::Release {
            ip: ip.to_string(),
            field,
        }));
    }

    /// Write shard `shard`'s true per-IP counts over its fields.
    pub fn ip_sync(&self, shard: usize, counts: Vec<(String, u32)>) {
        let field = limits::field(self.node_id(), shard);
        self.op(Op::Limit(limits::LimitOp::Sync { field, counts }));
    }

    /// Count one event of `class` for `ip` in its cluster-wide window of `limit`.
    pub async fn rate(
        &self,
        class: u8,
        ip: std::net::IpAddr,
        limit: u32,
    ) -> Option<limits::RateAnswer> {
        self.ask(|reply| {
            Op::Limit(limits::LimitOp::Rate {
                class,
                ip: ip.to_string(),
                limit,
                reply,
            })
        })
        .await
    }

    /// Claim game room `room` for this node (created here, or taken over from an owner whose
    /// lease expired).
    pub async fn claim(&self, room: &str) -> Option<owner::Claim> {
        let (room, node) = (room.to_string(), self.node_id().to_string());
        self.ask(|reply| Op::Owner(owner::OwnerOp::Claim { room, node, reply }))
            .await
    }

    /// The owner record of game room `room` (`Some(None)`: no record).
    pub async fn lookup(&self, room: &str) -> Option<Option<owner::Record>> {
        let room = room.to_string();
        self.ask(|reply| Op::Owner(owner::OwnerOp::Lookup { room, reply }))
            .await
    }

    /// Forget this node's record of game room `room` (the room is gone).
    pub fn release_room(&self, room: &str) {
        self.op(Op::Owner(owner::OwnerOp::Release {
            room: room.to_string(),
            node: self.node_id().to_string(),
        }));
    }

    /// The rooms recorded for node `node`.
    pub async fn rooms_of(&self, node: &str) -> Option<Vec<String>> {
        let node = node.to_string();
        self.ask(|reply| Op::Owner(owner::OwnerOp::Rooms { node, reply }))
            .await
    }

    /// Run a Lua script and wait (at most 1 s) for its answer (`None`: Redis did not answer).
    pub async fn eval(
        &self,
        script: &'static str,
        keys: Vec<String>,
        args: Vec<Vec<u8>>,
    ) -> Option<redis::Value> {
        self.ask(|reply| Op::Eval {
            script,
            keys,
            args,
            reply: Some(reply),
        })
        .await
    }

    /// Run a Lua script without waiting for its answer.
    pub fn eval_detached(&self, script: &'static str, keys: Vec<String>, args: Vec<Vec<u8>>) {
        self.op(Op::Eval {
            script,
            keys,
            args,
            reply: None,
        });
    }

    /// Hand game room `room`, owned here, to node `to` (a drain): its new epoch, or `None`.
    pub async fn hand_off(&self, room: &str, to: &str) -> Option<i64> {
        let keys = vec![owner::room_key(room)];
        let args = vec![
            self.node_id().as_bytes().to_vec(),
            to.as_bytes().to_vec(),
            room.as_bytes().to_vec(),
        ];
        match self.eval(owner::HAND_OFF, keys, args).await? {
            redis::Value::Int(e) if e > 0 => Some(e),
            _ => None,
        }
    }

    /// One shard finished its drain hand-over; after the last one the node leaves the
    /// cluster (other nodes drop it at their next heartbeat).
    pub fn handed_over(&self) {
        if self.0.handing_over.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.op(Op::Leave);
        }
    }

    /// Send a control message to node `to`.
    pub fn send_node(&self, to: &str, m: &NodeMsg) -> bool {
        self.publish(wire::node_channel(to), wire::node_payload(m))
    }

    /// Subscribe to `channel`; resolves once it is active (`false`: Redis is down; the
    /// subscription is kept and made when Redis is back).
    pub async fn subscribe(&self, channel: String) -> bool {
        let (tx, rx) = oneshot::channel();
        let op = SubOp::Subscribe {
            channel,
            done: Some(tx),
        };
        if self.0.sub.try_send(op).is_err() {
            Health::count(&self.0.health.dropped);
            return false;
        }
        self.wake_sub();
        let waited = glommio::timer::timeout(Duration::from_secs(2), async { Ok(rx.await) }).await;
        matches!(waited, Ok(Ok(true)))
    }

    /// Drop the subscription to `channel`.
    pub fn unsubscribe(&self, channel: String) {
        if self.0.sub.try_send(SubOp::Unsubscribe { channel }).is_ok() {
            self.wake_sub();
        }
    }

    /// The subscriber thread is blocked reading its connection: a message on this node's own
    /// channel makes it look at its queue.
    fn wake_sub(&self) {
        self.publish(wire::node_channel(self.node_id()), wire::WAKE.to_vec());
    }
}

/// What each shard takes at start: the handle and its own inbox (taken exactly once).
#[derive(Clone)]
pub struct ClusterSeed {
    pub cluster: Cluster,
    inboxes: Vec<crossbeam_channel::Receiver<mpsc::Receiver<Inbound>>>,
}

impl ClusterSeed {
    /// Shard `id`'s inbox (the first call for `id` gets it).
    pub fn inbox(&self, id: usize) -> Option<mpsc::Receiver<Inbound>> {
        self.inboxes.get(id).and_then(|r| r.try_recv().ok())
    }
}

/// Start the two Redis threads for a node of `shards` shards. Redis need not be up yet: the
/// threads connect (and reconnect) with backoff while the node serves.
pub fn start(cfg: NodeConfig, shards: usize) -> Result<ClusterSeed, String> {
    let health = Arc::new(Health::default());
    let (ops_tx, ops_rx) = crossbeam_channel::bounded(cfg.queue_capacity);
    let (sub_tx, sub_rx) = crossbeam_channel::bounded(cfg.queue_capacity);
    let mut to_shards = Vec::with_capacity(shards);
    let mut inboxes = Vec::with_capacity(shards);
    for _ in 0..shards {
        let (tx, rx) = mpsc::channel(INBOX);
        let (itx, irx) = crossbeam_channel::bounded(1);
        let _ = itx.send(rx);
        to_shards.push(tx);
        inboxes.push(irx);
    }
    let client =
        redis::Client::open(cfg.redis_url.as_str()).map_err(|e| format!("REDIS_URL: {e}"))?;
    link::spawn(
        cfg.clone(),
        client.clone(),
        ops_rx,
        to_shards.clone(),
        health.clone(),
    )?;
    sub::spawn(cfg.clone(), client, sub_rx, to_shards, health.clone())?;
    let tag = wire::node_tag(&cfg.node_id);
    let cluster = Cluster(Arc::new(Inner {
        cfg,
        handing_over: AtomicUsize::new(shards),
        tag,
        ops: ops_tx,
        sub: sub_tx,
        health,
    }));
    Ok(ClusterSeed { cluster, inboxes })
}

/// Hand `m` to shard `to`'s inbox (dropped and counted when it is full).
pub(crate) fn to_shard(
    shards: &mut [mpsc::Sender<Inbound>],
    to: usize,
    m: Inbound,
    health: &Health,
) {
    match shards.get_mut(to).map(|s| s.try_send(m)) {
        Some(Ok(())) => Health::count(&health.received),
        _ => Health::count(&health.dropped),
    }
}

/// Exponential backoff from 100 ms to `max`.
pub(crate) fn next_backoff(cur: Duration, max: Duration) -> Duration {
    (cur * 2).clamp(
        Duration::from_millis(100),
        max.max(Duration::from_millis(100)),
    )
}
