//! The `cluster-sub` thread: the subscriber connection to Redis.
//!
//! Owns the set of channels this node listens on: its own node channel always, and the
//! channel of every relay room with local members (asked for by the room's shard). It blocks
//! reading the connection; a subscription change is queued ([`SubOp`]) and a `WAKE`
//! published on the node channel makes it look. Each message goes to the shard it concerns:
//! a relay frame to the room's owner shard, frames for a connection to that connection's
//! shard (the low 8 bits of its id), a control message to the shard of the room it names.
//! A lost connection is retried with backoff and every subscription made again.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::Receiver;
use futures_channel::mpsc;

use super::wire::{self, NodeMsg, NodePayload};
use super::{next_backoff, to_shard, Health, Inbound, NodeConfig, SubOp};
use crate::log;

struct Sub {
    cfg: NodeConfig,
    me_channel: String,
    me_tag: u64,
    channels: HashSet<String>,
    shards: Vec<mpsc::Sender<Inbound>>,
    health: Arc<Health>,
}

/// Start the `cluster-sub` thread.
pub fn spawn(
    cfg: NodeConfig,
    client: redis::Client,
    ops: Receiver<SubOp>,
    shards: Vec<mpsc::Sender<Inbound>>,
    health: Arc<Health>,
) -> Result<(), String> {
    let mut sub = Sub {
        me_channel: wire::node_channel(&cfg.node_id),
        me_tag: wire::node_tag(&cfg.node_id),
        cfg,
        channels: HashSet::new(),
        shards,
        health,
    };
    std::thread::Builder::new()
        .name("cluster-sub".into())
        .spawn(move || sub.run(client, ops))
        .map(|_| ())
        .map_err(|e| format!("cannot start the cluster subscriber thread: {e}"))
}

impl Sub {
    fn run(&mut self, client: redis::Client, ops: Receiver<SubOp>) {
        let mut backoff = Duration::ZERO;
        loop {
            if let Ok(mut con) = client.get_connection_with_timeout(Duration::from_secs(1)) {
                backoff = Duration::ZERO;
                if self.serve(&mut con, &ops).is_none() {
                    return; // every handle dropped
                }
            }
            // Down: answer waiting subscriptions (kept for the next connection).
            while let Ok(op) = ops.try_recv() {
                self.apply_offline(op);
            }
            backoff = next_backoff(backoff, self.cfg.backoff_max);
            std::thread::sleep(backoff);
        }
    }

    fn apply_offline(&mut self, op: SubOp) {
        match op {
            SubOp::Subscribe { channel, done } => {
                self.channels.insert(channel);
                if let Some(d) = done {
                    let _ = d.send(false);
                }
            }
            SubOp::Unsubscribe { channel } => {
                self.channels.remove(&channel);
            }
        }
    }

    /// Listen on `con` until it fails (the error) or the queue is gone (`None`).
    fn serve(
        &mut self,
        con: &mut redis::Connection,
        ops: &Receiver<SubOp>,
    ) -> Option<redis::RedisError> {
        let mut ps = con.as_pubsub();
        let mut all: Vec<String> = self.channels.iter().cloned().collect();
        all.push(self.me_channel.clone());
        if let Err(e) = ps.subscribe(&all) {
            return Some(e);
        }
        loop {
            loop {
                match ops.try_recv() {
                    Ok(SubOp::Subscribe { channel, done }) => {
                        let ok = ps.subscribe(&channel).is_ok();
                        self.channels.insert(channel);
                        if let Some(d) = done {
                            let _ = d.send(ok);
                        }
                    }
                    Ok(SubOp::Unsubscribe { channel }) => {
                        let _ = ps.unsubscribe(&channel);
                        self.channels.remove(&channel);
                    }
                    Err(crossbeam_channel::TryRecvError::Empty) => break,
                    Err(crossbeam_channel::TryRecvError::Disconnected) => return None,
                }
            }
            match ps.get_message() {
                Ok(msg) => self.route(msg.get_channel_name(), msg.get_payload_bytes()),
                Err(e) => {
                    log!(Warn, "redis subscriber connection lost", error = e);
                    return Some(e);
                }
            }
        }
    }

    fn route(&mut self, channel: &str, payload: &[u8]) {
        let n = self.shards.len();
        if let Some(room) = channel.strip_prefix("rc:r:") {
            match wire::parse_relay(payload) {
                Some((origin, _)) if origin == self.me_tag => {}
                Some((_, frame)) => {
                    let m = Inbound::Relay {
                        room: room.to_string(),
                        frame: frame.to_vec(),
                    };
                    to_shard(
                        &mut self.shards,
                        shards::shard_for(room, n),
                        m,
                        &self.health,
                    );
                }
                None => Health::count(&self.health.dropped),
            }
            return;
        }
        if channel != self.me_channel {
            return;
        }
        match wire::parse_node(payload) {
            Some(NodePayload::Wake) => {}
            Some(NodePayload::Frames { conn, frames }) => {
                let to = (conn & 0xff) as usize % n.max(1);
                to_shard(
                    &mut self.shards,
                    to,
                    Inbound::Frames { conn, frames },
                    &self.health,
                );
            }
            Some(NodePayload::Msg(m)) => {
                let to = match &m {
                    NodeMsg::Forward { room, .. }
                    | NodeMsg::Gone { room, .. }
                    | NodeMsg::TakeOver { room } => shards::shard_for(room, n),
                    NodeMsg::Detached { conn } => (*conn & 0xff) as usize % n.max(1),
                };
                to_shard(
                    &mut self.shards,
                    to,
                    Inbound::Node(Box::new(m)),
                    &self.health,
                );
            }
            None => Health::count(&self.health.dropped),
        }
    }
}
