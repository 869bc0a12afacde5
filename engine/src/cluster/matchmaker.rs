//! Matchmaking across nodes: tickets enqueued, cancelled and polled from any node go to
//! Redis ([`super::queues`]); the one node serving a queue matches it.
//!
//! On the serving node the queue's owner shard (`shard_for(queue)`) runs [`serve`]: every
//! game tick it reloads the tickets when the queue's version moved, forms matches with the
//! same `matchmaking::Queue` a single node uses, takes each match's tickets out of Redis in
//! one script (refused when the queue moved to another node meanwhile, or a ticket was
//! cancelled), and hands the match to `game::matches` (the room is made on this node,
//! `match_found` goes to each socket, on its own node). Nothing here blocks: every Redis
//! exchange is a script run by the `cluster` thread.

use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;

use glommio::spawn_local;
use redis::Value;
use serde::{Deserialize, Serialize};

use super::queues::{self, status_key, tickets_key, users_key, version_key};
use super::shard::ClusterShard;
use crate::app::Shard;
use crate::game::events::MatchFound;
use crate::game::matchmaking::{self, Member, ModeSpec, Notify, Queue, QueueError, Ticket};
use crate::game::tickets::{TicketStatus, TicketView};
use crate::game::{matches, now_ms};
use crate::log;

/// A ticket as Redis keeps it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Stored {
    pub id: String,
    pub members: Vec<Member>,
    /// The members' user ids, as text (the scripts index by them).
    pub users: Vec<String>,
    pub enqueued_ms: u64,
    /// The node of the ticket's socket (`notify`'s shard and connection are that node's).
    pub node: String,
    pub notify: Notify,
}

impl Stored {
    fn ticket(&self) -> Ticket {
        Ticket {
            id: self.id.clone(),
            members: self.members.clone(),
            enqueued_ms: self.enqueued_ms,
            notify: self.notify,
            // A span context does not travel through Redis: a cluster match links none.
            trace: Default::default(),
        }
    }
}

/// The queued form of a ticket's poll answer, as kept in its status hash.
#[derive(Deserialize)]
struct View {
    ticket: String,
    mode: String,
    queue: String,
    members: Vec<Member>,
}

/// A match as kept in a ticket's status hash (`MatchFound` names its mode statically).
#[derive(Deserialize)]
struct Found {
    ticket: String,
    room: String,
    mode: String,
    team: usize,
    seats: Vec<usize>,
    players: Vec<crate::game::events::MatchPlayer>,
    rating_spread: f64,
    owner_url: Option<String>,
}

impl Found {
    fn into_event(self) -> Option<MatchFound> {
        let spec = matchmaking::mode(&self.mode)?;
        Some(MatchFound {
            ticket: self.ticket,
            room: self.room,
            mode: spec.name,
            kind: spec.room_kind,
            team: self.team,
            seats: self.seats,
            players: self.players,
            rating_spread: self.rating_spread,
            owner_url: self.owner_url,
        })
    }
}

fn json<T: Serialize>(v: &T) -> Vec<u8> {
    serde_json::to_vec(v).unwrap_or_default()
}

/// Put `t` into queue `key` in Redis. `None`: Redis did not answer.
pub async fn enqueue(
    c: &ClusterShard,
    key: &str,
    spec: ModeSpec,
    t: &Ticket,
    max: usize,
    lease_ms: u64,
) -> Option<Result<(), QueueError>> {
    let users: Vec<String> = t.members.iter().map(|m| m.user_id.to_string()).collect();
    let stored = Stored {
        id: t.id.clone(),
        members: t.members.clone(),
        users: users.clone(),
        enqueued_ms: t.enqueued_ms,
        node: c.cluster.node_id().to_string(),
        notify: t.notify,
    };
    let view = TicketView {
        ticket: t.id.clone(),
        status: TicketStatus::Queued,
        mode: spec.name,
        queue: key.to_string(),
        members: t.members.clone(),
        matched: None,
    };
    let keys = vec![
        tickets_key(key),
        users_key(key),
        queues::lease_key(key),
        status_key(&t.id),
        version_key(key),
    ];
    let mut args = vec![
        key.as_bytes().to_vec(),
        t.id.as_bytes().to_vec(),
        json(&stored),
        json(&view),
        max.to_string().into_bytes(),
        c.cluster.node_id().as_bytes().to_vec(),
        lease_ms.to_string().into_bytes(),
    ];
    args.extend(users.into_iter().map(String::into_bytes));
    let answer = c.cluster.eval(queues::ENQUEUE, keys, args).await?;
    Some(match text(&answer).as_str() {
        "ok" => Ok(()),
        "already" => Err(QueueError::AlreadyQueued),
        _ => Err(QueueError::Full),
    })
}

