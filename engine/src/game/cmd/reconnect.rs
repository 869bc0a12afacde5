//! `reconnect {token, last_seq}` (on the room's owner): take the seat back with its single-use
//! token, replay the events after `last_seq` that are still in the room's log, and tell the
//! room. A half-open old socket holding the seat loses it (close 4000).

use crate::game::events::{RoomEvent, ServerEvent};
use crate::game::now_ms;
use crate::game::protocol::ProtoError;
use crate::game::reconnect as tokens;
use crate::game::rooms::User;
use crate::ws;

use super::{rooms, Cmd};

/// `reconnect` → `reconnected {room, seat, reconnect_token, state, missed, missed_complete}`,
/// and `player_reconnected` to the room.
pub fn reconnect(
    c: &mut Cmd<'_>,
    seq: Option<u64>,
    user: &User,
    token: &str,
    last_seq: u64,
) -> Result<(), ProtoError> {
    let id = tokens::room_of(token)
        .ok_or_else(|| ProtoError::new("invalid_token", "malformed reconnect token"))?
        .to_string();
    if c.room.as_deref() == Some(id.as_str()) {
        return Err(ProtoError::new(
            "already_in_room",
            "you are in this room already",
        ));
    }
    if c.room.is_some() {
        rooms::leave(c, false);
    }
    let now = now_ms();
    let shard = c.shard().clone();
    let mut all = shard.app.games.rooms.borrow_mut();
    let expired = || {
        ProtoError::new(
            "invalid_token",
            "unknown or expired reconnect token (the seat was freed)",
        )
    };
    let room = all.get_mut(&id).ok_or_else(expired)?;
    let i = room
        .seats
        .iter()
        .position(|s| s.as_ref().is_some_and(|s| tokens::same(&s.token, token)))
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
    let new_token = room.take_seat(i, user, c.conn());
    room.members.push(c.member(user));
    let (missed, missed_complete) = room.missed(last_seq);
    c.send(ServerEvent::Reconnected {
        seq,
        room: id.clone(),
        seat: i,
        reconnect_token: new_token,
        state: room.state(now),
        missed,
        missed_complete,
        owner_url: c.owner_url(),
    });
    room.emit(RoomEvent::PlayerReconnected {
        seat: i,
        user_id: user.id,
    });
    drop(all);
    *c.room = Some(id);
    Ok(())
}
