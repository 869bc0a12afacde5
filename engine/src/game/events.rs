//! Every message the server sends on `GET /ws`, as types, serialised in one place.
//!
//! [`ServerEvent`] is what one socket receives (answers that echo the client's `seq`,
//! `match_found`, `server_shutdown`); [`RoomEvent`] is what every member of a room receives,
//! numbered by the room (`room`, `room_seq` are added by [`RoomEvent::encode`]). Both
//! serialise with `type` first and the field names of docs/games.md. Nothing here touches a
//! room or a socket: callers push the encoded frames.

use std::rc::Rc;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use shards::Frame;

use super::chess::Reason;
use super::rooms::User;
use super::views::{GameView, PartyView, RoomState, RoomSummary};
use crate::ws;

/// A message to one socket.
#[derive(Debug, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerEvent {
    /// A refused message (the socket stays open).
    Error {
        code: &'static str,
        message: String,
        seq: Option<u64>,
    },
    /// A message that needs no other answer was applied.
    Ok(Done),
    Welcome {
        seq: Option<u64>,
        user: User,
        shard: usize,
    },
    Pong {
        seq: Option<u64>,
    },
    Rooms {
        seq: Option<u64>,
        rooms: Vec<RoomSummary>,
    },
    Joined {
        seq: Option<u64>,
        room: String,
        role: Role,
        seat: Option<usize>,
        reconnect_token: Option<String>,
        state: RoomState,
        /// In a cluster: the base URL of the node that owns the room (connect there directly
        /// to skip the hop).
        #[serde(skip_serializing_if = "Option::is_none")]
        #[cfg_attr(test, ts(optional))]
        owner_url: Option<String>,
    },
    RoomState {
        #[serde(flatten)]
        state: RoomState,
        seq: Option<u64>,
    },
    Reconnected {
        seq: Option<u64>,
        room: String,
        seat: usize,
        reconnect_token: String,
        state: RoomState,
        /// The events after `last_seq` still in the room's log, as they were sent.
        #[cfg_attr(test, ts(type = "Array<RoomEventMessage>"))]
        missed: Vec<Box<RawValue>>,
        missed_complete: bool,
        #[serde(skip_serializing_if = "Option::is_none")]
        #[cfg_attr(test, ts(optional))]
        owner_url: Option<String>,
    },
    Queued {
        seq: Option<u64>,
        ticket: String,
        mode: String,
        region: String,
    },
    QueueCancelled {
        seq: Option<u64>,
        removed: bool,
    },
    MatchFound(MatchFound),
    ServerShutdown {
        reason: &'static str,
        /// In a cluster: another node to reconnect to.
        #[serde(skip_serializing_if = "Option::is_none")]
        #[cfg_attr(test, ts(optional))]
        reconnect_url: Option<String>,
    },
}

/// The body of `ok`: the fields an action answers with.
#[derive(Debug, Default, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct Done {
    pub seq: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(test, ts(optional))]
    pub room_seq: Option<u64>,
    /// A chess move: whether its snapshot is durable.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(test, ts(optional))]
    pub saved: Option<bool>,
    /// A party slot claimed: the seat's token.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(test, ts(optional))]
    pub reconnect_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(test, ts(optional))]
    pub seat: Option<usize>,
}

/// A member's role in a room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Player,
    Spectator,
}

/// A player of a formed match.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct MatchPlayer {
    pub seat: usize,
    pub user_id: i64,
    pub name: String,
}

/// `match_found`: pushed to a queued socket, kept on an HTTP ticket.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct MatchFound {
    pub ticket: String,
    pub room: String,
    pub mode: &'static str,
    #[cfg_attr(test, ts(as = "super::protocol::Kind"))]
    pub kind: &'static str,
    pub team: usize,
    pub seats: Vec<usize>,
    pub players: Vec<MatchPlayer>,
    pub rating_spread: f64,
    /// In a cluster: the base URL of the node that owns the match's room.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(test, ts(optional))]
    pub owner_url: Option<String>,
}

