//! Game rooms in a cluster, as the game commands see it: which node a room-bound message
//! runs on ([`route`]), picking the id of a new room so this node owns it
//! ([`local_room_id`]), claiming it ([`claim_new`]), and bringing a room this node now owns
//! back from its last durable snapshot ([`ensure_here`]).

use std::rc::Rc;

use shards::shard_for;

use super::shard::ClusterShard;
use crate::app::Shard;
use crate::game::reconnect::random_hex;
use crate::game::rooms::Room;
use crate::game::{now_ms, SNAPSHOT_KIND};
use crate::log;

/// Where a room-bound message runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Here,
    Node(String),
}

/// The node that owns `room`: its recorded owner while that one holds a live lease, else the
/// first live node in the room's rendezvous order (which takes it over). Without Redis, here.
pub async fn route(c: &ClusterShard, room: &str) -> Route {
    let me = c.cluster.node_id().to_string();
    let view = c.view();
    let next = |dead: Option<&str>| {
        // The first node of the room's rendezvous order that is live, skipping the recorded
        // owner whose lease Redis found expired (this node's view may still list it).
        view.order(room)
            .into_iter()
            .find(|n| Some(n.id.as_str()) != dead)
            .map_or(me.clone(), |n| n.id.clone())
    };
    let owner = match c.cluster.lookup(room).await {
        Some(Some(rec)) if rec.live => rec.owner,
        Some(Some(rec)) => next(Some(&rec.owner)),
        Some(None) => next(None),
        None => me.clone(),
    };
    if owner == me {
        Route::Here
    } else {
        Route::Node(owner)
    }
}

/// A fresh room id with `prefix` that this shard owns and that rendezvous hashing over the
/// live nodes gives to this node.
pub fn local_room_id(c: &ClusterShard, prefix: &str, shard: &Shard) -> String {
    let view = c.view();
    loop {
        let id = format!("{prefix}-{}", random_hex(5));
        if shard_for(&id, shard.shards()) == shard.id
            && (view.nodes.is_empty() || view.owner(&id) == c.cluster.node_id())
        {
            return id;
        }
    }
}

/// A fresh room id with `prefix` that rendezvous hashing over the live nodes gives to this
/// node (on whichever shard owns it).
pub fn node_room_id(c: &ClusterShard, prefix: &str) -> String {
    let view = c.view();
    loop {
        let id = format!("{prefix}-{}", random_hex(5));
        if view.nodes.is_empty() || view.owner(&id) == c.cluster.node_id() {
            return id;
        }
    }
}

/// Record this node as the owner of new room `id`; its epoch (0 when Redis does not
/// answer: the room is recorded later, `retry_claims`).
pub async fn claim_new(c: &ClusterShard, id: &str) -> i64 {
    match c.cluster.claim(id).await {
        Some(claim) if claim.won => claim.epoch,
        Some(claim) => {
            log!(
                Warn,
                "a new room id is owned elsewhere",
                room = id,
                owner = claim.owner
            );
            0
        }
        None => 0,
    }
}

/// Make sure game room `id`, which this node owns (or is to take over), is in memory on this
/// shard: claim it and load its last durable snapshot. `false`: it cannot be here (another
/// live node owns it, or there is no snapshot).
pub async fn ensure_here(shard: &Rc<Shard>, id: &str) -> bool {
    let Some(c) = &shard.app.cluster else {
        return false;
    };
    if shard.app.games.rooms.borrow().contains_key(id) {
        return true;
    }
    // One takeover of a room at a time on this shard (a reconnect and the node-left scan may
    // ask together): the second waits for the first.
    if !c.taking.borrow_mut().insert(id.to_string()) {
        for _ in 0..150 {
            glommio::timer::sleep(std::time::Duration::from_millis(20)).await;
            if !c.taking.borrow().contains(id) {
                break;
            }
        }
        return shard.app.games.rooms.borrow().contains_key(id);
    }
    let here = take_over(shard, c, id).await;
    c.taking.borrow_mut().remove(id);
    here
}

async fn take_over(shard: &Rc<Shard>, c: &ClusterShard, id: &str) -> bool {
    let Some(claim) = c.cluster.claim(id).await else {
        return false;
    };
    if !claim.won {
        return false;
    }
    let rows = match shard.app.services.storage.load_rooms(SNAPSHOT_KIND).await {
        Ok(rows) => rows,
        Err(e) => {
            log!(
                Warn,
                "cannot load a room to take over",
                room = id,
                error = e
            );
            return false;
        }
    };
    let Some(row) = rows.into_iter().find(|r| r.id == id) else {
        // Nothing durable: there is no such room.
        c.cluster.release_room(id);
        return false;
    };
    let snap = serde_json::from_slice(&row.state).map_err(|e| e.to_string());
    let grace = shard.app.games.cfg.grace_ms();
    match snap.and_then(|s| Room::restore(s, now_ms(), grace)) {
        Ok(mut room) => {
            room.epoch = claim.epoch;
            // A new owner: its first save carries the new epoch and fences the old one.
            room.touch();
            log!(
                Info,
                "game room taken over",
                room = id,
                epoch = claim.epoch,
                from_epoch = row.epoch
            );
            shard
                .app
                .games
                .rooms
                .borrow_mut()
                .entry(id.to_string())
                .or_insert(room);
            let _ = crate::game::save_room(shard, id).await;
            true
        }
        Err(e) => {
            log!(Warn, "room snapshot unreadable", room = id, error = e);
            false
        }
    }
}