/// Withdraw `user`'s ticket `ticket` (or whichever ticket of queue `key` holds the user):
/// whether one was waiting. `None`: Redis did not answer.
pub async fn cancel(
    c: &ClusterShard,
    key: &str,
    ticket: Option<&str>,
    user: i64,
    ttl_s: u64,
) -> Option<bool> {
    let keys = vec![tickets_key(key), users_key(key), version_key(key)];
    let args = vec![
        user.to_string().into_bytes(),
        ticket.unwrap_or("").as_bytes().to_vec(),
        ttl_s.max(1).to_string().into_bytes(),
    ];
    let answer = c.cluster.eval(queues::CANCEL, keys, args).await?;
    Some(matches!(answer, Value::Int(1)))
}

const STATUS: &str = "return redis.call('HGETALL', KEYS[1])";

/// Ticket `id` as a poll answers it, if `user` is one of its members. `None`: Redis did not
/// answer.
pub async fn ticket(c: &ClusterShard, id: &str, user: i64) -> Option<Option<TicketView>> {
    let answer = c.cluster.eval(STATUS, vec![status_key(id)], vec![]).await?;
    let Value::Array(items) = answer else {
        return Some(None);
    };
    let mut fields: HashMap<String, String> = HashMap::new();
    for pair in items.chunks(2) {
        if let [k, v] = pair {
            fields.insert(text(k), text(v));
        }
    }
    let view = fields
        .get("view")
        .and_then(|v| serde_json::from_str::<View>(v).ok());
    let Some(view) = view else {
        return Some(None);
    };
    if !view.members.iter().any(|m| m.user_id == user) {
        return Some(None);
    }
    let status = match fields.get("status").map(String::as_str) {
        Some("matched") => TicketStatus::Matched,
        Some("cancelled") => TicketStatus::Cancelled,
        _ => TicketStatus::Queued,
    };
    let matched = fields
        .get("match")
        .and_then(|m| serde_json::from_str::<Found>(m).ok())
        .and_then(Found::into_event);
    Some(Some(TicketView {
        ticket: view.ticket,
        status,
        mode: matchmaking::mode(&view.mode).map_or("unknown", |m| m.name),
        queue: view.queue,
        members: view.members,
        matched,
    }))
}

/// Ticket `id` was matched: its poll answers `found` for `ttl_s` more seconds.
pub fn matched(c: &ClusterShard, id: &str, found: &MatchFound, ttl_s: u64) {
    c.cluster.eval_detached(
        queues::MATCHED,
        vec![status_key(id)],
        vec![json(found), ttl_s.max(1).to_string().into_bytes()],
    );
}

/// The queues this node serves changed: this shard starts serving those it owns.
pub fn held(shard: &Rc<Shard>, c: &ClusterShard, held: Arc<Vec<String>>) {
    *c.queues.borrow_mut() = held.clone();
    for key in held.iter() {
        if shards::shard_for(key, shard.shards()) == shard.id
            && c.serving.borrow_mut().insert(key.clone())
        {
            spawn_local(serve(shard.clone(), key.clone())).detach();
        }
    }
}

/// The version a reload asked for, and the tickets when it moved.
fn fetched(v: Value) -> Option<(i64, Option<Vec<Stored>>)> {
    let Value::Array(items) = v else { return None };
    let version = match items.first()? {
        Value::Int(i) => *i,
        _ => return None,
    };
    if items.len() == 1 {
        return Some((version, None));
    }
    let mut tickets: Vec<Stored> = items[1..]
        .chunks(2)
        .filter_map(|p| match p {
            [_, Value::BulkString(t)] => serde_json::from_slice(t).ok(),
            _ => None,
        })
        .collect();
    tickets.sort_by_key(|t| t.enqueued_ms);
    Some((version, Some(tickets)))
}

