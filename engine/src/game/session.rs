//! One typed WebSocket session of `GET /ws`.
//!
//! The reader decodes frames from the shard's scratch buffer (as relay
//! sessions do) and queues the text messages; each is then parsed
//! ([`protocol::parse`]) and handled in order, which may await (storage,
//! other shards). Every refused message gets a typed `error` reply echoing
//! its `seq`; only WebSocket protocol violations close the socket. The writer
//! drains the session's outbox.
//!
//! A session lives on the shard that accepted it until it joins (or
//! reconnects to) a room owned by another shard: then it stops reading at the
//! message boundary, lets its writer flush, and moves — dup'ed fd, session
//! state, undecoded bytes and the messages still to handle — to the owner in
//! `GameMsg::Adopt`, which replays the `join_room`/`reconnect` there. From
//! then on every message of the room is handled on the room's core.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{FromRawFd, IntoRawFd, OwnedFd};
use std::rc::Rc;
use std::time::{Duration, Instant};

use glommio::net::TcpStream;
use glommio::spawn_local;
use serde_json::{json, Value};
use shards::outbox::OutState;
use shards::stats::Disconnect;
use shards::{shard_for, stats, Outbox, RoomId};
use tungstenite::protocol::frame::coding::{Control, Data, OpCode};

use super::chess::{ChessGame, Side};
use super::matchmaking::{self, Member as MmMember, Notify, QueueError, Ticket};
use super::party::{PartyError, PartyGame};
use super::protocol::{self, ClientMsg, JoinAs, ProtoError, Settings};
use super::rooms::{Game, Member, Room, User};
use super::{ask, chess_finished, now_ms, reconnect, record, GameMsg, Moving, SessionState};
use crate::io::{self, Stream};
use crate::limits::{self, Admit, WsRate};
use crate::shard::{fd_of, ConnEntry, Shard};
use crate::ws::{self, Decoder, Flow, WsError, WsEvent};
use crate::{conn, log};

/// Serve a session socket handed over by another shard.
pub async fn adopt(shard: Rc<Shard>, m: Box<Moving>) {
    let Moving {
        fd,
        peer,
        slot_ip,
        state,
        inbox,
        pending,
    } = *m;
    // SAFETY: the fd was dup'ed for us by the sending shard and is owned by
    // `fd`; ownership passes to the new stream.
    let stream = unsafe { TcpStream::from_raw_fd(fd.into_raw_fd()) };
    let entry = shard.register(fd_of(&stream), peer);
    let work = run(
        &shard,
        Rc::new(RefCell::new(stream)),
        &entry,
        slot_ip,
        pending,
        state,
        inbox,
    );
    if let Err(panic) =
        futures_lite::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(work)).await
    {
        conn::crashed(&shard, &entry, &*panic);
    }
    shard.deregister(&entry);
}

/// What the session does after a message.
enum Next {
    Continue,
    /// Move to this shard (the message is handled there).
    Migrate(usize),
}

struct Session<'a> {
    shard: &'a Rc<Shard>,
    entry: &'a Rc<ConnEntry>,
    outbox: Rc<Outbox>,
    state: SessionState,
    /// The room (owned by this shard) this socket is in.
    room: Option<String>,
}

fn text(v: &Value) -> shards::Frame {
    ws::encode(OpCode::Data(Data::Text), v.to_string().as_bytes())
}

