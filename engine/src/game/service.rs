//! The game service: what the WebSocket session (`cmd`) and the HTTP API (`api::games`) both
//! ask of the game layer, on whichever shard owns the queue or room. Every request goes
//! through the runtime's one call path ([`ask`]); a shard that does not answer in time is
//! `None` (callers answer `unavailable` / 503). In a cluster, matchmaking goes to Redis
//! (`cluster::matchmaker`): a Redis that does not answer is `unavailable` too.

use std::rc::Rc;

use shards::{shard_for, CallError, Reply};

use super::matchmaking::{Member, ModeSpec, Notify, QueueError, Ticket};
use super::protocol::{Kind, ProtoError};
use super::rooms::User;
use super::tickets::{TicketStatus, TicketView};
use super::views::{RoomState, RoomSummary};
use super::{now_ms, queue_key, ticket_id, CancelReq, EnqueueReq, GameMsg};
use crate::app::Shard;
use crate::log;
use crate::msg::ShardMsg;
use crate::telemetry::{spans, SpanLink};
use tracing::Instrument;

/// Ask shard `to` (or this one) and await the reply; `None` when it did not answer in time.
pub async fn ask<T>(
    shard: &Rc<Shard>,
    to: usize,
    make: impl FnOnce(Reply<T>) -> GameMsg,
) -> Option<T> {
    shard
        .call(to, |reply| ShardMsg::Game(make(reply)))
        .await
        .map_err(|e: CallError| log!(Debug, "game call failed", error = e))
        .ok()
}

/// The rooms of every shard (at most `LIST_MAX` per shard), of `kind` when given; in a
/// cluster, those of the other live nodes too (as they wrote them a second ago).
pub async fn list_rooms(shard: &Rc<Shard>, kind: Option<Kind>) -> Vec<RoomSummary> {
    let mut rooms: Vec<RoomSummary> = shard
        .call_all(|reply| ShardMsg::Game(GameMsg::List { kind, reply }))
        .await
        .into_iter()
        .flatten()
        .collect();
    if let Some(c) = &shard.app.cluster {
        let mut seen: std::collections::HashSet<String> =
            rooms.iter().map(|r| r.room.clone()).collect();
        let cap = super::LIST_MAX * shard.shards() * 4;
        for r in crate::cluster::lobby::others(&c.cluster).await {
            if rooms.len() >= cap {
                break;
            }
            if kind.is_none_or(|k| r.kind == k) && seen.insert(r.room.clone()) {
                rooms.push(r);
            }
        }
    }
    rooms
}

/// The live state of room `id` from its owner: `Some(None)` when no such room runs.
pub async fn live(shard: &Rc<Shard>, id: &str) -> Option<Option<RoomState>> {
    let room = id.to_string();
    let owner = shard_for(id, shard.shards());
    ask(shard, owner, |reply| GameMsg::Live { room, reply }).await
}

/// Put `users` (one ticket) into the (mode, region) queue on its owner shard. Ratings come
/// from storage unless `ratings` overrides them (test hooks only). Returns the queue key and
/// the ticket id. Traced as `matchmaking.enqueue`; the ticket carries that span's context.
pub async fn enqueue(
    shard: &Rc<Shard>,
    spec: ModeSpec,
    region: &str,
    users: Vec<User>,
    notify: Notify,
    ratings: Option<Vec<f64>>,
) -> Result<(String, String), ProtoError> {
    let owner = shard_for(&queue_key(spec.name, region), shard.shards());
    let span = spans::mm_enqueue(shard.id, spec.name, region, users.len(), owner);
    let r = enqueue_in(shard, spec, region, users, notify, ratings)
        .instrument(span.clone())
        .await;
    if let Ok((_, id)) = &r {
        span.record("matchmaking.ticket", id.as_str());
    }
    r
}

