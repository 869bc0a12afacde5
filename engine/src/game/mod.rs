//! Game rooms over the typed protocol of `GET /ws`: chess, the party game,
//! reconnection with grace, matchmaking, and their persistence.
//!
//! Owns [`Games`], one per shard: the game rooms this shard owns
//! (`shard_for(room_id)`), the matchmaking queues it owns
//! (`shard_for("mm:{mode}:{region}")`) and their tickets, and the tick
//! histogram. Cross-shard traffic is [`GameMsg`], inside `ShardMsg::Game`. A
//! socket joining a room owned by another shard moves there with its session
//! state ([`session`]), as relay sockets do: every message of a room is handled
//! on one core.
//!
//! - [`protocol`]: client messages, validation, error codes, name escaping.
//! - [`session`]: the session handler of `GET /ws` (queue, hand-off);
//!   [`actions`]: what it does with each message.
//! - [`rooms`]: a room's members, seats, event log, snapshots.
//! - [`chess`], [`party`]: the pure game state machines.
//! - [`reconnect`]: reconnect tokens; [`matchmaking`]: queues and matching.
//! - [`store`]: room snapshots and finished games (storage).

pub mod actions;
pub mod chess;
pub mod matchmaking;
pub mod party;
pub mod protocol;
pub mod reconnect;
pub mod rooms;
pub mod session;
pub mod store;

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use std::time::Instant;

use glommio::spawn_local;
use serde_json::{json, Value};
use shards::{shard_for, CallError, MovedFd, Reply};

use crate::app::Shard;
use crate::log;
use crate::msg::ShardMsg;
use matchmaking::{Formed, ModeSpec, Notify, Queue, QueueError, Ticket};
use protocol::Kind;
use rooms::{Game, Room, User};
pub use store::{chess_finished, record, save_room, snapshot_all, stop};

/// Rooms one shard lists in answer to `list_rooms` (keeps the answer small).
pub const LIST_MAX: usize = 100;

/// The `kind` column of game room snapshots.
pub const SNAPSHOT_KIND: &str = "game";

/// Wall-clock milliseconds (persisted clocks survive restarts).
pub fn now_ms() -> u64 {
    storage::now_ms().max(0) as u64
}

/// A session's state as it travels with its socket between shards.
#[derive(Debug, Clone, Default)]
pub struct SessionState {
    pub user: Option<User>,
    /// The matchmaking queue key and ticket this session waits on.
    pub queued: Option<(String, String)>,
}

/// A typed WebSocket moving to the shard that owns the room it joins.
#[derive(Debug)]
pub struct Moving {
    pub socket: MovedFd,
    /// The client IP holding a per-IP WebSocket slot (released where the socket ends).
    pub slot_ip: Option<std::net::IpAddr>,
    pub state: SessionState,
    /// Decoded messages still to handle (the first one caused the move).
    pub inbox: Vec<Vec<u8>>,
    /// Raw bytes read but not decoded yet.
    pub pending: Vec<u8>,
}

/// A match room to create on its owner shard.
#[derive(Debug)]
pub struct MatchRoom {
    pub id: String,
    pub mode: ModeSpec,
    /// Users by seat.
    pub seats: Vec<User>,
}

/// Cross-shard game traffic (inside `ShardMsg::Game`). Handlers never await
/// another shard: replies go back on oneshots.
#[derive(Debug)]
pub enum GameMsg {
    /// Take over a session socket.
    Adopt(Box<Moving>),
    /// Push a text message to socket `conn` of this shard.
    Deliver { conn: u64, text: String },
    /// Summaries of this shard's rooms.
    List {
        kind: Option<Kind>,
        reply: Reply<Vec<Value>>,
    },
    /// Create a matched room here.
    CreateMatchRoom {
        room: Box<MatchRoom>,
        reply: Reply<bool>,
    },
    /// Add a ticket to a queue this shard owns.
    Enqueue(Box<EnqueueReq>),
    /// Remove a ticket (by id, or every ticket of `user`).
    Cancel(Box<CancelReq>),
    /// Status of a ticket of a queue this shard owns.
    Ticket {
        id: String,
        user: i64,
        reply: Reply<Option<Value>>,
    },
    /// The live state of a room this shard owns.
    Live {
        room: String,
        reply: Reply<Option<Value>>,
    },
}