/// Run the session until the socket closes or moves to another shard.
/// `slot_ip` holds a WebSocket slot (per-IP limits), given back at the end
/// (or carried along when the socket moves).
pub async fn run(
    shard: &Rc<Shard>,
    stream: Rc<Stream>,
    entry: &Rc<ConnEntry>,
    slot_ip: Option<IpAddr>,
    mut partial: Vec<u8>,
    state: SessionState,
    replay: Vec<Vec<u8>>,
) {
    let cfg = shard.config.clone();
    let outbox = Outbox::new(cfg.ws_max_buffered_bytes);
    *entry.outbox.borrow_mut() = Some(outbox.clone());
    entry.last_ping.set(Instant::now());
    stats::inc(&shard.stats.websockets);
    let writer = spawn_local(writer(stream.clone(), entry.fd, outbox.clone()));
    let mut s = Session {
        shard,
        entry,
        outbox: outbox.clone(),
        state,
        room: None,
    };
    let inbox: RefCell<VecDeque<Vec<u8>>> = RefCell::new(replay.into());
    let mut decoder = Decoder::new(cfg.ws_max_message_bytes);
    let mut rate = WsRate::new(Instant::now());
    let mut done = false;
    let mut migrate_to = None;
    'outer: loop {
        loop {
            let next = inbox.borrow_mut().pop_front();
            let Some(msg) = next else { break };
            if outbox.state() != OutState::Open {
                break 'outer;
            }
            match s.handle(&msg).await {
                Next::Continue => {}
                Next::Migrate(owner) => {
                    inbox.borrow_mut().push_front(msg);
                    migrate_to = Some(owner);
                    break 'outer;
                }
            }
        }
        if done || outbox.state() != OutState::Open {
            break;
        }
        let mut on_event = |ev: WsEvent<'_>| -> Flow {
            match ev {
                WsEvent::Message {
                    text: is_text,
                    payload,
                } => {
                    stats::inc(&shard.stats.ws_messages_in_total);
                    if rate.admit(&cfg, payload.len(), Instant::now()) != Admit::Ok {
                        let _ = outbox.push_control(text(&json!({
                            "type": "error", "code": "rate_limited",
                            "message": "message rate limit exceeded; message dropped"})));
                        return Flow::Continue;
                    }
                    if is_text {
                        inbox.borrow_mut().push_back(payload.to_vec());
                    } else {
                        let _ = outbox.push_control(text(&json!({
                            "type": "error", "code": "invalid_message",
                            "message": "binary messages are not supported; send JSON text"})));
                    }
                    Flow::Continue
                }
                WsEvent::Ping(p) => {
                    let _ = outbox.push_control(ws::encode(OpCode::Control(Control::Pong), p));
                    Flow::Continue
                }
                WsEvent::Pong(_) => {
                    entry.ping_sent.set(None);
                    Flow::Continue
                }
                WsEvent::Close { code, .. } => {
                    outbox.set_reason(Disconnect::ClientClose);
                    outbox.close_with(Some(ws::close_frame(code.unwrap_or(1000), "")));
                    Flow::Stop
                }
            }
        };
        let fail = |e: WsError| {
            stats::inc(&shard.stats.ws_protocol_errors_total);
            outbox.set_reason(Disconnect::ProtocolError);
            outbox.close_with(Some(ws::close_frame(e.close_code(), e.reason())));
        };
        if !partial.is_empty() && !decoder.in_fragment() {
            // Bytes that arrived with the handshake (or the hand-off).
            match decoder.decode(&mut partial, &mut on_event) {
                Ok(n) => {
                    partial.drain(..n);
                }
                Err(e) => {
                    fail(e);
                    done = true;
                }
            }
            if !inbox.borrow().is_empty() || done {
                continue;
            }
        }
        let n = match io::read_some(&stream, &shard.scratch).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        partial.extend_from_slice(&shard.scratch.borrow()[..n]);
        match decoder.decode(&mut partial, &mut on_event) {
            Ok(used) => {
                partial.drain(..used);
                if partial.is_empty() {
                    partial = Vec::new();
                }
            }
            Err(e) => {
                fail(e);
                done = true;
            }
        }
    }

    if let Some(owner) = migrate_to {
        if s.room.is_some() {
            s.leave(false);
        }
        // Flush what is queued, then hand the socket over.
        outbox.close_with(None);
        entry
            .deadline
            .set(Some(Instant::now() + cfg.ws_close_timeout));
        writer.await;
        entry.deadline.set(None);
        stats::dec(&shard.stats.websockets);
        *entry.outbox.borrow_mut() = None;
        let inbox = inbox.into_inner();
        hand_off(
            shard, stream, entry.peer, owner, slot_ip, s.state, inbox, partial,
        )
        .await;
        return;
    }
    s.end().await;
    if outbox.state() == OutState::Open {
        outbox.set_reason(Disconnect::Eof);
        outbox.kill(None);
    }
    entry
        .deadline
        .set(Some(Instant::now() + cfg.ws_close_timeout));
    writer.await;
    let reason = outbox.reason().unwrap_or(Disconnect::Eof);
    shard.stats.disconnects.inc(reason as usize);
    stats::dec(&shard.stats.websockets);
    *entry.outbox.borrow_mut() = None;
    if let Some(ip) = slot_ip {
        limits::release_ws_slot(shard, ip);
    }
}

#[allow(clippy::too_many_arguments)]
async fn hand_off(
    shard: &Rc<Shard>,
    stream: Rc<Stream>,
    peer: SocketAddr,
    owner: usize,
    slot_ip: Option<IpAddr>,
    state: SessionState,
    inbox: VecDeque<Vec<u8>>,
    pending: Vec<u8>,
) {
    let fd = fd_of(&stream.borrow());
    // SAFETY: dup of a socket we own; the copy is owned by `OwnedFd` and the
    // original is closed when `stream` drops.
    let dup = unsafe { libc::dup(fd) };
    drop(stream);
    let release = || {
        if let Some(ip) = slot_ip {
            limits::release_ws_slot(shard, ip);
        }
    };
    if dup < 0 {
        log!(Warn, "cannot hand game socket to owner shard");
        release();
        return;
    }
    // SAFETY: `dup` is a fresh descriptor nobody else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(dup) };
    let msg = GameMsg::Adopt(Box::new(Moving {
        fd,
        peer,
        slot_ip,
        state,
        inbox: inbox.into_iter().collect(),
        pending,
    }));
    let boxed: Box<dyn std::any::Any + Send> = Box::new(msg);
    match shard
        .mesh
        .send(owner, shards::ShardMsg::Game { msg: boxed })
        .await
    {
        Ok(()) => stats::inc(&shard.stats.migrated_out_total),
        Err(e) => {
            log!(Warn, "cannot hand game socket to owner shard", error = e);
            release();
        }
    }
}

