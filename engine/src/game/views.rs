//! What a room looks like to a client: the typed views inside `joined`, `room_state`,
//! `reconnected`, `rooms`, `game_started` and party events, and the live game of
//! `GET /api/games/{id}`. Built from a [`Room`] at one instant; no I/O.

use serde::Serialize;

use super::chess::{Reason, Side};
use super::events::Clocks;
use super::party::{PartySettings, Phase, Slot};
use super::protocol::Kind;
use super::rooms::{Game, Room};

/// One seat: free (maybe reserved for a matched player) or taken.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(untagged)]
pub enum SeatView {
    Free {
        seat: usize,
        /// Always `true` here.
        #[cfg_attr(test, ts(type = "true"))]
        free: bool,
        reserved: bool,
    },
    Taken {
        seat: usize,
        /// Always `false` here.
        #[cfg_attr(test, ts(type = "false"))]
        free: bool,
        user_id: i64,
        name: String,
        connected: bool,
        /// While disconnected: ms left of the grace period.
        held_ms: Option<u64>,
    },
}

/// The chess part of a room's state.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct ChessView {
    pub fen: String,
    /// The moves in SAN.
    pub moves: Vec<String>,
    pub uci: Vec<String>,
    #[cfg_attr(test, ts(as = "Side"))]
    pub turn: &'static str,
    pub clocks: Clocks,
    pub increment_ms: u64,
    pub started: bool,
    #[cfg_attr(test, ts(as = "Option<Side>"))]
    pub draw_offer: Option<&'static str>,
    #[cfg_attr(test, ts(as = "Option<super::ts::GameResult>"))]
    pub result: Option<&'static str>,
    pub reason: Option<Reason>,
}

/// The party-game part of a room's state.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct PartyView {
    pub owner: i64,
    pub settings: PartySettings,
    pub phase: Phase,
    pub slots: Vec<Slot>,
    pub active: usize,
    pub turn_left_ms: Option<u64>,
    pub round: u32,
    pub winner: Option<usize>,
}

/// The game of a room.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(untagged)]
pub enum GameView {
    Chess(ChessView),
    Party(PartyView),
}

/// The full state of a room (`room_state`, and `state` inside `joined`/`reconnected`).
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct RoomState {
    pub room: String,
    pub name: String,
    pub kind: Kind,
    pub mode: Option<String>,
    pub room_seq: u64,
    pub seats: Vec<SeatView>,
    pub members: usize,
    pub game: GameView,
}

/// One line of `rooms` (`list_rooms`).
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct RoomSummary {
    pub room: String,
    pub name: String,
    pub kind: Kind,
    pub seats: usize,
    pub seated: usize,
    pub members: usize,
    pub in_progress: bool,
}

/// A running game as `GET /api/games/{id}` shows it.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct LiveGame {
    /// Always `"live"`.
    #[cfg_attr(test, ts(type = "\"live\""))]
    pub status: &'static str,
    #[serde(flatten)]
    pub state: RoomState,
}

impl Room {
    fn seat_views(&self, now: u64) -> Vec<SeatView> {
        self.seats
            .iter()
            .enumerate()
            .map(|(i, s)| match s {
                None => SeatView::Free {
                    seat: i,
                    free: true,
                    reserved: self.reserved[i].is_some(),
                },
                Some(s) => SeatView::Taken {
                    seat: i,
                    free: false,
                    user_id: s.user.id,
                    name: s.user.name.clone(),
                    connected: s.conn.is_some(),
                    held_ms: s.held_until.map(|t| t.saturating_sub(now)),
                },
            })
            .collect()
    }

    /// The party part of the state (`None` in a chess room).
    pub fn party_view(&self, now: u64) -> Option<PartyView> {
        let Game::Party(p) = &self.game else {
            return None;
        };
        Some(PartyView {
            owner: p.owner,
            settings: p.settings,
            phase: p.phase,
            slots: p.slots.clone(),
            active: p.active,
            turn_left_ms: p.turn_left(now),
            round: p.round,
            winner: p.winner,
        })
    }

    /// The game part of the state.
    pub fn game_view(&self, now: u64) -> GameView {
        match &self.game {
            Game::Chess(g) => {
                let c = g.clocks_at(now);
                let f = g.finish();
                GameView::Chess(ChessView {
                    fen: g.fen(),
                    moves: g.moves().iter().map(|m| m.san.clone()).collect(),
                    uci: g.moves().iter().map(|m| m.uci.clone()).collect(),
                    turn: g.turn().as_str(),
                    clocks: Clocks {
                        white: c[0],
                        black: c[1],
                    },
                    increment_ms: g.time_control().increment_ms,
                    started: g.started(),
                    draw_offer: g.draw_offer().map(Side::as_str),
                    result: f.map(|f| f.result()),
                    reason: f.map(|f| f.reason),
                })
            }
            Game::Party(_) => GameView::Party(self.party_view(now).expect("a party room")),
        }
    }

    /// The full state.
    pub fn state(&self, now: u64) -> RoomState {
        RoomState {
            room: self.id.clone(),
            name: self.name.clone(),
            kind: self.kind(),
            mode: self.mode.clone(),
            room_seq: self.seq,
            seats: self.seat_views(now),
            members: self.members.len(),
            game: self.game_view(now),
        }
    }

    /// One line of `list_rooms`.
    pub fn summary(&self) -> RoomSummary {
        RoomSummary {
            room: self.id.clone(),
            name: self.name.clone(),
            kind: self.kind(),
            seats: self.seats.len(),
            seated: self.seats.iter().filter(|s| s.is_some()).count(),
            members: self.members.len(),
            in_progress: self.in_progress(),
        }
    }
}