/// A ticket for a queue this shard owns (`GameMsg::Enqueue`).
#[derive(Debug)]
pub struct EnqueueReq {
    pub key: String,
    pub mode: ModeSpec,
    pub ticket: Ticket,
    pub reply: Reply<Result<(), QueueError>>,
}

/// Withdraw a ticket by id, or every ticket of `user` (`GameMsg::Cancel`).
#[derive(Debug)]
pub struct CancelReq {
    pub key: String,
    pub ticket: Option<String>,
    pub user: i64,
    pub reply: Reply<bool>,
}

// Game traffic rides inside `ShardMsg`: keep it small.
const _: () = assert!(std::mem::size_of::<GameMsg>() <= 48);

/// One shard's game state (not `Send`).
pub struct Games {
    /// The game knobs (shared read-only).
    pub cfg: crate::config::GamesArgs,
    /// Rooms this shard owns; at most `max_rooms / shards` (rounded up).
    /// Rooms leave when nobody is in them and no game is under way.
    pub rooms: RefCell<HashMap<String, Room>>,
    /// Matchmaking queues this shard owns, by key `mm:{mode}:{region}`.
    pub queues: RefCell<HashMap<String, Queue>>,
    /// Ticket status (owner side) by ticket id; matched and cancelled
    /// entries leave after `ticket_ttl_ms`.
    pub tickets: RefCell<HashMap<String, (u64, Value)>>,
    /// Duration of each game tick (for `/metrics`:
    /// `roomcore_game_tick_duration_seconds`).
    pub tick_hist: shards::metrics::Histogram,
    /// Set once snapshots are restored.
    pub restored: Cell<bool>,
    next_ticket: Cell<u64>,
}

impl std::fmt::Debug for Games {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Games")
            .field("rooms", &self.rooms.borrow().len())
            .finish_non_exhaustive()
    }
}

impl Games {
    /// The game tables of one shard, configured from `config`'s service knobs.
    pub fn new(config: &crate::config::Config) -> Games {
        let cfg = config.games.clone();
        Games {
            cfg,
            rooms: RefCell::new(HashMap::new()),
            queues: RefCell::new(HashMap::new()),
            tickets: RefCell::new(HashMap::new()),
            tick_hist: shards::metrics::Histogram::latency(),
            restored: Cell::new(false),
            next_ticket: Cell::new(1),
        }
    }

    /// Rooms one shard may hold.
    pub fn per_shard_limit(&self, shards: usize) -> usize {
        self.cfg.per_shard_limit(shards)
    }
}

/// A fresh room id with `prefix`; `local` picks one this shard owns.
pub fn room_id(prefix: &str, shard: &Rc<Shard>, local: bool) -> String {
    loop {
        let id = format!("{prefix}-{}", reconnect::random_hex(5));
        if !local || shard_for(&id, shard.shards()) == shard.id {
            return id;
        }
    }
}

/// Ask shard `to` (or this one) and await the reply, through the runtime's one call path;
/// `None` when it did not answer in time.
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

/// Deliver `text` to socket `conn` on `to` (fire and forget).
pub async fn deliver(shard: &Rc<Shard>, to: usize, conn: u64, text: String) {
    let _ = shard
        .send(to, ShardMsg::Game(GameMsg::Deliver { conn, text }))
        .await;
}