async fn enqueue_in(
    shard: &Rc<Shard>,
    spec: ModeSpec,
    region: &str,
    users: Vec<User>,
    notify: Notify,
    ratings: Option<Vec<f64>>,
) -> Result<(String, String), ProtoError> {
    if users.len() > spec.team_size {
        return Err(ProtoError::new(
            "party_too_large",
            format!(
                "mode {} takes parties of at most {}",
                spec.name, spec.team_size
            ),
        ));
    }
    let mut members = Vec::with_capacity(users.len());
    for (k, u) in users.into_iter().enumerate() {
        let rating = match ratings.as_ref().and_then(|r| r.get(k)) {
            Some(r) => *r,
            None => shard
                .app
                .services
                .storage
                .rating(u.id, spec.name)
                .await
                .map_err(|e| ProtoError::new("unavailable", format!("storage: {e}")))?
                as f64,
        };
        members.push(Member {
            user_id: u.id,
            name: u.name,
            rating,
        });
    }
    let key = queue_key(spec.name, region);
    let id = ticket_id(shard, spec.name, region);
    let ticket = Ticket {
        id: id.clone(),
        members,
        enqueued_ms: now_ms(),
        notify,
        trace: SpanLink::current(),
    };
    let answer = match &shard.app.cluster {
        // In a cluster the queue lives in Redis, served by one node.
        Some(c) => {
            let max = shard.app.games.cfg.max_queue;
            let lease_ms = shard.app.config.cluster.cluster_lease.as_millis() as u64;
            crate::cluster::matchmaker::enqueue(c, &key, spec, &ticket, max, lease_ms).await
        }
        None => {
            let owner = shard_for(&key, shard.shards());
            let k = key.clone();
            ask(shard, owner, |reply| {
                GameMsg::Enqueue(Box::new(EnqueueReq {
                    key: k,
                    mode: spec,
                    ticket,
                    reply,
                }))
            })
            .await
        }
    };
    match answer {
        Some(Ok(())) => Ok((key, id)),
        Some(Err(QueueError::AlreadyQueued)) => Err(ProtoError::new(
            "already_queued",
            "a member of this ticket is already queued",
        )),
        Some(Err(QueueError::Full)) => Err(ProtoError::new(
            "unavailable",
            "this queue is full; retry later",
        )),
        Some(Err(QueueError::PartyTooLarge)) => Err(ProtoError::new(
            "party_too_large",
            "party too large for the mode",
        )),
        None => Err(ProtoError::new(
            "unavailable",
            "matchmaker unavailable, retry",
        )),
    }
}

/// Withdraw `user`'s ticket `ticket` from queue `key` (every ticket of `user` when
/// `ticket` is `None`): whether one was still queued; `None` when the owner did not answer.
pub async fn cancel(
    shard: &Rc<Shard>,
    key: String,
    ticket: Option<String>,
    user: i64,
) -> Option<bool> {
    if let Some(c) = &shard.app.cluster {
        let ttl = shard.app.games.cfg.mm_ticket_ttl_secs;
        return crate::cluster::matchmaker::cancel(c, &key, ticket.as_deref(), user, ttl).await;
    }
    let owner = shard_for(&key, shard.shards());
    ask(shard, owner, |reply| {
        GameMsg::Cancel(Box::new(CancelReq {
            key,
            ticket,
            user,
            reply,
        }))
    })
    .await
}

/// Ticket `id` of queue `key` if `user` is one of its members; `None` when the owner did not
/// answer.
pub async fn ticket(
    shard: &Rc<Shard>,
    key: &str,
    id: &str,
    user: i64,
) -> Option<Option<TicketView>> {
    if let Some(c) = &shard.app.cluster {
        return crate::cluster::matchmaker::ticket(c, id, user).await;
    }
    let owner = shard_for(key, shard.shards());
    let id = id.to_string();
    ask(shard, owner, |reply| GameMsg::Ticket { id, user, reply }).await
}

/// Whether `user`'s ticket is still waiting in its queue (unknown counts as not).
pub async fn still_queued(shard: &Rc<Shard>, key: &str, id: &str, user: i64) -> bool {
    ticket(shard, key, id, user)
        .await
        .flatten()
        .is_some_and(|t| t.status == TicketStatus::Queued)
}
