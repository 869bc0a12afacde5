//! What a typed session does with each client message: authentication,
//! rooms (create, join, leave, state), chess and party actions, reconnect,
//! and matchmaking tickets. Runs on the shard that owns the session's room;
//! the socket I/O and the hand-off between shards live in [`super::session`].

use std::rc::Rc;
use std::time::{Duration, Instant};

use crate::room_id::RoomId;
use serde_json::{json, Value};
use shards::stats::Disconnect;
use shards::{shard_for, stats, Outbox};

use super::chess::{ChessGame, Side};
use super::matchmaking::{self, Member as MmMember, Notify, QueueError, Ticket};
use super::party::{PartyError, PartyGame};
use super::protocol::{self, ClientMsg, JoinAs, ProtoError, Settings};
use super::rooms::{Game, Member, Room, User};
use super::session::text;
use super::{
    ask, chess_finished, now_ms, reconnect, record, CancelReq, EnqueueReq, GameMsg, SessionState,
};
use crate::app::Shard;
use crate::limits;
use crate::ws;
use shards::ConnEntry;

/// What the session does after a message.
pub(super) enum Next {
    Continue,
    /// Move to this shard (the message is handled there).
    Migrate(usize),
}

pub(super) struct Session<'a> {
    pub(super) shard: &'a Rc<Shard>,
    pub(super) entry: &'a Rc<ConnEntry>,
    pub(super) outbox: Rc<Outbox>,
    pub(super) state: SessionState,
    /// The room (owned by this shard) this socket is in.
    pub(super) room: Option<String>,
}

fn perr(e: PartyError) -> ProtoError {
    ProtoError::new(e.code(), e.message())
}