/// Handle a `GameMsg` on this shard (from another shard, or a local call). Never awaits.
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
            let v = games
                .rooms
                .borrow()
                .values()
                .filter(|r| kind.is_none_or(|k| r.kind() == k))
                .take(LIST_MAX)
                .map(Room::summary)
                .collect();
            let _ = reply.send(v);
        }
        GameMsg::CreateMatchRoom { room, reply } => {
            let _ = reply.send(create_match_room(shard, *room));
        }
        GameMsg::Enqueue(req) => {
            let EnqueueReq {
                key,
                mode,
                ticket,
                reply,
            } = *req;
            let id = ticket.id.clone();
            let members: Vec<Value> = ticket
                .members
                .iter()
                .map(|m| json!({"user_id": m.user_id, "name": m.name, "rating": m.rating}))
                .collect();
            let max = games.cfg.max_queue;
            let r = match games.queues.borrow_mut().entry(key.clone()) {
                std::collections::hash_map::Entry::Occupied(e) if e.get().len() >= max => {
                    Err(QueueError::Full)
                }
                e => e.or_insert_with(|| Queue::new(mode)).push(ticket),
            };
            if r.is_ok() {
                games.tickets.borrow_mut().insert(
                    id.clone(),
                    (
                        now_ms(),
                        json!({"ticket": id, "status": "queued", "mode": mode.name,
                               "queue": key, "members": members}),
                    ),
                );
            }
            let _ = reply.send(r);
        }
        GameMsg::Cancel(req) => {
            let CancelReq {
                key,
                ticket,
                user,
                reply,
            } = *req;
            let mut qs = games.queues.borrow_mut();
            let removed = qs.get_mut(&key).and_then(|q| match &ticket {
                Some(id) => {
                    let owns = q.cancel(id);
                    match owns {
                        Some(t) if !t.members.iter().any(|m| m.user_id == user) => {
                            // Not this user's ticket: put it back.
                            let _ = q.push(t);
                            None
                        }
                        other => other,
                    }
                }
                None => q.cancel_user(user),
            });
            if let Some(t) = &removed {
                if let Some((at, v)) = games.tickets.borrow_mut().get_mut(&t.id) {
                    *at = now_ms();
                    v["status"] = json!("cancelled");
                }
            }
            let _ = reply.send(removed.is_some());
        }
        GameMsg::Ticket { id, user, reply } => {
            let v = games.tickets.borrow().get(&id).and_then(|(_, v)| {
                let mine = v["members"]
                    .as_array()
                    .is_some_and(|ms| ms.iter().any(|m| m["user_id"] == json!(user)));
                mine.then(|| v.clone())
            });
            let _ = reply.send(v);
        }
        GameMsg::Live { room, reply } => {
            let now = now_ms();
            let _ = reply.send(games.rooms.borrow().get(&room).map(|r| r.state_json(now)));
        }
    }
}

