//! Game rooms on their owner shard: members, seats, the event log, snapshots.
//!
//! A [`Room`] holds one game ([`chess`](super::chess) or
//! [`party`](super::party)), the sockets in it (players and spectators, each
//! with its outbox), the seats (who plays, their reconnect token, whether the
//! socket is connected or the seat is held for the grace period), and the last
//! [`LOG_MAX`] events by `room_seq` so a reconnecting player gets what it
//! missed. Every event is encoded once and the same frame is pushed to every
//! member. Rooms are plain data owned by one shard (no locks).

use std::collections::VecDeque;
use std::rc::Rc;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use shards::Outbox;

use super::chess::{ChessGame, ChessSnap, Finish, Side};
use super::events::RoomEvent;
use super::party::{PartyGame, Phase};
use super::protocol::Kind;
use super::reconnect;

/// Events kept per room for reconnecting players.
pub const LOG_MAX: usize = 128;

/// An authenticated player.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct User {
    pub id: i64,
    pub name: String,
}

/// A socket in a room.
#[derive(Debug)]
pub struct Member {
    pub conn: u64,
    pub user: User,
    pub outbox: Rc<Outbox>,
}

/// A claimed seat.
#[derive(Debug, Clone)]
pub struct Seat {
    pub user: User,
    pub token: String,
    /// The connected socket, if any.
    pub conn: Option<u64>,
    /// While disconnected: when the seat is freed (ms).
    pub held_until: Option<u64>,
}

/// The game of a room.
#[derive(Debug)]
pub enum Game {
    Chess(ChessGame),
    Party(PartyGame),
}

/// One game room.
#[derive(Debug)]
pub struct Room {
    pub id: String,
    pub name: String,
    pub game: Game,
    /// Chess: 0 = white, 1 = black. Party: one per slot.
    pub seats: Vec<Option<Seat>>,
    /// Seats reserved for matched players (by user id).
    pub reserved: Vec<Option<i64>>,
    /// Chess: who played white and black (kept after seats are freed).
    pub players: Vec<Option<User>>,
    pub members: Vec<Member>,
    log: VecDeque<(u64, Rc<str>)>,
    /// `room_seq` of the last event.
    pub seq: u64,
    /// Bumped on every change; `saved` is the version last written.
    pub version: u64,
    pub saved: u64,
    pub created_at: u64,
    /// The finished game was handed to storage.
    pub recorded: bool,
    /// Mode name when created by the matchmaker.
    pub mode: Option<String>,
    /// The owner epoch of this node's claim on the room (cluster fencing; 0 on one node).
    pub epoch: i64,
}

/// The persisted form of a room.
#[derive(Debug, Serialize, Deserialize)]
pub struct RoomSnap {
    pub id: String,
    pub name: String,
    pub kind: Kind,
    pub seats: Vec<Option<SeatSnap>>,
    pub reserved: Vec<Option<i64>>,
    pub players: Vec<Option<User>>,
    pub seq: u64,
    pub created_at: u64,
    pub saved_at: u64,
    pub recorded: bool,
    pub mode: Option<String>,
    pub chess: Option<ChessSnap>,
    pub party: Option<PartyGame>,
}

/// A seat as persisted (the socket is not).
#[derive(Debug, Serialize, Deserialize)]
pub struct SeatSnap {
    pub user: User,
    pub token: String,
}

impl Room {
    pub fn new(id: String, name: String, game: Game, now: u64) -> Room {
        let n = match &game {
            Game::Chess(_) => 2,
            Game::Party(p) => p.slots.len(),
        };
        Room {
            id,
            name,
            game,
            seats: vec![None; n],
            reserved: vec![None; n],
            players: vec![None; 2],
            members: Vec::new(),
            log: VecDeque::new(),
            seq: 0,
            version: 1,
            saved: 0,
            created_at: now,
            recorded: false,
            mode: None,
            epoch: 0,
        }
    }

    pub fn kind(&self) -> Kind {
        match self.game {
            Game::Chess(_) => Kind::Chess,
            Game::Party(_) => Kind::Party,
        }
    }

    pub fn touch(&mut self) {
        self.version += 1;
    }

    /// Encode `event` once (adding `room` and `room_seq`), log it and push it
    /// to every member. Returns its `room_seq`.
    pub fn emit(&mut self, event: RoomEvent) -> u64 {
        let seq = self.reserve_seq();
        self.emit_at(seq, event)
    }

