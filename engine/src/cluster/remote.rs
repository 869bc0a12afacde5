//! Players whose socket is on another node than their game room.
//!
//! On the socket's node, the session's room-bound messages are forwarded to the room's owner
//! node ([`NodeMsg::Forward`]) and the connection is noted in [`Attached`] (so the frames that
//! come back, and the owner's death, find it). On the owner, each such socket is a
//! [`RemoteSession`]: a task that handles the forwarded messages in order with the same
//! commands as a local session (`game::cmd`), and an outbox whose frames a second task
//! publishes back to the socket's node ([`wire::frames_payload`]), where they are pushed to
//! the real socket. The remote session ends when its room is left (the socket's node is told,
//! [`NodeMsg::Detached`]), when the socket goes away ([`NodeMsg::Gone`]), or when the socket's
//! node leaves the cluster; its seat is then held for the grace period as for any dropped
//! socket.

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::IpAddr;
use std::rc::Rc;

use futures_channel::mpsc;
use futures_lite::StreamExt;
use glommio::spawn_local;
use shards::outbox::OutState;
use shards::Outbox;

use super::wire::{self, NodeMsg};
use super::Cluster;
use crate::app::Shard;
use crate::game::cmd::{self, Cmd};
use crate::game::rooms::User;
use crate::game::SessionState;
use crate::log;
use crate::telemetry::spans::SessionTrace;

/// Messages a remote session may have waiting.
const QUEUE: usize = 256;

/// This shard's sockets whose room is on another node: connection → (room, owner node).
#[derive(Debug, Default)]
pub struct Attached(RefCell<HashMap<u64, (String, String)>>);

impl Attached {
    /// The owner node of `conn`'s room, if it is elsewhere.
    pub fn node_of(&self, conn: u64) -> Option<(String, String)> {
        self.0.borrow().get(&conn).cloned()
    }

    pub fn attach(&self, conn: u64, room: &str, node: &str) {
        self.0
            .borrow_mut()
            .insert(conn, (room.to_string(), node.to_string()));
    }

    pub fn detach(&self, conn: u64) -> Option<(String, String)> {
        self.0.borrow_mut().remove(&conn)
    }

    /// Connections whose room's owner is not in `live`.
    pub fn orphans(&self, live: impl Fn(&str) -> bool) -> Vec<u64> {
        self.0
            .borrow()
            .iter()
            .filter(|(_, (_, node))| !live(node))
            .map(|(c, _)| *c)
            .collect()
    }
}

enum Step {
    Text(String),
    Gone,
}

/// The remote sessions of the rooms this shard owns, by (socket's node, connection).
#[derive(Default)]
pub struct RemoteSessions(RefCell<HashMap<(String, u64), mpsc::Sender<Step>>>);

impl RemoteSessions {
    /// Sessions of sockets on node `node`.
    fn of_node(&self, node: &str) -> Vec<(String, u64)> {
        self.0
            .borrow()
            .keys()
            .filter(|(n, _)| n == node)
            .cloned()
            .collect()
    }
}

/// A connection id for a remote session on this shard: the top bit set (local ids never
/// have it), the socket node's tag and its connection id mixed in, the shard in the low 8 bits
/// as for every connection id.
fn remote_conn(node: &str, conn: u64, shard: usize) -> u64 {
    let mix = wire::node_tag(node) ^ conn.rotate_left(17);
    (1 << 63) | (mix & 0x7fff_ffff_ffff_ff00) | (shard as u64 & 0xff)
}

