//! The cluster on one shard: the handle, this shard's view of the live nodes, and the task
//! that drains the shard's inbox of cross-node messages ([`Inbound`]) into the features they
//! belong to (relay rooms, game rooms, matchmaking queues).

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;

use futures_channel::mpsc;
use futures_lite::StreamExt;
use glommio::spawn_local;

use super::matchmaker;
use super::members::Membership;
use super::remote::{self, Attached, RemoteSessions};
use super::{wire, Cluster, ClusterSeed, Inbound};
use crate::app::Shard;
use crate::relay;

/// One shard's part of the cluster (not `Send`).
pub struct ClusterShard {
    pub cluster: Cluster,
    /// The live nodes as the last heartbeat saw them.
    pub view: RefCell<Arc<Membership>>,
    /// Sessions (joined or joining) of each relay room of this shard: the node listens to a
    /// room's channel while it has one. Entries leave with their last session.
    relay_interest: Rc<RefCell<HashMap<String, usize>>>,
    inbox: RefCell<Option<mpsc::Receiver<Inbound>>>,
    /// IPs whose counts this shard last wrote to Redis (a vanished one is written as 0).
    synced: RefCell<Vec<String>>,
    /// This shard's sockets whose game room is on another node.
    pub attached: Attached,
    /// Sockets of other nodes in the game rooms this shard owns.
    pub remote: RemoteSessions,
    /// Game rooms being taken over right now (their claim or snapshot load is under way).
    pub taking: RefCell<std::collections::HashSet<String>>,
    /// The matchmaking queues this node serves (all of them; this shard matches those it
    /// owns, `shard_for(queue)`).
    pub queues: RefCell<Arc<Vec<String>>>,
    /// The queues this shard is matching right now (one task each).
    pub serving: RefCell<std::collections::HashSet<String>>,
    /// The drain's hand-over of this shard's game rooms, while it runs.
    pub drain: RefCell<Option<glommio::Task<()>>>,
}

/// One relay session's share of its room's subscription; dropped = given back (the last one
/// unsubscribes).
pub struct Interest {
    cluster: Cluster,
    room: String,
    table: Rc<RefCell<HashMap<String, usize>>>,
}

impl Interest {
    /// Subscribe to the room's channel (the first session of the room on this node).
    pub async fn subscribe(&self) -> bool {
        self.cluster
            .subscribe(wire::relay_channel(&self.room))
            .await
    }

    /// Send one frame of a local member to the room's members on other nodes.
    pub fn publish(&self, frame: &[u8]) {
        self.cluster.publish(
            wire::relay_channel(&self.room),
            wire::relay_payload(self.cluster.tag(), frame),
        );
    }
}

impl Drop for Interest {
    fn drop(&mut self) {
        let mut t = self.table.borrow_mut();
        let last = match t.get_mut(&self.room) {
            Some(n) if *n > 1 => {
                *n -= 1;
                false
            }
            _ => true,
        };
        if last {
            t.remove(&self.room);
            self.cluster.unsubscribe(wire::relay_channel(&self.room));
        }
    }
}

impl ClusterShard {
    /// Shard `id`'s part, from the seed every shard shares.
    pub fn new(seed: &ClusterSeed, id: usize) -> ClusterShard {
        ClusterShard {
            view: RefCell::new(Arc::new(Membership {
                me: seed.cluster.node_id().to_string(),
                nodes: Vec::new(),
            })),
            relay_interest: Rc::new(RefCell::new(HashMap::new())),
            inbox: RefCell::new(seed.inbox(id)),
            synced: RefCell::new(Vec::new()),
            attached: Attached::default(),
            remote: RemoteSessions::default(),
            taking: RefCell::new(std::collections::HashSet::new()),
            queues: RefCell::new(Arc::new(Vec::new())),
            serving: RefCell::new(std::collections::HashSet::new()),
            drain: RefCell::new(None),
            cluster: seed.cluster.clone(),
        }
    }

    /// A relay session's interest in `room`; `true` when it is the room's first here.
    pub fn interest(&self, _shard: &Shard, room: &str) -> (Interest, bool) {
        let mut t = self.relay_interest.borrow_mut();
        let n = t.entry(room.to_string()).or_insert(0);
        *n += 1;
        let first = *n == 1;
        drop(t);
        (
            Interest {
                cluster: self.cluster.clone(),
                room: room.to_string(),
                table: self.relay_interest.clone(),
            },
            first,
        )
    }

