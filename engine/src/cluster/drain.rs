//! A node leaving on purpose (SIGTERM): its sockets are pointed at other nodes
//! (`server_shutdown` with a `reconnect_url`, in `App::drain`), and each shard hands the game
//! rooms it owns to their next owners: the room leaves memory (no move lands on it any
//! more), its members on other nodes are told to reconnect (1012), a final snapshot is saved,
//! the Redis record names the successor with a new epoch, and the successor is asked to load
//! it. When every shard is done the node gives its lease and its queues' leases back, so the
//! others stop routing to it at their next heartbeat. The last node of a cluster keeps its
//! rooms: they are saved at the end of the drain as on a single node.

use std::rc::Rc;
use std::time::Duration;

use glommio::spawn_local;

use super::wire::NodeMsg;
use crate::app::Shard;
use crate::game::{now_ms, store};
use crate::log;

/// Start this shard's hand-over (once, at the drain).
pub fn start(shard: &Rc<Shard>) {
    let Some(c) = &shard.app.cluster else { return };
    // Matching stops here: the queues' leases are given back when the node leaves.
    *c.queues.borrow_mut() = std::sync::Arc::new(Vec::new());
    let task = spawn_local(hand_over(shard.clone()));
    *c.drain.borrow_mut() = Some(task);
}

/// Wait (at most 5 s) for this shard's hand-over to end.
pub async fn finish(shard: &Rc<Shard>) {
    let Some(c) = &shard.app.cluster else { return };
    let task = c.drain.borrow_mut().take();
    if let Some(t) = task {
        let done = glommio::timer::timeout(Duration::from_secs(5), async {
            t.await;
            Ok(())
        })
        .await;
        if done.is_err() {
            log!(Error, "game rooms not all handed over: timed out");
        }
    }
}

async fn hand_over(shard: Rc<Shard>) {
    let Some(c) = &shard.app.cluster else { return };
    let view = c.view();
    let me = c.cluster.node_id().to_string();
    let ids: Vec<String> = shard.app.games.rooms.borrow().keys().cloned().collect();
    let mut moved = 0usize;
    for id in ids {
        let Some(next) = view.order(&id).into_iter().find(|n| n.id != me).cloned() else {
            // The last node: the room stays, saved at the end of the drain.
            continue;
        };
        let Some(room) = shard.app.games.rooms.borrow_mut().remove(&id) else {
            continue;
        };
        let close = crate::ws::close_frame(1012, "game room moved to another node; reconnect");
        for m in &room.members {
            m.outbox.close_with(Some(close.clone()));
        }
        if let Some(row) = store::snapshot_row(&room, now_ms()) {
            if let Err(e) = shard.app.services.storage.save_rooms(vec![row]).await {
                // Every acknowledged move is durable already; the successor loads that.
                log!(Warn, "final room snapshot failed", room = id, error = e);
            }
        }
        match c.cluster.hand_off(&id, &next.id).await {
            Some(epoch) => {
                c.cluster
                    .send_node(&next.id, &NodeMsg::TakeOver { room: id.clone() });
                log!(
                    Info,
                    "game room handed over",
                    room = id,
                    to = next.id,
                    epoch = epoch
                );
                moved += 1;
            }
            // Redis did not answer, or the room was not ours any more: the room's next
            // owner takes it over from its snapshot once this node's lease is gone.
            None => log!(Warn, "game room not handed over", room = id),
        }
    }
    if moved > 0 {
        log!(Info, "game rooms handed over", rooms = moved);
    }
    c.cluster.handed_over();
}