    /// Take the next `room_seq` for an event published later with
    /// [`Room::emit_at`] (after its snapshot is durable).
    pub fn reserve_seq(&mut self) -> u64 {
        self.seq += 1;
        self.version += 1;
        self.seq
    }

    /// Publish `event` under a reserved `seq`.
    pub fn emit_at(&mut self, seq: u64, event: RoomEvent) -> u64 {
        let (frame, text) = event.encode(&self.id, seq);
        for m in &self.members {
            if m.outbox.push(frame.clone()).is_err() {
                m.outbox.kill(None);
            }
        }
        self.log.push_back((seq, text));
        if self.log.len() > LOG_MAX {
            self.log.pop_front();
        }
        seq
    }

    /// Events after `last_seq` still in the log, and whether that is all of
    /// them (false when older ones already left the log).
    pub fn missed(&self, last_seq: u64) -> (Vec<Box<RawValue>>, bool) {
        let events: Vec<Box<RawValue>> = self
            .log
            .iter()
            .filter(|(s, _)| *s > last_seq)
            .filter_map(|(_, t)| RawValue::from_string(t.to_string()).ok())
            .collect();
        let first = self.log.iter().map(|(s, _)| *s).min();
        let complete = last_seq >= self.seq || first.is_some_and(|f| f <= last_seq + 1);
        (events, complete)
    }

    pub fn member(&self, conn: u64) -> Option<&Member> {
        self.members.iter().find(|m| m.conn == conn)
    }

    /// The seat held by socket `conn`.
    pub fn seat_of_conn(&self, conn: u64) -> Option<usize> {
        self.seats
            .iter()
            .position(|s| s.as_ref().is_some_and(|s| s.conn == Some(conn)))
    }

    /// The seat of `user`.
    pub fn seat_of_user(&self, user: i64) -> Option<usize> {
        self.seats
            .iter()
            .position(|s| s.as_ref().is_some_and(|s| s.user.id == user))
    }

    /// Claim seat `i` for `user` on socket `conn`; returns the reconnect token.
    pub fn take_seat(&mut self, i: usize, user: &User, conn: u64) -> String {
        let token = reconnect::new_token(&self.id);
        self.seats[i] = Some(Seat {
            user: user.clone(),
            token: token.clone(),
            conn: Some(conn),
            held_until: None,
        });
        self.touch();
        token
    }

    /// A free chess seat `user` may take (its reserved one first).
    pub fn free_chess_seat(&self, user: i64) -> Option<usize> {
        if let Some(i) = self.reserved.iter().position(|r| *r == Some(user)) {
            return self.seats[i].is_none().then_some(i);
        }
        (0..2).find(|&i| self.seats[i].is_none() && self.reserved[i].is_none())
    }

    /// Whether any seat is reserved for someone else than `user`.
    pub fn reserved_for_other(&self, i: usize, user: i64) -> bool {
        self.reserved
            .get(i)
            .copied()
            .flatten()
            .is_some_and(|u| u != user)
    }

    /// The socket `conn` went away: its seat (if any) is held until
    /// `held_until`. Returns the seat.
    pub fn disconnect(&mut self, conn: u64, held_until: u64) -> Option<usize> {
        self.members.retain(|m| m.conn != conn);
        let i = self.seat_of_conn(conn)?;
        if let Some(s) = self.seats[i].as_mut() {
            s.conn = None;
            s.held_until = Some(held_until);
        }
        self.touch();
        Some(i)
    }

    /// Free seat `i` now (left, or grace over); the game is told.
    pub fn free_seat(&mut self, i: usize, now: u64) -> Option<Finish> {
        let seat = self.seats.get_mut(i)?.take()?;
        self.touch();
        match &mut self.game {
            Game::Chess(g) => g.abandon(Side::from_index(i), now),
            Game::Party(p) => {
                if p.slots.get(i).is_some_and(|s| s.user == Some(seat.user.id)) {
                    p.release(i, now);
                }
                None
            }
        }
    }

    /// Whether nobody is connected or holding a seat.
    pub fn is_abandoned(&self) -> bool {
        self.members.is_empty() && self.seats.iter().all(Option::is_none)
    }

    /// Whether a game is under way (its room must survive empty spells).
    pub fn in_progress(&self) -> bool {
        match &self.game {
            Game::Chess(g) => g.started() && g.finish().is_none(),
            Game::Party(p) => matches!(p.phase, Phase::Running | Phase::Paused),
        }
    }