    /// Write this shard's true per-IP WebSocket counts to the cluster (the slow housekeeping
    /// pass): what an outage left wrong in Redis is put right.
    pub fn sync_limits(&self, shard: usize, counts: Vec<(std::net::IpAddr, u32)>) {
        let now: Vec<(String, u32)> = counts.iter().map(|(ip, n)| (ip.to_string(), *n)).collect();
        let mut last = self.synced.borrow_mut();
        let mut all = now.clone();
        for gone in last.iter() {
            if !now.iter().any(|(ip, _)| ip == gone) {
                all.push((gone.clone(), 0));
            }
        }
        *last = now.into_iter().map(|(ip, _)| ip).collect();
        if !all.is_empty() {
            self.cluster.ip_sync(shard, all);
        }
    }

    /// The current view.
    pub fn view(&self) -> Arc<Membership> {
        self.view.borrow().clone()
    }
}

/// Start draining the shard's inbox (once, from `App::start`).
pub fn start(shard: &Rc<Shard>) {
    let Some(c) = &shard.app.cluster else { return };
    let Some(rx) = c.inbox.borrow_mut().take() else {
        return;
    };
    spawn_local(inbound(shard.clone(), rx)).detach();
}

async fn inbound(shard: Rc<Shard>, mut rx: mpsc::Receiver<Inbound>) {
    while let Some(m) = rx.next().await {
        let Some(c) = &shard.app.cluster else { return };
        match m {
            Inbound::Members { view, lost, reset } => {
                members_changed(&shard, c, view, lost);
                if reset {
                    spawn_local(record_rooms(shard.clone(), false)).detach();
                }
            }
            Inbound::Relay { room, frame } => relay::deliver_remote(&shard, &room, frame),
            Inbound::Node(msg) => remote::forward(&shard, *msg),
            Inbound::Frames { conn, frames } => remote::frames(&shard, conn, frames),
            Inbound::Queues(held) => matchmaker::held(&shard, c, held),
        }
    }
}

/// The close a socket gets when its game room moved to another node (reconnect: the token
/// finds the room's new owner).
fn moved_close() -> shards::Frame {
    crate::ws::close_frame(1012, "game room moved to another node; reconnect")
}

/// A new view of the cluster: sockets whose room's owner left are told to reconnect; remote
/// sessions of nodes that left hold their seats; when this node's own lease had expired, it
/// gives up every game room (another node may own them now).
fn members_changed(shard: &Rc<Shard>, c: &ClusterShard, view: Arc<Membership>, lost: bool) {
    let old = std::mem::replace(&mut *c.view.borrow_mut(), view.clone());
    for n in &old.nodes {
        if !view.is_live(&n.id) {
            remote::node_left(c, &n.id);
            if shard.id == 0 && !lost {
                spawn_local(take_over(shard.clone(), n.id.clone())).detach();
            }
        }
    }
    for conn in c.attached.orphans(|n| view.is_live(n)) {
        c.attached.detach(conn);
        if let Some(ob) = shard.conns.get(conn).and_then(|e| e.outbox()) {
            ob.close_with(Some(moved_close()));
        }
    }
    if lost {
        let rooms: Vec<_> = shard.app.games.rooms.borrow_mut().drain().collect();
        for (_, room) in rooms {
            for m in &room.members {
                m.outbox.close_with(Some(moved_close()));
            }
        }
    }
}

/// Node `gone` left: the game rooms recorded for it whose rendezvous order now names this
/// node come back here from their snapshots, each on its owner shard.
async fn take_over(shard: Rc<Shard>, gone: String) {
    let Some(c) = &shard.app.cluster else { return };
    let Some(rooms) = c.cluster.rooms_of(&gone).await else {
        return;
    };
    let view = c.view();
    for room in rooms {
        if view.owner(&room) != c.cluster.node_id() {
            continue;
        }
        let to = shards::shard_for(&room, shard.shards());
        let msg = crate::msg::ShardMsg::Game(crate::game::GameMsg::TakeOver { room });
        let _ = shard.send(to, msg).await;
    }
}

/// Record this shard's game rooms in Redis: all of them when Redis came back empty (`all`),
/// else those created while it did not answer (epoch 0). Each gets a new claim, whose epoch
/// the next snapshot carries; a room another node claimed meanwhile is given up here.
pub async fn record_rooms(shard: Rc<Shard>, all: bool) {
    let Some(c) = &shard.app.cluster else { return };
    if !c.cluster.redis_up() {
        return;
    }
    let ids: Vec<String> = shard
        .app
        .games
        .rooms
        .borrow()
        .values()
        .filter(|r| all || r.epoch == 0)
        .map(|r| r.id.clone())
        .collect();
    for id in ids {
        match c.cluster.claim(&id).await {
            Some(claim) if claim.won => {
                if let Some(r) = shard.app.games.rooms.borrow_mut().get_mut(&id) {
                    r.epoch = claim.epoch;
                    r.touch();
                }
            }
            Some(_) => crate::game::store::give_up(&shard, &id),
            None => return,
        }
    }
}
