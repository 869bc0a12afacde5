//! Authoritative chess as a pure state machine (no I/O; time is passed in as
//! milliseconds since the epoch).
//!
//! Owns one game: the position (shakmaty checks legality), the move list, the
//! clocks with increment, draw offers, and the result (checkmate, stalemate,
//! insufficient material, threefold repetition, fifty moves, resignation,
//! agreement, flag, abandonment). An illegal or malformed move returns an
//! error and changes nothing. [`ChessGame::snapshot`] / [`ChessGame::restore`]
//! round-trip through the move list, so a restored game is replayed by the
//! same rules; [`ChessGame::pgn`] exports the finished (or running) game.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use shakmaty::fen::{Epd, Fen};
use shakmaty::san::{San, SanPlus};
use shakmaty::uci::UciMove;
use shakmaty::{CastlingMode, Chess, Color, EnPassantMode, Move, Position};

/// A player's colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum Side {
    White,
    Black,
}

impl Side {
    pub fn index(self) -> usize {
        match self {
            Side::White => 0,
            Side::Black => 1,
        }
    }
    pub fn other(self) -> Side {
        match self {
            Side::White => Side::Black,
            Side::Black => Side::White,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Side::White => "white",
            Side::Black => "black",
        }
    }
    pub fn from_index(i: usize) -> Side {
        if i == 0 {
            Side::White
        } else {
            Side::Black
        }
    }
    fn of(c: Color) -> Side {
        match c {
            Color::White => Side::White,
            Color::Black => Side::Black,
        }
    }
    fn color(self) -> Color {
        match self {
            Side::White => Color::White,
            Side::Black => Color::Black,
        }
    }
}

/// Why a game ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    Checkmate,
    Stalemate,
    InsufficientMaterial,
    Repetition,
    FiftyMoves,
    Resignation,
    Agreement,
    Timeout,
    Abandoned,
}

/// The end of a game.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finish {
    /// `None` is a draw.
    pub winner: Option<Side>,
    pub reason: Reason,
}

impl Finish {
    /// PGN result: `1-0`, `0-1` or `1/2-1/2`.
    pub fn result(&self) -> &'static str {
        match self.winner {
            Some(Side::White) => "1-0",
            Some(Side::Black) => "0-1",
            None => "1/2-1/2",
        }
    }
}

/// Why an action was refused (nothing changed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChessError {
    NotStarted,
    GameOver,
    NotYourTurn,
    BadNotation,
    Illegal,
    NoDrawOffer,
    OwnDrawOffer,
}

impl ChessError {
    /// Error code of the `error` message.
    pub fn code(self) -> &'static str {
        match self {
            ChessError::NotStarted => "not_started",
            ChessError::GameOver => "game_over",
            ChessError::NotYourTurn => "not_your_turn",
            ChessError::BadNotation | ChessError::Illegal => "illegal_move",
            ChessError::NoDrawOffer | ChessError::OwnDrawOffer => "no_draw_offer",
        }
    }
    pub fn message(self) -> &'static str {
        match self {
            ChessError::NotStarted => "the game has not started (waiting for both players)",
            ChessError::GameOver => "the game is over",
            ChessError::NotYourTurn => "it is not your turn",
            ChessError::BadNotation => "move must be UCI (e2e4, e7e8q) or SAN (Nf3)",
            ChessError::Illegal => "illegal move in this position",
            ChessError::NoDrawOffer => "there is no draw offer to answer",
            ChessError::OwnDrawOffer => "you cannot answer your own draw offer",
        }
    }
}

/// Clock settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimeControl {
    pub initial_ms: u64,
    pub increment_ms: u64,
}

/// One played move.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MoveRec {
    pub uci: String,
    pub san: String,
}

/// What a successful move produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Played {
    pub by: Side,
    pub mv: MoveRec,
    pub fen: String,
    /// Remaining ms of white and black right after the move.
    pub clocks: [u64; 2],
    pub finish: Option<Finish>,
}