/// Serve queue `key` while this node holds it: reload, match, take, announce.
async fn serve(shard: Rc<Shard>, key: String) {
    let Some(c) = &shard.app.cluster else { return };
    let spec = key.split(':').nth(1).and_then(matchmaking::mode);
    let region = key.splitn(3, ':').nth(2).unwrap_or("").to_string();
    log!(Info, "serving a matchmaking queue", queue = key);
    let mut version: Option<i64> = None;
    let mut queue = spec.map(Queue::new);
    let mut stored: HashMap<String, Stored> = HashMap::new();
    let me = c.cluster.node_id().to_string();
    while c.queues.borrow().contains(&key) {
        let cfg = &shard.app.games.cfg;
        let (Some(spec), Some(q)) = (spec, queue.as_mut()) else {
            break;
        };
        let known = version.map_or_else(|| "-1".to_string(), |v| v.to_string());
        let keys = vec![version_key(&key), tickets_key(&key)];
        if let Some((v, tickets)) = c
            .cluster
            .eval(queues::FETCH, keys, vec![known.into_bytes()])
            .await
            .and_then(fetched)
        {
            version = Some(v);
            if let Some(tickets) = tickets {
                *q = Queue::new(spec);
                stored.clear();
                for t in tickets {
                    let _ = q.push(t.ticket());
                    stored.insert(t.id.clone(), t);
                }
            }
        }
        for f in q.matches(now_ms(), &cfg.window()) {
            let ids: Vec<String> = f.teams.iter().flatten().map(|t| t.id.clone()).collect();
            let keys = vec![
                queues::lease_key(&key),
                tickets_key(&key),
                users_key(&key),
                version_key(&key),
            ];
            let mut args = vec![me.as_bytes().to_vec()];
            args.extend(ids.iter().map(|i| i.as_bytes().to_vec()));
            match c.cluster.eval(queues::TAKE, keys, args).await {
                Some(Value::Int(1)) => {
                    let taken: Vec<Stored> =
                        ids.iter().filter_map(|i| stored.get(i).cloned()).collect();
                    spawn_local(announce(shard.clone(), key.clone(), spec, f, taken)).detach();
                }
                Some(Value::Int(-1)) => {
                    log!(Info, "matchmaking queue moved to another node", queue = key);
                    version = None;
                }
                _ => version = None,
            }
        }
        shard
            .app
            .stats
            .matchmaker_queues
            .borrow_mut()
            .insert((spec.name.to_string(), region.clone()), q.players() as u64);
        glommio::timer::sleep(cfg.tick()).await;
    }
    if let Some(spec) = spec {
        shard
            .app
            .stats
            .matchmaker_queues
            .borrow_mut()
            .insert((spec.name.to_string(), region), 0);
    }
    c.serving.borrow_mut().remove(&key);
    log!(Info, "no longer serving a matchmaking queue", queue = key);
}

/// Make the match's room and tell its players; if the room cannot be made, the tickets go
/// back into the queue.
async fn announce(
    shard: Rc<Shard>,
    key: String,
    spec: ModeSpec,
    f: matchmaking::Formed,
    taken: Vec<Stored>,
) {
    let Some(c) = &shard.app.cluster else { return };
    let nodes: HashMap<String, String> = taken
        .iter()
        .map(|t| (t.id.clone(), t.node.clone()))
        .collect();
    if matches::announce(&shard, spec, &f, &nodes).await {
        return;
    }
    let keys = vec![tickets_key(&key), users_key(&key), version_key(&key)];
    let args = taken.iter().map(json).collect();
    if c.cluster.eval(queues::PUT_BACK, keys, args).await.is_none() {
        log!(
            Warn,
            "matched tickets could not be put back",
            queue = key,
            tickets = taken.len()
        );
    }
}

fn text(v: &Value) -> String {
    match v {
        Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
        Value::SimpleString(s) => s.clone(),
        Value::Okay => "OK".into(),
        _ => String::new(),
    }
}