fn create_match_room(shard: &Rc<Shard>, m: MatchRoom) -> bool {
    let games = &shard.app.games;
    if games.rooms.borrow().len() >= games.per_shard_limit(shard.shards()) {
        return false;
    }
    let now = now_ms();
    let game = match m.mode.room_kind {
        "chess" => Game::Chess(chess::ChessGame::new(chess::TimeControl {
            initial_ms: 300_000,
            increment_ms: 2_000,
        })),
        _ => {
            let owner = m.seats.first().map_or(0, |u| u.id);
            let settings = party::PartySettings {
                slots: m.seats.len().clamp(2, 8) as u8,
                ..party::PartySettings::default()
            };
            match party::PartyGame::new(owner, settings) {
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
    games.rooms.borrow_mut().insert(m.id, room);
    shards::stats::inc(&shard.app.stats.games_created_total);
    true
}

/// Start this shard's game tasks: restore, tick, snapshots.
pub fn start(shard: &Rc<Shard>) {
    let s = shard.clone();
    spawn_local(async move {
        store::restore(&s).await;
        let every = s.app.config.api.snapshot_interval;
        let mut last = Instant::now();
        loop {
            glommio::timer::sleep(s.app.games.cfg.tick()).await;
            tick(&s);
            if last.elapsed() >= every {
                last = Instant::now();
                snapshot_all(&s).await;
            }
        }
    })
    .detach();
}

/// One pass: flags, turn timers, grace expiry, empty rooms, matchmaking.
pub fn tick(shard: &Rc<Shard>) {
    let t0 = Instant::now();
    let now = now_ms();
    let games = &shard.app.games;
    let mut records = Vec::new();
    let mut gone = Vec::new();
    for room in games.rooms.borrow_mut().values_mut() {
        let finished = match &mut room.game {
            Game::Chess(g) => g.tick(now),
            Game::Party(p) => {
                if let Some(slot) = p.tick(now) {
                    let state = room.game_json(now);
                    room.emit(json!({"type": "party", "action": "turn_timeout",
                                     "slot": slot, "game": state}));
                }
                None
            }
        };
        if let Some(f) = finished {
            records.extend(chess_finished(room, f, now));
        }
        let expired: Vec<usize> = room
            .seats
            .iter()
            .enumerate()
            .filter(|(_, s)| {
                s.as_ref()
                    .is_some_and(|s| s.conn.is_none() && s.held_until.is_some_and(|t| t <= now))
            })
            .map(|(i, _)| i)
            .collect();
        for i in expired {
            let user = room.seats[i].as_ref().map(|s| s.user.id);
            let fin = room.free_seat(i, now);
            room.emit(json!({"type": "seat_freed", "seat": i, "user_id": user,
                             "reason": "reconnect grace expired"}));
            if let Game::Party(_) = room.game {
                let state = room.game_json(now);
                room.emit(json!({"type": "party", "action": "released", "slot": i, "game": state}));
            }
            if let Some(f) = fin {
                records.extend(chess_finished(room, f, now));
            }
        }
        // Matched rooms wait (empty) for their players as long as a ticket lives.
        let hold = if room.reserved.iter().any(Option::is_some) {
            games.cfg.ticket_ttl_ms()
        } else {
            0
        };
        if room.is_abandoned() && !room.in_progress() && now >= room.created_at + hold {
            gone.push(room.id.clone());
        }
    }
    for id in gone {
        games.rooms.borrow_mut().remove(&id);
        let storage = shard.app.services.storage.clone();
        spawn_local(async move {
            let _ = storage.delete_room(&id).await;
        })
        .detach();
    }
    for rec in records {
        record(shard, rec);
    }
    // Matchmaking on the queues this shard owns.
    let formed: Vec<(String, ModeSpec, Formed)> = games
        .queues
        .borrow_mut()
        .iter_mut()
        .flat_map(|(k, q)| {
            let spec = q.spec;
            q.matches(now, &games.cfg.window())
                .into_iter()
                .map(move |f| (k.clone(), spec, f))
                .collect::<Vec<_>>()
        })
        .collect();
    for (key, spec, f) in formed {
        spawn_local(announce_match(shard.clone(), key, spec, f)).detach();
    }
    let ttl = games.cfg.ticket_ttl_ms();
    games
        .tickets
        .borrow_mut()
        .retain(|_, (at, v)| v["status"] == "queued" || now.saturating_sub(*at) < ttl);
    // Gauges of /metrics.
    shard
        .app
        .stats
        .games_active
        .set(games.rooms.borrow().len() as u64);
    {
        let mut sizes = shard.app.stats.matchmaker_queues.borrow_mut();
        for (key, q) in games.queues.borrow().iter() {
            let mut it = key.splitn(3, ':').skip(1);
            if let (Some(m), Some(r)) = (it.next(), it.next()) {
                sizes.insert((m.to_string(), r.to_string()), q.players() as u64);
            }
        }
    }
    games.tick_hist.observe(t0.elapsed().as_secs_f64());
}

async fn announce_match(shard: Rc<Shard>, key: String, spec: ModeSpec, f: Formed) {
    let id = room_id("m", &shard, false);
    let owner = shard_for(&id, shard.shards());
    // Seats: chess white/black = team 0/1; party: team by team.
    let mut seats = Vec::new();
    let mut seat_of: Vec<(String, usize, usize)> = Vec::new();
    for (team, tickets) in f.teams.iter().enumerate() {
        for t in tickets {
            for m in &t.members {
                seat_of.push((t.id.clone(), team, seats.len()));
                seats.push(User {
                    id: m.user_id,
                    name: m.name.clone(),
                });
            }
        }
    }
    let players: Vec<Value> = seats
        .iter()
        .enumerate()
        .map(|(i, u)| json!({"seat": i, "user_id": u.id, "name": u.name}))
        .collect();
    let room = Box::new(MatchRoom {
        id: id.clone(),
        mode: spec,
        seats,
    });
    let created = ask(&shard, owner, |reply| GameMsg::CreateMatchRoom {
        room,
        reply,
    })
    .await
    .unwrap_or(false);
    if !created {
        // Put the tickets back; they match again on a later tick.
        log!(Warn, "match room could not be created; requeued", room = id);
        let mut qs = shard.app.games.queues.borrow_mut();
        if let Some(q) = qs.get_mut(&key) {
            for t in f.teams.into_iter().flatten() {
                let _ = q.push(t);
            }
        }
        return;
    }
    let now = now_ms();
    shards::stats::inc(&shard.app.stats.matches_created_total);
    for t in f.teams.iter().flatten() {
        shard
            .app
            .stats
            .time_to_match
            .observe(now.saturating_sub(t.enqueued_ms) as f64 / 1000.0);
        let seats: Vec<usize> = seat_of
            .iter()
            .filter(|(tid, _, _)| *tid == t.id)
            .map(|(_, _, s)| *s)
            .collect();
        let team = seat_of
            .iter()
            .find(|(tid, _, _)| *tid == t.id)
            .map_or(0, |x| x.1);
        let body = json!({
            "type": "match_found",
            "ticket": t.id,
            "room": id,
            "mode": spec.name,
            "kind": spec.room_kind,
            "team": team,
            "seats": seats,
            "players": players,
            "rating_spread": f.spread,
        });
        if let Some((at, v)) = shard.app.games.tickets.borrow_mut().get_mut(&t.id) {
            *at = now;
            v["status"] = json!("matched");
            v["match"] = body.clone();
        }
        if let Notify::Ws { shard: to, conn } = t.notify {
            deliver(&shard, to, conn, body.to_string()).await;
        }
    }
}

/// Queue key of (mode, region).
pub fn queue_key(mode: &str, region: &str) -> String {
    format!("mm:{mode}:{region}")
}

/// A ticket id that names its queue (`{mode}.{region}.{n}-{random}`).
pub fn ticket_id(shard: &Rc<Shard>, mode: &str, region: &str) -> String {
    let n = shard.app.games.next_ticket.get();
    shard.app.games.next_ticket.set(n + 1);
    format!(
        "{mode}.{region}.{}{n}-{}",
        shard.id,
        reconnect::random_hex(4)
    )
}

/// The queue key a ticket id names.
pub fn key_of_ticket(id: &str) -> Option<String> {
    let mut it = id.splitn(3, '.');
    let (m, r) = (it.next()?, it.next()?);
    it.next()?;
    Some(queue_key(m, r))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_ticket_keys() {
        assert_eq!(store::date_of(0), "1970.01.01");
        assert_eq!(store::date_of(1_700_000_000_000), "2023.11.14");
        assert_eq!(
            key_of_ticket("chess.eu.01-ab").as_deref(),
            Some("mm:chess:eu")
        );
        assert_eq!(key_of_ticket("bad"), None);
    }
}