impl Session<'_> {
    fn send(&self, v: Value) {
        if self.outbox.push(text(&v)).is_err() {
            self.outbox.set_reason(Disconnect::SlowConsumer);
            self.outbox.kill(None);
        }
    }

    fn error(&self, seq: Option<u64>, e: &ProtoError) {
        let _ = self.outbox.push_control(text(&json!({
            "type": "error", "code": e.code, "message": e.message, "seq": seq})));
    }

    fn ok(&self, seq: Option<u64>, extra: Value) {
        let mut v = json!({"type": "ok", "seq": seq});
        if let (Value::Object(o), Value::Object(x)) = (&mut v, extra) {
            o.extend(x);
        }
        self.send(v);
    }

    fn user(&self) -> Result<User, ProtoError> {
        self.state.user.clone().ok_or_else(|| {
            ProtoError::new(
                "unauthenticated",
                "send {\"type\":\"hello\",\"token\":...} first",
            )
        })
    }

    pub(super) async fn handle(&mut self, raw: &[u8]) -> Next {
        let (seq, parsed) = protocol::parse(raw);
        let msg = match parsed {
            Ok(m) => m,
            Err(e) => {
                self.shard
                    .app
                    .stats
                    .validation_errors
                    .inc(crate::stats::Validation::Ws as usize);
                self.error(seq, &e);
                return Next::Continue;
            }
        };
        match self.dispatch(seq, msg).await {
            Ok(n) => n,
            Err(e) => {
                self.error(seq, &e);
                Next::Continue
            }
        }
    }

    async fn dispatch(&mut self, seq: Option<u64>, msg: ClientMsg) -> Result<Next, ProtoError> {
        if let ClientMsg::Hello { token } = &msg {
            let now = storage::now_ms() / 1000;
            let c = self
                .shard
                .app
                .services
                .tokens
                .verify(token, now)
                .map_err(|e| ProtoError::new("unauthenticated", format!("token refused: {e:?}")))?;
            let name =
                protocol::sanitize_name(&c.name).unwrap_or_else(|_| format!("user-{}", c.sub));
            if self.state.user.as_ref().is_some_and(|u| u.id != c.sub) && self.room.is_some() {
                return Err(ProtoError::new(
                    "already_in_room",
                    "leave the room before changing identity",
                ));
            }
            self.state.user = Some(User { id: c.sub, name });
            let u = self.user()?;
            self.send(json!({"type": "welcome", "seq": seq,
                "user": {"id": u.id, "name": u.name}, "shard": self.shard.id}));
            return Ok(Next::Continue);
        }
        if let ClientMsg::Ping = msg {
            self.send(json!({"type": "pong", "seq": seq}));
            return Ok(Next::Continue);
        }
        let user = self.user()?;
        // Messages handled by the room's owner shard.
        if let Some(room) = msg.room_bound() {
            let room = match &msg {
                ClientMsg::Reconnect { token, .. } => reconnect::room_of(token)
                    .ok_or_else(|| ProtoError::new("invalid_token", "malformed reconnect token"))?,
                _ => room,
            };
            RoomId::parse(room).map_err(|e| ProtoError::new("not_found", e.to_string()))?;
            if matches!(msg, ClientMsg::JoinRoom { .. }) && self.room.is_some() {
                return Err(ProtoError::new(
                    "already_in_room",
                    "leave your room before joining another",
                ));
            }
            let owner = shard_for(room, self.shard.shards());
            if owner != self.shard.id {
                self.cancel_queue().await;
                return Ok(Next::Migrate(owner));
            }
            self.wait_restored().await;
        }
        match msg {
            ClientMsg::Hello { .. } | ClientMsg::Ping => unreachable!("handled above"),
            ClientMsg::ListRooms { kind } => {
                let mut all = Vec::new();
                for to in 0..self.shard.shards() {
                    if let Some(v) =
                        ask(self.shard, to, |reply| GameMsg::List { kind, reply }).await
                    {
                        all.extend(v);
                    }
                }
                self.send(json!({"type": "rooms", "seq": seq, "rooms": all}));
            }
            ClientMsg::CreateRoom { name, settings } => {
                self.create(seq, &user, name, settings).await?
            }
            ClientMsg::JoinRoom { room, role } => self.join(seq, &user, &room, role).await?,
            ClientMsg::LeaveRoom => {
                if self.room.is_none() {
                    return Err(not_in_room());
                }
                self.leave(true);
                self.ok(seq, json!({}));
            }
            ClientMsg::State => {
                let now = now_ms();
                let id = self.room.clone().ok_or_else(not_in_room)?;
                let rooms = self.shard.app.games.rooms.borrow();
                let r = rooms.get(&id).ok_or_else(not_in_room)?;
                let mut v = r.state_json(now);
                v["seq"] = json!(seq);
                self.send(v);
            }
            ClientMsg::Move { mv } => self.chess_move(seq, &mv).await?,
            ClientMsg::Resign
            | ClientMsg::OfferDraw
            | ClientMsg::AcceptDraw
            | ClientMsg::DeclineDraw => self.chess_action(seq, &msg)?,
            ClientMsg::ClaimSlot { slot, name } => {
                let name = name.unwrap_or_else(|| user.name.clone());
                self.party(
                    seq,
                    "claim_slot",
                    |p, u, _| p.claim(u, slot, &name),
                    Some(slot),
                )?
            }
            ClientMsg::UpdateSettings { settings } => self.party(
                seq,
                "update_settings",
                |p, u, _| p.update_settings(u, settings),
                None,
            )?,
            ClientMsg::Start => self.party(seq, "start", |p, u, now| p.start(u, now), None)?,
            ClientMsg::Switch => self.party(seq, "switch", |p, u, now| p.switch(u, now), None)?,
            ClientMsg::Pause => self.party(seq, "pause", |p, u, now| p.pause(u, now), None)?,
            ClientMsg::Resume => self.party(seq, "resume", |p, u, now| p.resume(u, now), None)?,
            ClientMsg::Reset => self.party(seq, "reset", |p, u, _| p.reset(u), None)?,
            ClientMsg::Eliminate { slot } => self.party(
                seq,
                "eliminate",
                |p, u, now| p.eliminate(u, slot, now),
                None,
            )?,
            ClientMsg::Reconnect { token, last_seq } => {
                self.reconnect(seq, &user, &token, last_seq)?
            }
            ClientMsg::Queue {
                mode,
                region,
                party,
            } => self.queue(seq, &user, &mode, &region, &party).await?,
            ClientMsg::CancelQueue => {
                if self.state.queued.is_none() {
                    return Err(ProtoError::new("not_queued", "you are not in a queue"));
                }
                let removed = self.cancel_queue().await;
                self.send(json!({"type": "queue_cancelled", "seq": seq, "removed": removed}));
            }
        }
        Ok(Next::Continue)
    }

    async fn wait_restored(&self) {
        let until = Instant::now() + Duration::from_secs(5);
        while !self.shard.app.games.restored.get() && Instant::now() < until {
            glommio::timer::sleep(Duration::from_millis(20)).await;
        }
    }

    fn member(&self, user: &User) -> Member {
        Member {
            conn: self.entry.id,
            user: user.clone(),
            outbox: self.outbox.clone(),
        }
    }

    async fn create(
        &mut self,
        seq: Option<u64>,
        user: &User,
        name: String,
        settings: Settings,
    ) -> Result<(), ProtoError> {
        if self.room.is_some() {
            return Err(ProtoError::new(
                "already_in_room",
                "leave your room before creating another",
            ));
        }
        self.wait_restored().await;
        let games = &self.shard.app.games;
        let limit = games.per_shard_limit(self.shard.shards());
        if games.rooms.borrow().len() >= limit {
            return Err(ProtoError::new(
                "too_many_rooms",
                format!(
                    "the server holds the most game rooms it may (MAX_ROOMS={})",
                    games.cfg.max_rooms
                ),
            ));
        }
        let limit = self.shard.app.config.limits.max_room_creates_per_ip_per_min;
        if limit > 0 {
            let ip = self.entry.peer.ip();
            let d = limits::rate_check(self.shard, ip, limits::RateClass::RoomCreate, limit).await;
            if !d.allowed {
                return Err(ProtoError::new(
                    "rate_limited",
                    format!(
                        "too many rooms created from this address; retry in {} s",
                        d.reset_secs
                    ),
                ));
            }
        }
        self.cancel_queue().await;
        let now = now_ms();
        let (prefix, game) = match settings {
            Settings::Chess(c) => ("c", Game::Chess(ChessGame::new(c.time_control()?))),
            Settings::Party(p) => ("p", Game::Party(PartyGame::new(user.id, p).map_err(perr)?)),
        };
        let id = super::room_id(prefix, self.shard, true);
        stats::inc(&self.shard.app.stats.games_created_total);
        let mut room = Room::new(id.clone(), name, game, now);
        room.members.push(self.member(user));
        let (seat, token) = match room.game {
            Game::Chess(_) => (Some(0), Some(room.take_seat(0, user, self.entry.id))),
            Game::Party(_) => (None, None),
        };
        let mut state = room.state_json(now);
        state.as_object_mut().map(|o| o.remove("type"));
        games.rooms.borrow_mut().insert(id.clone(), room);
        self.room = Some(id.clone());
        self.send(
            json!({"type": "joined", "seq": seq, "room": id, "role": "player",
            "seat": seat, "reconnect_token": token, "state": state}),
        );
        Ok(())
    }

    async fn join(
        &mut self,
        seq: Option<u64>,
        user: &User,
        id: &str,
        role: JoinAs,
    ) -> Result<(), ProtoError> {
        let now = now_ms();
        let mut records = Vec::new();
        {
            let mut rooms = self.shard.app.games.rooms.borrow_mut();
            let room = rooms
                .get_mut(id)
                .ok_or_else(|| ProtoError::new("not_found", "no such room"))?;
            let conn = self.entry.id;
            let mut seat = None;
            let mut token = None;
            if role == JoinAs::Player {
                if let Some(i) = room.seat_of_user(user.id) {
                    // Same account again: take the seat over if its socket is gone.
                    if room.seats[i].as_ref().is_some_and(|s| s.conn.is_some()) {
                        return Err(ProtoError::new(
                            "already_seated",
                            "you hold a seat here from another connection; use reconnect",
                        ));
                    }
                    token = Some(room.take_seat(i, user, conn));
                    seat = Some(i);
                } else {
                    match &mut room.game {
                        Game::Chess(_) => {
                            let i = room.free_chess_seat(user.id).ok_or_else(|| {
                                ProtoError::new(
                                    "room_full",
                                    "both seats are taken; join as spectator",
                                )
                            })?;
                            token = Some(room.take_seat(i, user, conn));
                            seat = Some(i);
                        }
                        Game::Party(p) => {
                            // A matched player gets its reserved slot at once.
                            if let Some(i) = room.reserved.iter().position(|r| *r == Some(user.id))
                            {
                                p.claim(user.id, i, &user.name).map_err(perr)?;
                                token = Some(room.take_seat(i, user, conn));
                                seat = Some(i);
                            }
                        }
                    }
                }
            }
            room.members.push(self.member(user));
            let mut state = room.state_json(now);
            state.as_object_mut().map(|o| o.remove("type"));
            let role_s = if seat.is_some() {
                "player"
            } else {
                "spectator"
            };
            self.send(
                json!({"type": "joined", "seq": seq, "room": id, "role": role_s,
                "seat": seat, "reconnect_token": token, "state": state}),
            );
            room.emit(
                json!({"type": "player_joined", "user_id": user.id, "name": user.name,
                "seat": seat, "role": role_s}),
            );
            if let Game::Chess(g) = &mut room.game {
                if !g.started() && room.seats.iter().all(Option::is_some) {
                    g.start(now);
                    room.players = room
                        .seats
                        .iter()
                        .map(|s| s.as_ref().map(|s| s.user.clone()))
                        .collect();
                    let state = room.game_json(now);
                    room.emit(json!({"type": "game_started", "white": room.players[0],
                        "black": room.players[1], "game": state}));
                }
            }
            if let Game::Chess(g) = &mut room.game {
                if let Some(f) = g.tick(now) {
                    records.extend(chess_finished(room, f, now));
                }
            }
        }
        self.room = Some(id.to_string());
        for r in records {
            record(self.shard, r);
        }
        Ok(())
    }

    /// Leave the current room: `explicit` frees the seat now, otherwise (the
    /// socket dropped) the seat is held for the grace period.
    pub(super) fn leave(&mut self, explicit: bool) {
        let Some(id) = self.room.take() else { return };
        let now = now_ms();
        let grace = self.shard.app.games.cfg.grace_ms();
        let mut records = Vec::new();
        if let Some(room) = self.shard.app.games.rooms.borrow_mut().get_mut(&id) {
            let user = self.state.user.as_ref().map(|u| u.id);
            if let Some(i) = room.disconnect(self.entry.id, now + grace) {
                if explicit {
                    let fin = room.free_seat(i, now);
                    room.emit(json!({"type": "seat_freed", "seat": i, "user_id": user,
                        "reason": "left"}));
                    if let Some(f) = fin {
                        records.extend(chess_finished(room, f, now));
                    }
                } else {
                    room.emit(json!({"type": "player_disconnected", "seat": i,
                        "user_id": user, "grace_ms": grace}));
                }
            } else {
                room.emit(json!({"type": "player_left", "user_id": user}));
            }
        }
        for r in records {
            record(self.shard, r);
        }
    }

    pub(super) async fn end(&mut self) {
        self.leave(false);
        self.cancel_queue().await;
    }

    fn in_room<T>(
        &self,
        f: impl FnOnce(&mut Room, u64, u64) -> Result<T, ProtoError>,
    ) -> Result<T, ProtoError> {
        let id = self.room.clone().ok_or_else(not_in_room)?;
        let mut rooms = self.shard.app.games.rooms.borrow_mut();
        let room = rooms.get_mut(&id).ok_or_else(not_in_room)?;
        f(room, self.entry.id, now_ms())
    }

    fn side(room: &Room, conn: u64) -> Result<Side, ProtoError> {
        if !matches!(room.game, Game::Chess(_)) {
            return Err(ProtoError::new("wrong_game", "this is not a chess room"));
        }
        room.seat_of_conn(conn)
            .map(Side::from_index)
            .ok_or_else(|| ProtoError::new("forbidden", "only seated players may do this"))
    }

    async fn chess_move(&mut self, seq: Option<u64>, mv: &str) -> Result<(), ProtoError> {
        let mut records = Vec::new();
        let stats = &self.shard.app.stats;
        let staged = self.in_room(|room, conn, now| {
            let side = Self::side(room, conn)?;
            let Game::Chess(g) = &mut room.game else {
                unreachable!("checked by side()")
            };
            if let Some(f) = g.tick(now) {
                records.extend(chess_finished(room, f, now));
                return Err(ProtoError::new("game_over", "your flag fell"));
            }
            let p = g.play(side, mv, now).map_err(|e| {
                shards::stats::inc(&stats.move_validation_errors_total);
                ProtoError::new(e.code(), e.message())
            })?;
            let ply = g.moves().len();
            room.touch();
            let event = json!({"type": "move", "by": p.by.as_str(), "uci": p.mv.uci,
                "san": p.mv.san, "fen": p.fen, "ply": ply,
                "clocks": {"white": p.clocks[0], "black": p.clocks[1]}});
            Ok((room.id.clone(), room.reserve_seq(), event, p.finish))
        });
        for r in records.drain(..) {
            record(self.shard, r);
        }
        let (id, room_seq, event, finish) = staged?;
        // Durable before anyone hears of it: the snapshot holds the move.
        let saved = super::save_room(self.shard, &id).await;
        let now = now_ms();
        if let Some(room) = self.shard.app.games.rooms.borrow_mut().get_mut(&id) {
            room.emit_at(room_seq, event);
            if let Some(f) = finish {
                records.extend(chess_finished(room, f, now));
            }
        }
        for r in records {
            record(self.shard, r);
        }
        self.ok(seq, json!({"room_seq": room_seq, "saved": saved}));
        Ok(())
    }

    fn chess_action(&mut self, seq: Option<u64>, msg: &ClientMsg) -> Result<(), ProtoError> {
        let mut records = Vec::new();
        let r = self.in_room(|room, conn, now| {
            let side = Self::side(room, conn)?;
            let Game::Chess(g) = &mut room.game else {
                unreachable!("checked by side()")
            };
            let ce = |e: super::chess::ChessError| ProtoError::new(e.code(), e.message());
            let (event, fin) = match msg {
                ClientMsg::Resign => (None, Some(g.resign(side, now).map_err(ce)?)),
                ClientMsg::OfferDraw => {
                    g.offer_draw(side).map_err(ce)?;
                    (
                        Some(json!({"type": "draw_offered", "by": side.as_str()})),
                        None,
                    )
                }
                ClientMsg::AcceptDraw => (None, Some(g.accept_draw(side, now).map_err(ce)?)),
                _ => {
                    g.decline_draw(side).map_err(ce)?;
                    (
                        Some(json!({"type": "draw_declined", "by": side.as_str()})),
                        None,
                    )
                }
            };
            let mut n = room.seq;
            if let Some(e) = event {
                n = room.emit(e);
            }
            if let Some(f) = fin {
                records.extend(chess_finished(room, f, now));
                n = room.seq;
            }
            Ok(n)
        });
        for rec in records {
            record(self.shard, rec);
        }
        self.ok(seq, json!({"room_seq": r?}));
        Ok(())
    }

    /// Apply a party action and broadcast the new state.
    fn party(
        &mut self,
        seq: Option<u64>,
        action: &str,
        f: impl FnOnce(&mut PartyGame, i64, u64) -> Result<(), PartyError>,
        claim: Option<usize>,
    ) -> Result<(), ProtoError> {
        let user = self.user()?;
        let (n, token) = self.in_room(|room, conn, now| {
            if let Some(i) = claim {
                if room.reserved_for_other(i, user.id) {
                    return Err(ProtoError::new(
                        "forbidden",
                        "this slot is reserved for another player",
                    ));
                }
            }
            let Game::Party(p) = &mut room.game else {
                return Err(ProtoError::new("wrong_game", "this is not a party room"));
            };
            f(p, user.id, now).map_err(perr)?;
            let slots = p.slots.len();
            if room.seats.len() != slots {
                room.seats.resize(slots, None);
                room.reserved.resize(slots, None);
            }
            let token = claim.map(|i| room.take_seat(i, &user, conn));
            let state = room.game_json(now);
            let n = room.emit(json!({"type": "party", "action": action, "by": user.id,
                "game": state}));
            Ok((n, token))
        })?;
        let mut extra = json!({"room_seq": n});
        if let Some(t) = token {
            extra["reconnect_token"] = json!(t);
            extra["seat"] = json!(claim);
        }
        self.ok(seq, extra);
        Ok(())
    }

    fn reconnect(
        &mut self,
        seq: Option<u64>,
        user: &User,
        token: &str,
        last_seq: u64,
    ) -> Result<(), ProtoError> {
        let id = reconnect::room_of(token)
            .ok_or_else(|| ProtoError::new("invalid_token", "malformed reconnect token"))?
            .to_string();
        if self.room.as_deref() == Some(id.as_str()) {
            return Err(ProtoError::new(
                "already_in_room",
                "you are in this room already",
            ));
        }
        if self.room.is_some() {
            self.leave(false);
        }
        let now = now_ms();
        let mut rooms = self.shard.app.games.rooms.borrow_mut();
        let expired = || {
            ProtoError::new(
                "invalid_token",
                "unknown or expired reconnect token (the seat was freed)",
            )
        };
        let room = rooms.get_mut(&id).ok_or_else(expired)?;
        let i = room
            .seats
            .iter()
            .position(|s| s.as_ref().is_some_and(|s| reconnect::same(&s.token, token)))
            .ok_or_else(expired)?;
        let seat = room.seats[i].as_ref().expect("found above");
        if seat.user.id != user.id {
            return Err(ProtoError::new(
                "forbidden",
                "this seat belongs to another account",
            ));
        }
        if let Some(old) = seat.conn {
            // A half-open old socket: it loses the seat to the new one.
            if let Some(m) = room.member(old) {
                m.outbox
                    .kill(Some(ws::close_frame(4000, "reconnected elsewhere")));
            }
            room.members.retain(|m| m.conn != old);
        }
        let new_token = room.take_seat(i, user, self.entry.id);
        room.members.push(self.member(user));
        let (missed, complete) = room.missed(last_seq);
        let mut state = room.state_json(now);
        state.as_object_mut().map(|o| o.remove("type"));
        self.send(
            json!({"type": "reconnected", "seq": seq, "room": id, "seat": i,
            "reconnect_token": new_token, "state": state, "missed": missed,
            "missed_complete": complete}),
        );
        room.emit(json!({"type": "player_reconnected", "seat": i, "user_id": user.id}));
        drop(rooms);
        self.room = Some(id);
        Ok(())
    }

    async fn queue(
        &mut self,
        seq: Option<u64>,
        user: &User,
        mode: &str,
        region: &str,
        party: &[String],
    ) -> Result<(), ProtoError> {
        if self.room.is_some() {
            return Err(ProtoError::new(
                "already_in_room",
                "leave your room before queueing",
            ));
        }
        if let Some((key, ticket)) = self.state.queued.clone() {
            // A ticket that was matched (or expired) no longer holds the session.
            let owner = shard_for(&key, self.shard.shards());
            let status = ask(self.shard, owner, |reply| GameMsg::Ticket {
                id: ticket,
                user: user.id,
                reply,
            })
            .await
            .flatten();
            if status.is_none_or(|v| v["status"] != "queued") {
                self.state.queued = None;
            }
        }
        if self.state.queued.is_some() {
            return Err(ProtoError::new(
                "already_queued",
                "cancel your ticket first",
            ));
        }
        let spec = matchmaking::mode(mode)
            .ok_or_else(|| ProtoError::new("unknown_mode", format!("no mode `{mode}`")))?;
        let mut users = vec![user.clone()];
        let now_s = storage::now_ms() / 1000;
        for t in party {
            let c = self
                .shard
                .app
                .services
                .tokens
                .verify(t, now_s)
                .map_err(|_| {
                    ProtoError::new("invalid_token", "a party member's token is invalid")
                })?;
            if users.iter().all(|u| u.id != c.sub) {
                users.push(User {
                    id: c.sub,
                    name: protocol::sanitize_name(&c.name).unwrap_or_default(),
                });
            }
        }
        let notify = Notify::Ws {
            shard: self.shard.id,
            conn: self.entry.id,
        };
        let (key, id) = enqueue(self.shard, spec, region, users, notify, None).await?;
        self.state.queued = Some((key, id.clone()));
        self.send(
            json!({"type": "queued", "seq": seq, "ticket": id, "mode": mode,
            "region": region}),
        );
        Ok(())
    }

    /// Withdraw this session's ticket (if any); true if it was still queued.
    async fn cancel_queue(&mut self) -> bool {
        let Some((key, ticket)) = self.state.queued.take() else {
            return false;
        };
        let Some(user) = self.state.user.as_ref().map(|u| u.id) else {
            return false;
        };
        let owner = shard_for(&key, self.shard.shards());
        ask(self.shard, owner, |reply| {
            GameMsg::Cancel(Box::new(CancelReq {
                key,
                ticket: Some(ticket),
                user,
                reply,
            }))
        })
        .await
        .unwrap_or(false)
    }
}

fn not_in_room() -> ProtoError {
    ProtoError::new("not_in_room", "join a room first")
}

/// Put `users` (one ticket) into the (mode, region) queue on its owner
/// shard. Ratings come from storage unless `ratings` overrides them (test
/// hooks only). Returns the queue key and the ticket id.
pub async fn enqueue(
    shard: &Rc<Shard>,
    spec: matchmaking::ModeSpec,
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
        members.push(MmMember {
            user_id: u.id,
            name: u.name,
            rating,
        });
    }
    let key = super::queue_key(spec.name, region);
    let id = super::ticket_id(shard, spec.name, region);
    let ticket = Ticket {
        id: id.clone(),
        members,
        enqueued_ms: now_ms(),
        notify,
    };
    let owner = shard_for(&key, shard.shards());
    let k = key.clone();
    match ask(shard, owner, |reply| {
        GameMsg::Enqueue(Box::new(EnqueueReq {
            key: k,
            mode: spec,
            ticket,
            reply,
        }))
    })
    .await
    {
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