/// Drain the outbox into the socket until the session closes.
async fn writer(stream: Rc<Stream>, fd: i32, outbox: Rc<Outbox>) {
    loop {
        std::future::poll_fn(|cx| outbox.poll_ready(cx)).await;
        match outbox.state() {
            OutState::Open => {
                if io::flush_outbox(&stream, fd, &outbox).await.is_err() {
                    outbox.kill(None);
                    io::shutdown(fd);
                    return;
                }
            }
            OutState::Closing => {
                if io::flush_outbox(&stream, fd, &outbox).await.is_err() {
                    io::shutdown(fd);
                }
                return;
            }
            OutState::Dead => {
                let _ = io::try_send_outbox(fd, &outbox);
                io::shutdown(fd);
                return;
            }
        }
    }
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

    async fn handle(&mut self, raw: &[u8]) -> Next {
        let (seq, parsed) = protocol::parse(raw);
        let msg = match parsed {
            Ok(m) => m,
            Err(e) => {
                self.shard
                    .stats
                    .validation_errors
                    .inc(shards::stats::Validation::Ws as usize);
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
            let c =
                self.shard.services.tokens.verify(token, now).map_err(|e| {
                    ProtoError::new("unauthenticated", format!("token refused: {e:?}"))
                })?;
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
                let rooms = self.shard.games.rooms.borrow();
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
        while !self.shard.games.restored.get() && Instant::now() < until {
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
        let games = &self.shard.games;
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
        let limit = self.shard.config.max_room_creates_per_ip_per_min;
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
            let mut rooms = self.shard.games.rooms.borrow_mut();
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
    fn leave(&mut self, explicit: bool) {
        let Some(id) = self.room.take() else { return };
        let now = now_ms();
        let grace = self.shard.games.cfg.grace_ms;
        let mut records = Vec::new();
        if let Some(room) = self.shard.games.rooms.borrow_mut().get_mut(&id) {
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

    async fn end(&mut self) {
        self.leave(false);
        self.cancel_queue().await;
    }

    fn in_room<T>(
        &self,
        f: impl FnOnce(&mut Room, u64, u64) -> Result<T, ProtoError>,
    ) -> Result<T, ProtoError> {
        let id = self.room.clone().ok_or_else(not_in_room)?;
        let mut rooms = self.shard.games.rooms.borrow_mut();
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
        let staged = self.in_room(|room, conn, now| {
            let side = Self::side(room, conn)?;
            let Game::Chess(g) = &mut room.game else {
                unreachable!("checked by side()")
            };
            if let Some(f) = g.tick(now) {
                records.extend(chess_finished(room, f, now));
                return Err(ProtoError::new("game_over", "your flag fell"));
            }
            let p = g
                .play(side, mv, now)
                .map_err(|e| ProtoError::new(e.code(), e.message()))?;
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
        if let Some(room) = self.shard.games.rooms.borrow_mut().get_mut(&id) {
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
        let mut rooms = self.shard.games.rooms.borrow_mut();
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
        let missed = room.missed(last_seq);
        let mut state = room.state_json(now);
        state.as_object_mut().map(|o| o.remove("type"));
        self.send(
            json!({"type": "reconnected", "seq": seq, "room": id, "seat": i,
            "reconnect_token": new_token, "state": state, "missed": missed}),
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
            let c = self.shard.services.tokens.verify(t, now_s).map_err(|_| {
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
        ask(self.shard, owner, |reply| GameMsg::Cancel {
            key,
            ticket: Some(ticket),
            user,
            reply,
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
    shard: &Shard,
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
    let ticket = Box::new(Ticket {
        id: id.clone(),
        members,
        enqueued_ms: now_ms(),
        notify,
    });
    let owner = shard_for(&key, shard.shards());
    let k = key.clone();
    match ask(shard, owner, |reply| GameMsg::Enqueue {
        key: k,
        mode: spec,
        ticket,
        reply,
    })
    .await
    {
        Some(Ok(())) => Ok((key, id)),
        Some(Err(QueueError::AlreadyQueued)) => Err(ProtoError::new(
            "already_queued",
            "a member of this ticket is already queued",
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