/// A forwarded message for a room of this shard.
pub fn forward(shard: &Rc<Shard>, msg: NodeMsg) {
    let Some(c) = &shard.app.cluster else { return };
    match msg {
        NodeMsg::Forward {
            from,
            conn,
            ip,
            user_id,
            user_name,
            room: _,
            text,
        } => {
            let key = (from.clone(), conn);
            let mut map = c.remote.0.borrow_mut();
            let tx = map.entry(key.clone()).or_insert_with(|| {
                let (tx, rx) = mpsc::channel(QUEUE);
                let user = User {
                    id: user_id,
                    name: user_name,
                };
                let ip = ip.parse().unwrap_or(IpAddr::from([0, 0, 0, 0]));
                spawn_local(session(shard.clone(), key, ip, user, rx)).detach();
                tx
            });
            if tx.try_send(Step::Text(text)).is_err() {
                c.cluster
                    .health()
                    .dropped
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        }
        NodeMsg::Gone { from, conn, .. } => gone(c, &from, conn),
        NodeMsg::Detached { conn } => {
            c.attached.detach(conn);
        }
        NodeMsg::TakeOver { room } => {
            let shard = shard.clone();
            spawn_local(async move {
                super::games::ensure_here(&shard, &room).await;
            })
            .detach();
        }
    }
}

fn gone(c: &super::shard::ClusterShard, node: &str, conn: u64) {
    if let Some(tx) = c.remote.0.borrow_mut().get_mut(&(node.to_string(), conn)) {
        let _ = tx.try_send(Step::Gone);
    }
}

/// Node `node` left the cluster: its sockets' seats here are held as for dropped sockets.
pub fn node_left(c: &super::shard::ClusterShard, node: &str) {
    for (n, conn) in c.remote.of_node(node) {
        gone(c, &n, conn);
    }
}

async fn session(
    shard: Rc<Shard>,
    key: (String, u64),
    ip: IpAddr,
    user: User,
    mut rx: mpsc::Receiver<Step>,
) {
    let Some(c) = &shard.app.cluster else { return };
    let (from, conn) = key.clone();
    let id = remote_conn(&from, conn, shard.id);
    let outbox = Outbox::new(shard.app.config.ws.max_buffered_bytes);
    let writer = spawn_local(writer(
        c.cluster.clone(),
        from.clone(),
        conn,
        outbox.clone(),
    ));
    let mut state = SessionState {
        user: Some(user),
        queued: None,
    };
    let mut room: Option<String> = None;
    let mut detached = true;
    let trace = SessionTrace::default();
    while let Some(step) = rx.next().await {
        let mut cmd = Cmd {
            shard: &shard,
            conn: id,
            ip,
            outbox: &outbox,
            state: &mut state,
            room: &mut room,
            remote: true,
            trace: &trace,
        };
        match step {
            Step::Text(t) => {
                cmd::handle(&mut cmd, t.as_bytes()).await;
                if room.is_none() {
                    break;
                }
            }
            Step::Gone => {
                cmd::rooms::leave(&mut cmd, false);
                detached = false;
                break;
            }
        }
    }
    c.remote.0.borrow_mut().remove(&key);
    // Let the writer send what is queued, then stop it.
    outbox.close_with(None);
    writer.await;
    if detached {
        c.cluster.send_node(&from, &NodeMsg::Detached { conn });
    }
}

/// Publish the frames queued for a remote session to the node of its socket.
async fn writer(cluster: Cluster, to: String, conn: u64, outbox: Rc<Outbox>) {
    let channel = wire::node_channel(&to);
    loop {
        std::future::poll_fn(|cx| outbox.poll_ready(cx)).await;
        let mut frames: Vec<Vec<u8>> = Vec::new();
        while let Some(f) = outbox.with_head(|h| h.to_vec()) {
            outbox.advance(f.len());
            frames.push(f);
        }
        if !frames.is_empty() {
            let refs: Vec<&[u8]> = frames.iter().map(Vec::as_slice).collect();
            cluster.publish(channel.clone(), wire::frames_payload(conn, &refs));
        }
        if outbox.state() != OutState::Open && outbox.is_empty() {
            return;
        }
    }
}

/// Frames from the owner node of `conn`'s room: push them to the socket.
pub fn frames(shard: &Shard, conn: u64, frames: Vec<Vec<u8>>) {
    let Some(ob) = shard.conns.get(conn).and_then(|e| e.outbox()) else {
        return;
    };
    for f in frames {
        if ob.push(f.into()).is_err() {
            ob.set_reason(shards::stats::Disconnect::SlowConsumer);
            ob.kill(None);
            log!(Info, "slow consumer on a remote room", conn = conn);
            return;
        }
    }
}