    pub fn snapshot(&self, now: u64) -> RoomSnap {
        RoomSnap {
            id: self.id.clone(),
            name: self.name.clone(),
            kind: self.kind(),
            seats: self
                .seats
                .iter()
                .map(|s| {
                    s.as_ref().map(|s| SeatSnap {
                        user: s.user.clone(),
                        token: s.token.clone(),
                    })
                })
                .collect(),
            reserved: self.reserved.clone(),
            players: self.players.clone(),
            seq: self.seq,
            created_at: self.created_at,
            saved_at: now,
            recorded: self.recorded,
            mode: self.mode.clone(),
            chess: match &self.game {
                Game::Chess(g) => Some(g.snapshot(now)),
                Game::Party(_) => None,
            },
            party: match &self.game {
                Game::Party(p) => Some(p.clone()),
                Game::Chess(_) => None,
            },
        }
    }

    /// Rebuild a room; every seat is held for `grace_ms` from `now`.
    pub fn restore(s: RoomSnap, now: u64, grace_ms: u64) -> Result<Room, String> {
        let game = match (s.kind, s.chess, s.party) {
            (Kind::Chess, Some(c), _) => Game::Chess(ChessGame::restore(&c, now)?),
            (Kind::Party, _, Some(p)) => Game::Party(p.restored(s.saved_at, now)),
            _ => return Err("snapshot without its game".into()),
        };
        let mut r = Room::new(s.id, s.name, game, s.created_at);
        if s.seats.len() != r.seats.len() || s.reserved.len() != r.seats.len() {
            return Err("snapshot seats do not match the game".into());
        }
        r.seats = s
            .seats
            .into_iter()
            .map(|x| {
                x.map(|x| Seat {
                    user: x.user,
                    token: x.token,
                    conn: None,
                    held_until: Some(now + grace_ms),
                })
            })
            .collect();
        r.reserved = s.reserved;
        r.players = s.players;
        r.seq = s.seq;
        r.recorded = s.recorded;
        r.mode = s.mode;
        r.saved = r.version;
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::game::chess::TimeControl;

    fn user(id: i64) -> User {
        User {
            id,
            name: format!("u{id}"),
        }
    }

    #[test]
    fn events_reach_members_once_and_are_logged() {
        let mut r = Room::new(
            "c-1".into(),
            "n".into(),
            Game::Chess(ChessGame::new(TimeControl {
                initial_ms: 1000,
                increment_ms: 0,
            })),
            0,
        );
        let ob = Outbox::new(1 << 20);
        r.members.push(Member {
            conn: 1,
            user: user(1),
            outbox: ob.clone(),
        });
        r.emit(RoomEvent::DrawOffered { by: "white" });
        r.emit(RoomEvent::DrawDeclined { by: "black" });
        assert!(ob.queued_bytes() > 0);
        let (missed, complete) = r.missed(1);
        assert!(complete);
        assert_eq!(missed.len(), 1);
        let b: serde_json::Value = serde_json::from_str(missed[0].get()).unwrap();
        assert_eq!(b["type"], "draw_declined");
        assert_eq!(b["room_seq"], 2);
    }

    #[test]
    fn seats_hold_then_free_and_snapshot_round_trips() {
        let mut r = Room::new(
            "c-2".into(),
            "n".into(),
            Game::Chess(ChessGame::new(TimeControl {
                initial_ms: 60_000,
                increment_ms: 0,
            })),
            0,
        );
        r.reserved[1] = Some(2);
        assert_eq!(r.free_chess_seat(3), Some(0));
        assert_eq!(r.free_chess_seat(2), Some(1));
        let t = r.take_seat(0, &user(1), 10);
        assert_eq!(reconnect::room_of(&t), Some("c-2"));
        r.take_seat(1, &user(2), 11);
        if let Game::Chess(g) = &mut r.game {
            g.start(0);
            g.play(Side::White, "e2e4", 100).unwrap();
        }
        assert_eq!(r.disconnect(10, 5_000), Some(0));
        let snap = serde_json::to_string(&r.snapshot(200)).unwrap();
        let back = Room::restore(serde_json::from_str(&snap).unwrap(), 9_000, 1_000).unwrap();
        assert_eq!(back.seats[0].as_ref().unwrap().token, t);
        assert_eq!(back.seats[1].as_ref().unwrap().held_until, Some(10_000));
        let f = r.free_seat(0, 6_000).unwrap();
        assert_eq!(f.winner, Some(Side::Black));
    }
}
