//! The cluster on one shard: the handle, this shard's view of the live nodes, and the task
//! that drains the shard's inbox of cross-node messages ([`Inbound`]) into the features they
//! belong to (relay rooms, game rooms).

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;

use futures_channel::mpsc;
use futures_lite::StreamExt;
use glommio::spawn_local;

use super::members::Membership;
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
            Inbound::Members { view, lost: _ } => {
                *c.view.borrow_mut() = view;
            }
            Inbound::Relay { room, frame } => relay::deliver_remote(&shard, &room, frame),
            Inbound::Node(_) | Inbound::Frames { .. } => {}
        }
    }
}