impl ServerEvent {
    /// The event as JSON text.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The event as one WebSocket text frame.
    pub fn frame(&self) -> Frame {
        ws::text_frame(self.to_json().as_bytes())
    }
}

/// Remaining ms of each side.
#[derive(Debug, Clone, Copy, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct Clocks {
    pub white: u64,
    pub black: u64,
}

/// What happened in a room (every member hears it).
#[derive(Debug, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum RoomEvent {
    PlayerJoined {
        user_id: i64,
        name: String,
        seat: Option<usize>,
        role: Role,
    },
    /// A spectator left.
    PlayerLeft {
        user_id: Option<i64>,
    },
    /// A player's socket went away: the seat is held.
    PlayerDisconnected {
        seat: usize,
        user_id: Option<i64>,
        grace_ms: u64,
    },
    PlayerReconnected {
        seat: usize,
        user_id: i64,
    },
    SeatFreed {
        seat: usize,
        user_id: Option<i64>,
        reason: &'static str,
    },
    GameStarted {
        white: Option<User>,
        black: Option<User>,
        game: GameView,
    },
    Move {
        #[cfg_attr(test, ts(as = "super::chess::Side"))]
        by: &'static str,
        uci: String,
        san: String,
        fen: String,
        ply: usize,
        clocks: Clocks,
    },
    DrawOffered {
        #[cfg_attr(test, ts(as = "super::chess::Side"))]
        by: &'static str,
    },
    DrawDeclined {
        #[cfg_attr(test, ts(as = "super::chess::Side"))]
        by: &'static str,
    },
    GameOver {
        #[cfg_attr(test, ts(as = "super::ts::GameResult"))]
        result: &'static str,
        #[cfg_attr(test, ts(as = "Option<super::chess::Side>"))]
        winner: Option<&'static str>,
        reason: Reason,
        pgn: String,
    },
    Party {
        action: &'static str,
        #[serde(skip_serializing_if = "Option::is_none")]
        #[cfg_attr(test, ts(optional))]
        by: Option<i64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        #[cfg_attr(test, ts(optional))]
        slot: Option<usize>,
        game: PartyView,
    },
}

/// A room event with the room's numbering.
#[derive(Serialize)]
struct Numbered<'a> {
    #[serde(flatten)]
    event: &'a RoomEvent,
    room: &'a str,
    room_seq: u64,
}

impl RoomEvent {
    /// Encode once for every member: the frame and its text (kept in the room's log).
    pub fn encode(&self, room: &str, room_seq: u64) -> (Frame, Rc<str>) {
        let text = serde_json::to_string(&Numbered {
            event: self,
            room,
            room_seq,
        })
        .unwrap_or_default();
        (ws::text_frame(text.as_bytes()), Rc::from(text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    #[test]
    fn events_serialise_with_their_documented_fields() {
        let e = ServerEvent::Error {
            code: "illegal_move",
            message: "illegal move in this position".into(),
            seq: Some(7),
        };
        let v: Value = serde_json::from_str(&e.to_json()).unwrap();
        assert_eq!(
            v,
            json!({"type": "error", "code": "illegal_move",
                   "message": "illegal move in this position", "seq": 7})
        );
        assert!(e.to_json().starts_with(r#"{"type":"error""#));
        let ok = ServerEvent::Ok(Done {
            seq: None,
            room_seq: Some(3),
            saved: Some(true),
            ..Done::default()
        });
        let v: Value = serde_json::from_str(&ok.to_json()).unwrap();
        assert_eq!(
            v,
            json!({"type": "ok", "seq": null, "room_seq": 3, "saved": true})
        );
        let (_, text) = RoomEvent::DrawOffered { by: "white" }.encode("c-1", 4);
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            v,
            json!({"type": "draw_offered", "by": "white", "room": "c-1", "room_seq": 4})
        );
    }
}
