//! `GameMsg` on the shard that owns the room or queue it names: adopt a moving socket,
//! deliver a pushed message, list rooms, create a matched room, and the queue operations
//! (enqueue, cancel, poll) with their ticket status. Synchronous: nothing here waits for
//! another shard.

use std::collections::hash_map::Entry;
use std::rc::Rc;

use super::chess::{ChessGame, TimeControl};
use super::party::{PartyGame, PartySettings};
use super::rooms::{Game, Room};
use super::tickets::{TicketStatus, TicketView};
use super::{
    now_ms, session, CancelReq, EnqueueReq, GameMsg, MatchRoom, Queue, QueueError, LIST_MAX,
};
use crate::app::Shard;

/// Handle a `GameMsg` on this shard (from another shard, or a local call).
pub fn handle(shard: &Rc<Shard>, msg: GameMsg) {
    let games = &shard.app.games;
    match msg {
        GameMsg::Adopt(m) => session::adopt(shard, *m),
        GameMsg::Deliver { conn, text } => {
            if let Some(ob) = shard.conns.get(conn).and_then(|e| e.outbox()) {
                let _ = ob.push(crate::ws::text_frame(text.as_bytes()));
            }
        }
        GameMsg::List { kind, reply } => {
            let _ = reply.send(summaries(shard, kind));
        }
        GameMsg::CreateMatchRoom { room, reply } => {
            let span = crate::telemetry::spans::mm_create_room(shard.id, &room.id, &room.trace);
            let created = span.in_scope(|| create_match_room(shard, *room));
            span.record("matchmaking.created", created);
            let _ = reply.send(created);
        }
        GameMsg::Enqueue(req) => enqueue(shard, *req),
        GameMsg::Cancel(req) => cancel(shard, *req),
        GameMsg::Ticket { id, user, reply } => {
            let _ = reply.send(games.tickets.of_user(&id, user));
        }
        GameMsg::Live { room, reply } => {
            let now = now_ms();
            let _ = reply.send(games.rooms.borrow().get(&room).map(|r| r.state(now)));
        }
        GameMsg::TakeOver { room } => {
            let shard = shard.clone();
            glommio::spawn_local(async move {
                crate::cluster::games::ensure_here(&shard, &room).await;
            })
            .detach();
        }
    }
}

/// The summaries of this shard's rooms (at most `LIST_MAX`), of `kind` when given.
pub fn summaries(
    shard: &Shard,
    kind: Option<super::protocol::Kind>,
) -> Vec<super::views::RoomSummary> {
    shard
        .app
        .games
        .rooms
        .borrow()
        .values()
        .filter(|r| kind.is_none_or(|k| r.kind() == k))
        .take(LIST_MAX)
        .map(Room::summary)
        .collect()
}

fn enqueue(shard: &Shard, req: EnqueueReq) {
    let games = &shard.app.games;
    let EnqueueReq {
        key,
        mode,
        ticket,
        reply,
    } = req;
    let view = TicketView {
        ticket: ticket.id.clone(),
        status: TicketStatus::Queued,
        mode: mode.name,
        queue: key.clone(),
        members: ticket.members.clone(),
        matched: None,
    };
    let max = games.cfg.max_queue;
    let r = match games.queues.borrow_mut().entry(key) {
        Entry::Occupied(e) if e.get().len() >= max => Err(QueueError::Full),
        e => e.or_insert_with(|| Queue::new(mode)).push(ticket),
    };
    if r.is_ok() {
        games.tickets.queued(view, now_ms());
    }
    let _ = reply.send(r);
}

fn cancel(shard: &Shard, req: CancelReq) {
    let games = &shard.app.games;
    let CancelReq {
        key,
        ticket,
        user,
        reply,
    } = req;
    let removed = games
        .queues
        .borrow_mut()
        .get_mut(&key)
        .and_then(|q| match &ticket {
            Some(id) => match q.cancel(id) {
                Some(t) if !t.members.iter().any(|m| m.user_id == user) => {
                    // Not this user's ticket: put it back.
                    let _ = q.push(t);
                    None
                }
                other => other,
            },
            None => q.cancel_user(user),
        });
    if let Some(t) = &removed {
        games.tickets.cancelled(&t.id, now_ms());
    }
    let _ = reply.send(removed.is_some());
}

fn create_match_room(shard: &Shard, m: MatchRoom) -> bool {
    let games = &shard.app.games;
    if games.rooms.borrow().len() >= games.per_shard_limit(shard.shards()) {
        return false;
    }
    let now = now_ms();
    let game = match m.mode.room_kind {
        "chess" => Game::Chess(ChessGame::new(TimeControl {
            initial_ms: 300_000,
            increment_ms: 2_000,
        })),
        _ => {
            let owner = m.seats.first().map_or(0, |u| u.id);
            let settings = PartySettings {
                slots: m.seats.len().clamp(2, 8) as u8,
                ..PartySettings::default()
            };
            match PartyGame::new(owner, settings) {
                Ok(p) => Game::Party(p),
                Err(_) => return false,
            }
        }
    };
    let mut room = Room::new(m.id.clone(), format!("{} match", m.mode.name), game, now);
    for (i, u) in m.seats.iter().enumerate().take(room.reserved.len()) {
        room.reserved[i] = Some(u.id);
    }
    room.mode = Some(m.mode.name.to_string());
    room.epoch = m.epoch;
    games.rooms.borrow_mut().insert(m.id, room);
    shards::stats::inc(&shard.app.stats.games_created_total);
    true
}