/// The persisted form of a game.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChessSnap {
    pub tc: TimeControl,
    pub moves: Vec<String>,
    /// Remaining ms (as of `at_ms` for the side to move).
    pub clocks: [u64; 2],
    pub started: bool,
    pub draw_offer: Option<Side>,
    pub finish: Option<Finish>,
    pub started_at_ms: Option<u64>,
    pub ended_at_ms: Option<u64>,
}

/// One chess game.
#[derive(Debug, Clone)]
pub struct ChessGame {
    pos: Chess,
    tc: TimeControl,
    /// Remaining ms of each side at the start of the current turn.
    clocks: [u64; 2],
    /// When the current turn began; `None` until both players are seated.
    turn_started: Option<u64>,
    moves: Vec<MoveRec>,
    /// Occurrences of each position (EPD) for threefold repetition.
    reps: HashMap<String, u8>,
    draw_offer: Option<Side>,
    finish: Option<Finish>,
    started_at_ms: Option<u64>,
    ended_at_ms: Option<u64>,
}

fn epd(pos: &Chess) -> String {
    Epd::from_position(pos.clone(), EnPassantMode::Legal).to_string()
}

fn parse_move(pos: &Chess, text: &str) -> Result<Move, ChessError> {
    let t = text.trim();
    if t.is_empty() || t.len() > 10 {
        return Err(ChessError::BadNotation);
    }
    if let Ok(u) = UciMove::from_ascii(t.as_bytes()) {
        return u.to_move(pos).map_err(|_| ChessError::Illegal);
    }
    match San::from_ascii(t.trim_end_matches(['+', '#']).as_bytes()) {
        Ok(s) => s.to_move(pos).map_err(|_| ChessError::Illegal),
        Err(_) => Err(ChessError::BadNotation),
    }
}

impl ChessGame {
    /// A new game from the initial position; clocks start with [`Self::start`].
    pub fn new(tc: TimeControl) -> ChessGame {
        let pos = Chess::default();
        let mut reps = HashMap::new();
        reps.insert(epd(&pos), 1);
        ChessGame {
            pos,
            tc,
            clocks: [tc.initial_ms, tc.initial_ms],
            turn_started: None,
            moves: Vec::new(),
            reps,
            draw_offer: None,
            finish: None,
            started_at_ms: None,
            ended_at_ms: None,
        }
    }

    /// Start the clocks (both seats are taken). Idempotent.
    pub fn start(&mut self, now: u64) {
        if self.turn_started.is_none() && self.finish.is_none() {
            self.turn_started = Some(now);
            self.started_at_ms.get_or_insert(now);
        }
    }

    pub fn started(&self) -> bool {
        self.started_at_ms.is_some()
    }
    pub fn finish(&self) -> Option<Finish> {
        self.finish
    }
    pub fn turn(&self) -> Side {
        Side::of(self.pos.turn())
    }
    pub fn moves(&self) -> &[MoveRec] {
        &self.moves
    }
    pub fn draw_offer(&self) -> Option<Side> {
        self.draw_offer
    }
    pub fn time_control(&self) -> TimeControl {
        self.tc
    }
    pub fn started_at_ms(&self) -> Option<u64> {
        self.started_at_ms
    }
    pub fn ended_at_ms(&self) -> Option<u64> {
        self.ended_at_ms
    }
    pub fn fen(&self) -> String {
        Fen::from_position(self.pos.clone(), EnPassantMode::Legal).to_string()
    }

    /// Remaining ms of white and black at `now`.
    pub fn clocks_at(&self, now: u64) -> [u64; 2] {
        let mut c = self.clocks;
        if let (Some(t0), None) = (self.turn_started, self.finish) {
            let i = self.turn().index();
            c[i] = c[i].saturating_sub(now.saturating_sub(t0));
        }
        c
    }

