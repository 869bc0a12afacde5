//! Room membership: `list_rooms`, `create_room`, `join_room`, `leave_room` and `state`, and
//! leaving when the socket goes away (the seat is then held for the grace period).

use crate::game::chess::ChessGame;
use crate::game::events::{Done, Role, RoomEvent, ServerEvent};
use crate::game::party::PartyGame;
use crate::game::protocol::{JoinAs, Kind, ProtoError, Settings};
use crate::game::rooms::{Game, Room, User};
use crate::game::{chess_finished, now_ms, record, room_id, service};
use crate::limits::{self, RateClass};

use super::{not_in_room, party::perr, queue, Cmd};

/// `list_rooms` → `rooms`, gathered from every shard.
pub async fn list(c: &mut Cmd<'_>, seq: Option<u64>, kind: Option<Kind>) {
    let rooms = service::list_rooms(c.shard(), kind).await;
    c.send(ServerEvent::Rooms { seq, rooms });
}

/// `create_room` → `joined` (in chess the creator takes white). The room gets an id this
/// shard owns, so creating never moves the socket.
pub async fn create(
    c: &mut Cmd<'_>,
    seq: Option<u64>,
    user: &User,
    name: String,
    settings: Settings,
) -> Result<(), ProtoError> {
    if c.room.is_some() {
        return Err(ProtoError::new(
            "already_in_room",
            "leave your room before creating another",
        ));
    }
    c.wait_restored().await;
    let shard = c.shard().clone();
    let games = &shard.app.games;
    if games.rooms.borrow().len() >= games.per_shard_limit(shard.shards()) {
        return Err(ProtoError::new(
            "too_many_rooms",
            format!(
                "the server holds the most game rooms it may (MAX_ROOMS={})",
                games.cfg.max_rooms
            ),
        ));
    }
    let per_min = shard.app.config.limits.max_room_creates_per_ip_per_min;
    if per_min > 0 {
        let ip = c.ip;
        let d = limits::rate_check(&shard, ip, RateClass::RoomCreate, per_min).await;
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
    queue::withdraw(c).await;
    let now = now_ms();
    let (prefix, game) = match settings {
        Settings::Chess(s) => ("c", Game::Chess(ChessGame::new(s.time_control()?))),
        Settings::Party(p) => ("p", Game::Party(PartyGame::new(user.id, p).map_err(perr)?)),
    };
    let (id, epoch) = match &shard.app.cluster {
        Some(cl) => {
            let id = crate::cluster::games::local_room_id(cl, prefix, &shard);
            let epoch = crate::cluster::games::claim_new(cl, &id).await;
            (id, epoch)
        }
        None => (room_id(prefix, &shard, true), 0),
    };
    shards::stats::inc(&shard.app.stats.games_created_total);
    let mut room = Room::new(id.clone(), name, game, now);
    room.epoch = epoch;
    room.members.push(c.member(user));
    let (seat, token) = match room.game {
        Game::Chess(_) => (Some(0), Some(room.take_seat(0, user, c.conn()))),
        Game::Party(_) => (None, None),
    };
    let state = room.state(now);
    games.rooms.borrow_mut().insert(id.clone(), room);
    *c.room = Some(id.clone());
    c.send(ServerEvent::Joined {
        seq,
        room: id,
        role: Role::Player,
        seat,
        reconnect_token: token,
        state,
        owner_url: c.owner_url(),
    });
    Ok(())
}

/// `join_room` (on the room's owner) → `joined`, and `player_joined` to the room; a chess
/// game starts when both seats are taken.
pub fn join(
    c: &mut Cmd<'_>,
    seq: Option<u64>,
    user: &User,
    id: &str,
    role: JoinAs,
) -> Result<(), ProtoError> {
    let now = now_ms();
    let mut records = Vec::new();
    {
        let mut rooms = c.shard().app.games.rooms.borrow_mut();
        let room = rooms
            .get_mut(id)
            .ok_or_else(|| ProtoError::new("not_found", "no such room"))?;
        let conn = c.conn();
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
                            ProtoError::new("room_full", "both seats are taken; join as spectator")
                        })?;
                        token = Some(room.take_seat(i, user, conn));
                        seat = Some(i);
                    }
                    Game::Party(p) => {
                        // A matched player gets its reserved slot at once.
                        if let Some(i) = room.reserved.iter().position(|r| *r == Some(user.id)) {
                            p.claim(user.id, i, &user.name).map_err(perr)?;
                            token = Some(room.take_seat(i, user, conn));
                            seat = Some(i);
                        }
                    }
                }
            }
        }
        room.members.push(c.member(user));
        let role = if seat.is_some() {
            Role::Player
        } else {
            Role::Spectator
        };
        c.send(ServerEvent::Joined {
            seq,
            room: id.to_string(),
            role,
            seat,
            reconnect_token: token,
            state: room.state(now),
            owner_url: c.owner_url(),
        });
        room.emit(RoomEvent::PlayerJoined {
            user_id: user.id,
            name: user.name.clone(),
            seat,
            role,
        });
        if let Game::Chess(g) = &mut room.game {
            if !g.started() && room.seats.iter().all(Option::is_some) {
                g.start(now);
                room.players = room
                    .seats
                    .iter()
                    .map(|s| s.as_ref().map(|s| s.user.clone()))
                    .collect();
                let game = room.game_view(now);
                room.emit(RoomEvent::GameStarted {
                    white: room.players[0].clone(),
                    black: room.players[1].clone(),
                    game,
                });
            }
        }
        if let Game::Chess(g) = &mut room.game {
            if let Some(f) = g.tick(now) {
                records.extend(chess_finished(room, f, now));
            }
        }
    }
    *c.room = Some(id.to_string());
    for r in records {
        record(c.shard(), r);
    }
    Ok(())
}

/// `leave_room` → `ok`; a held seat is freed at once.
pub fn leave_cmd(c: &mut Cmd<'_>, seq: Option<u64>) -> Result<(), ProtoError> {
    if c.room.is_none() {
        return Err(not_in_room());
    }
    leave(c, true);
    c.ok(seq, Done::default());
    Ok(())
}

/// `state` → `room_state`.
pub fn state(c: &mut Cmd<'_>, seq: Option<u64>) -> Result<(), ProtoError> {
    let state = c.in_room(|room, _, now| Ok(room.state(now)))?;
    c.send(ServerEvent::RoomState { state, seq });
    Ok(())
}

/// Leave the current room: `explicit` frees the seat now, otherwise (the socket dropped or
/// moves) the seat is held for the grace period.
pub fn leave(c: &mut Cmd<'_>, explicit: bool) {
    let Some(id) = c.room.take() else { return };
    let now = now_ms();
    let shard = c.shard().clone();
    let grace = shard.app.games.cfg.grace_ms();
    let mut records = Vec::new();
    if let Some(room) = shard.app.games.rooms.borrow_mut().get_mut(&id) {
        let user = c.state.user.as_ref().map(|u| u.id);
        if let Some(i) = room.disconnect(c.conn(), now + grace) {
            if explicit {
                let fin = room.free_seat(i, now);
                room.emit(RoomEvent::SeatFreed {
                    seat: i,
                    user_id: user,
                    reason: "left",
                });
                if let Some(f) = fin {
                    records.extend(chess_finished(room, f, now));
                }
            } else {
                room.emit(RoomEvent::PlayerDisconnected {
                    seat: i,
                    user_id: user,
                    grace_ms: grace,
                });
            }
        } else {
            room.emit(RoomEvent::PlayerLeft { user_id: user });
        }
    }
    for r in records {
        record(&shard, r);
    }
}