    fn end(&mut self, f: Finish, now: u64) -> Finish {
        self.clocks = self.clocks_at(now);
        self.finish = Some(f);
        self.turn_started = None;
        self.draw_offer = None;
        self.ended_at_ms = Some(now);
        f
    }

    /// Flag check: ends the game if the side to move ran out of time.
    pub fn tick(&mut self, now: u64) -> Option<Finish> {
        if self.finish.is_some() || self.turn_started.is_none() {
            return None;
        }
        let side = self.turn();
        if self.clocks_at(now)[side.index()] > 0 {
            return None;
        }
        // The opponent wins on time unless it cannot possibly mate.
        let winner = if self.pos.has_insufficient_material(side.other().color()) {
            None
        } else {
            Some(side.other())
        };
        Some(self.end(
            Finish {
                winner,
                reason: Reason::Timeout,
            },
            now,
        ))
    }

    /// Play `text` (UCI or SAN) for `side`.
    pub fn play(&mut self, side: Side, text: &str, now: u64) -> Result<Played, ChessError> {
        if self.finish.is_some() {
            return Err(ChessError::GameOver);
        }
        let Some(t0) = self.turn_started else {
            return Err(ChessError::NotStarted);
        };
        if side != self.turn() {
            return Err(ChessError::NotYourTurn);
        }
        let m = parse_move(&self.pos, text)?;
        let i = side.index();
        let remaining = self.clocks[i].saturating_sub(now.saturating_sub(t0));
        let uci = UciMove::from_move(&m, CastlingMode::Standard).to_string();
        let san = SanPlus::from_move_and_play_unchecked(&mut self.pos, &m).to_string();
        let rec = MoveRec { uci, san };
        self.moves.push(rec.clone());
        self.clocks[i] = remaining + self.tc.increment_ms;
        self.turn_started = Some(now);
        self.draw_offer = None;
        let n = self.reps.entry(epd(&self.pos)).or_insert(0);
        *n += 1;
        let reps = *n;
        let finish = if self.pos.is_checkmate() {
            Some(Finish {
                winner: Some(side),
                reason: Reason::Checkmate,
            })
        } else if self.pos.is_stalemate() {
            Some(Finish {
                winner: None,
                reason: Reason::Stalemate,
            })
        } else if self.pos.is_insufficient_material() {
            Some(Finish {
                winner: None,
                reason: Reason::InsufficientMaterial,
            })
        } else if reps >= 3 {
            Some(Finish {
                winner: None,
                reason: Reason::Repetition,
            })
        } else if self.pos.halfmoves() >= 100 {
            Some(Finish {
                winner: None,
                reason: Reason::FiftyMoves,
            })
        } else {
            None
        };
        let finish = finish.map(|f| self.end(f, now));
        Ok(Played {
            by: side,
            mv: rec,
            fen: self.fen(),
            clocks: self.clocks_at(now),
            finish,
        })
    }

    /// `side` resigns.
    pub fn resign(&mut self, side: Side, now: u64) -> Result<Finish, ChessError> {
        if self.finish.is_some() {
            return Err(ChessError::GameOver);
        }
        if !self.started() {
            return Err(ChessError::NotStarted);
        }
        Ok(self.end(
            Finish {
                winner: Some(side.other()),
                reason: Reason::Resignation,
            },
            now,
        ))
    }

    /// `side` left for good (reconnect grace expired).
    pub fn abandon(&mut self, side: Side, now: u64) -> Option<Finish> {
        if self.finish.is_some() || !self.started() {
            return None;
        }
        Some(self.end(
            Finish {
                winner: Some(side.other()),
                reason: Reason::Abandoned,
            },
            now,
        ))
    }

    /// `side` offers a draw (replacing nothing if one is pending from it).
    pub fn offer_draw(&mut self, side: Side) -> Result<(), ChessError> {
        if self.finish.is_some() {
            return Err(ChessError::GameOver);
        }
        if !self.started() {
            return Err(ChessError::NotStarted);
        }
        self.draw_offer = Some(side);
        Ok(())
    }

    /// `side` accepts the opponent's pending offer.
    pub fn accept_draw(&mut self, side: Side, now: u64) -> Result<Finish, ChessError> {
        match self.draw_offer {
            _ if self.finish.is_some() => Err(ChessError::GameOver),
            None => Err(ChessError::NoDrawOffer),
            Some(s) if s == side => Err(ChessError::OwnDrawOffer),
            Some(_) => Ok(self.end(
                Finish {
                    winner: None,
                    reason: Reason::Agreement,
                },
                now,
            )),
        }
    }

    /// `side` declines the opponent's pending offer.
    pub fn decline_draw(&mut self, side: Side) -> Result<(), ChessError> {
        match self.draw_offer {
            _ if self.finish.is_some() => Err(ChessError::GameOver),
            None => Err(ChessError::NoDrawOffer),
            Some(s) if s == side => Err(ChessError::OwnDrawOffer),
            Some(_) => {
                self.draw_offer = None;
                Ok(())
            }
        }
    }

    /// The game in PGN; `white`/`black` are player names, `site` the room.
    pub fn pgn(&self, white: &str, black: &str, site: &str, date: &str) -> String {
        let result = self.finish.map_or("*", |f| f.result());
        let esc = |s: &str| s.replace(['"', '\\'], "");
        let mut out = format!(
            "[Event \"roomcore game\"]\n[Site \"{}\"]\n[Date \"{}\"]\n[White \"{}\"]\n[Black \"{}\"]\n[Result \"{}\"]\n[TimeControl \"{}+{}\"]\n",
            esc(site),
            date,
            esc(white),
            esc(black),
            result,
            self.tc.initial_ms / 1000,
            self.tc.increment_ms / 1000
        );
        if let Some(f) = self.finish {
            let term = match f.reason {
                Reason::Timeout => "time forfeit",
                Reason::Abandoned => "abandoned",
                _ => "normal",
            };
            out.push_str(&format!("[Termination \"{term}\"]\n"));
        }
        out.push('\n');
        for (i, m) in self.moves.iter().enumerate() {
            if i % 2 == 0 {
                out.push_str(&format!("{}. ", i / 2 + 1));
            }
            out.push_str(&m.san);
            out.push(' ');
        }
        out.push_str(result);
        out.push('\n');
        out
    }

    /// The persisted form as of `now` (the running clock is charged up to now).
    pub fn snapshot(&self, now: u64) -> ChessSnap {
        ChessSnap {
            tc: self.tc,
            moves: self.moves.iter().map(|m| m.uci.clone()).collect(),
            clocks: self.clocks_at(now),
            started: self.started(),
            draw_offer: self.draw_offer,
            finish: self.finish,
            started_at_ms: self.started_at_ms,
            ended_at_ms: self.ended_at_ms,
        }
    }

    /// Rebuild a game by replaying its moves; the running clock resumes at
    /// `now` (time while the server was down is not charged).
    pub fn restore(s: &ChessSnap, now: u64) -> Result<ChessGame, String> {
        let mut g = ChessGame::new(s.tc);
        g.turn_started = Some(0);
        g.started_at_ms = Some(0);
        for (i, m) in s.moves.iter().enumerate() {
            let side = g.turn();
            g.play(side, m, 0)
                .map_err(|e| format!("move {} ({m}): {}", i + 1, e.message()))?;
        }
        g.clocks = s.clocks;
        g.draw_offer = s.draw_offer;
        g.started_at_ms = s.started_at_ms;
        g.ended_at_ms = s.ended_at_ms;
        g.finish = s.finish;
        g.turn_started = if s.started && s.finish.is_none() {
            Some(now)
        } else {
            None
        };
        Ok(g)
    }
}

#[cfg(test)]
mod tests;
