//! The `chess` scenario: N concurrent chess games on the typed protocol of `GET /ws`
//! (docs/games.md), moves at a fixed aggregate offered rate (open loop). Setup: 2N guest
//! tokens (the token phase), 2N sockets, `hello`; white `create_room`s (chess, long clocks),
//! black `join_room`s, both wait for `game_started`. Then event `i` of the schedule, intended at
//! `start + i / rate`, goes to the longest-waiting game whose side to move has seen the last
//! move; the move's latency runs from that intended time to the moment the **opponent**
//! receives its `move` event (so a move that waited for a ready game counts its wait). Games
//! play [`LINE`], a fixed legal line with no capture, check, threefold repetition or fifty-move
//! draw; when it runs out (or the server ends a game) white leaves and creates a new room,
//! black leaves and joins it ("games restarted" in the report).

use std::collections::{BTreeMap, VecDeque};

use serde::Serialize;

use super::open_loop::OpenLoop;
use super::typed::{guest_tokens, meta_for, parse, ws_counts, TokenPhase};
use super::{Measured, RunMeta, RunOutput};
use crate::clock::{secs_to_ns, Clock};
use crate::hist::LatencyHist;
use crate::model::Metric;
use crate::net::ws;
use crate::net::wspool::{Failure, WsHandler, WsPool};
use crate::pacer::Window;
use crate::report::slo::SloRow;

/// Parameters of a chess run.
#[derive(Clone, Debug, Serialize)]
pub struct ChessParams {
    /// Concurrent games (2 connections each).
    pub games: usize,
    /// Aggregate offered moves/s over all games.
    pub rate: f64,
    /// Warm-up, s.
    pub warmup_secs: f64,
    /// Measured window, s.
    pub secs: f64,
    /// Max wait for in-flight moves after the window, s.
    pub drain_secs: f64,
    /// Plies of [`LINE`] a game plays before a new game starts (2..=LINE.len()).
    pub plies: usize,
    /// Chess clock: initial seconds per side.
    pub initial_secs: u32,
    /// Chess clock: increment per move, s.
    pub increment_secs: u32,
    /// Guest sign-ins per second in the token phase.
    pub token_rate: f64,
    /// Handshakes in flight at once while connecting.
    pub connect_concurrency: usize,
    /// Give up setting games up after this long, s.
    pub setup_timeout_secs: f64,
}

/// One knight tour out and back for both sides (8 plies): every intermediate position is new,
/// and the last one equals the first (its second occurrence).
const SHUFFLE: [&str; 8] = [
    "g1f3", "g8f6", "b1c3", "b8c6", "f3g1", "f6g8", "c3b1", "c6b8",
];

/// Pawn pushes, one step at a time, white then black, on the a, b, d, e, g and h files (the c
/// and f pawns stay home so the knights keep c3/f3/c6/f6): blocked pawn chains, no capture
/// played, no check possible.
const PUSHES: [(&str, &str); 12] = [
    ("a2a3", "a7a6"),
    ("h2h3", "h7h6"),
    ("b2b3", "b7b6"),
    ("g2g3", "g7g6"),
    ("d2d3", "d7d6"),
    ("e2e3", "e7e6"),
    ("a3a4", "a6a5"),
    ("h3h4", "h6h5"),
    ("b3b4", "b6b5"),
    ("g3g4", "g6g5"),
    ("d3d4", "d6d5"),
    ("e3e4", "e6e5"),
];

/// Plies of [`LINE`].
pub const LINE_LEN: usize = SHUFFLE.len() * (PUSHES.len() + 1) + 2 * PUSHES.len();

/// The fixed legal line every game plays (UCI): a knight shuffle, then for each pawn pair the
/// pushes and a shuffle. Each position occurs at most twice (a shuffle returns to the position
/// it started from once), a pawn move at least every 10 plies: no automatic draw, 128 plies.
pub fn line() -> Vec<&'static str> {
    let mut v = Vec::with_capacity(LINE_LEN);
    v.extend(SHUFFLE);
    for (w, b) in PUSHES {
        v.push(w);
        v.push(b);
        v.extend(SHUFFLE);
    }
    v
}

const LEAVE_SEQ: u64 = 1;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    /// Connecting / signing in.
    Setup,
    /// White's room requested; waiting for it (and black's `joined`) and `game_started`.
    Starting,
    /// Moves flow.
    Playing,
    /// Leaving the old room before the next game.
    Restarting,
    /// A socket of the game is gone.
    Dead,
}

#[derive(Clone, Debug)]
struct Game {
    stage: Stage,
    authed: u8,
    room: Option<String>,
    black_join_sent: bool,
    black_left: bool,
    started: u8,
    ply: usize,
    in_flight: Option<u64>,
}

#[derive(Clone, Copy, Debug)]
enum Out {
    Hello,
    Create,
    Join,
    Leave,
}

struct Book {
    games: Vec<Game>,
    tokens: Vec<String>,
    line: Vec<&'static str>,
    plies: usize,
    settings: String,
    window: Window,
    hist: LatencyHist,
    connect_hist: LatencyHist,
    ready: VecDeque<u32>,
    actions: Vec<(u32, Out)>,
    deliveries: u64,
    measured_in_flight: u64,
    restarted: u64,
    games_over: u64,
    mismatched: u64,
    unsaved: u64,
    bad_payload: u64,
    dropped: u64,
    error_codes: BTreeMap<String, u64>,
}

impl Book {
    fn restart(&mut self, g: usize) {
        let game = &mut self.games[g];
        if game
            .in_flight
            .take()
            .is_some_and(|t| t >= self.window.measure_from_ns)
        {
            self.measured_in_flight = self.measured_in_flight.saturating_sub(1);
        }
        game.stage = Stage::Restarting;
        game.room = None;
        game.black_join_sent = false;
        game.black_left = false;
        game.started = 0;
        game.ply = 0;
        self.restarted += 1;
        let (w, b) = (2 * g as u32, 2 * g as u32 + 1);
        self.actions.push((w, Out::Leave));
        self.actions.push((w, Out::Create));
        self.actions.push((b, Out::Leave));
    }

    fn maybe_join(&mut self, g: usize) {
        let game = &mut self.games[g];
        let black_free = game.authed == 2 && (game.stage == Stage::Starting || game.black_left);
        if game.room.is_some() && black_free && !game.black_join_sent {
            game.black_join_sent = true;
            self.actions.push((2 * g as u32 + 1, Out::Join));
        }
    }
}

impl WsHandler for Book {
    fn on_open(&mut self, conn: usize, intended_ns: u64, now_ns: u64) {
        self.connect_hist
            .record_ns(now_ns.saturating_sub(intended_ns));
        self.actions.push((conn as u32, Out::Hello));
    }

    fn on_message(&mut self, conn: usize, _room: u32, payload: &[u8], now_ns: u64) {
        let Some(m) = parse(payload) else {
            self.bad_payload += 1;
            return;
        };
        let g = conn / 2;
        let white = conn % 2 == 0;
        let stage = self.games[g].stage;
        match m.ty.as_ref() {
            "move" => {
                let mine = if white { "white" } else { "black" };
                if m.by == Some(mine) || stage != Stage::Playing {
                    return;
                }
                let game = &mut self.games[g];
                let Some(t) = game.in_flight.take() else {
                    self.mismatched += 1;
                    return;
                };
                if t >= self.window.measure_from_ns {
                    self.measured_in_flight = self.measured_in_flight.saturating_sub(1);
                }
                if m.uci != Some(self.line[game.ply]) {
                    self.mismatched += 1;
                    self.restart(g);
                    return;
                }
                if t >= self.window.measure_from_ns && t < self.window.end_ns {
                    self.deliveries += 1;
                    self.hist.record_ns(now_ns.saturating_sub(t));
                }
                game.ply += 1;
                if game.ply >= self.plies {
                    self.restart(g);
                } else {
                    self.ready.push_back(g as u32);
                }
            }
            "ok" => {
                if m.seq == Some(LEAVE_SEQ) {
                    if !white && stage == Stage::Restarting {
                        self.games[g].black_left = true;
                        self.maybe_join(g);
                    }
                } else if m.saved == Some(false) {
                    self.unsaved += 1;
                }
            }
            "welcome" => {
                let game = &mut self.games[g];
                game.authed += 1;
                if game.authed == 2 && game.stage == Stage::Setup {
                    game.stage = Stage::Starting;
                    self.actions.push((2 * g as u32, Out::Create));
                }
            }
            "joined" if white => {
                if let Some(r) = m.room {
                    self.games[g].room = Some(r.to_string());
                    self.maybe_join(g);
                }
            }
            "game_started" => {
                let game = &mut self.games[g];
                if matches!(game.stage, Stage::Starting | Stage::Restarting) {
                    game.started += 1;
                    if game.started == 2 {
                        game.stage = Stage::Playing;
                        game.ply = 0;
                        self.ready.push_back(g as u32);
                    }
                }
            }
            // white's copy only (both sides get it)
            "game_over" if white && stage == Stage::Playing => {
                self.games_over += 1;
                self.restart(g);
            }
            "error" => {
                let code = m.code.unwrap_or("?");
                *self.error_codes.entry(code.to_string()).or_default() += 1;
                // a refused move loses the game's turn: start over
                if stage == Stage::Playing && self.games[g].in_flight.is_some() {
                    self.restart(g);
                }
            }
            _ => {}
        }
    }

    fn on_close(&mut self, conn: usize, _failure: Failure, was_open: bool) {
        if was_open {
            self.dropped += 1;
        }
        let game = &mut self.games[conn / 2];
        game.stage = Stage::Dead;
        if game
            .in_flight
            .take()
            .is_some_and(|t| t >= self.window.measure_from_ns)
        {
            self.measured_in_flight = self.measured_in_flight.saturating_sub(1);
        }
    }
}

/// Writes the frame of `out` for connection `conn`.
fn write_action(pool: &mut WsPool, book: &Book, conn: u32, out: Out) {
    let mask = pool.mask();
    let g = conn as usize / 2;
    let text = match out {
        Out::Hello => format!(
            "{{\"type\":\"hello\",\"token\":\"{}\"}}",
            book.tokens[conn as usize]
        ),
        Out::Create => format!(
            "{{\"type\":\"create_room\",\"kind\":\"chess\",\"name\":\"bench {g}\",\"settings\":{}}}",
            book.settings
        ),
        Out::Join => match &book.games[g].room {
            Some(r) => format!("{{\"type\":\"join_room\",\"room\":\"{r}\"}}"),
            None => return,
        },
        Out::Leave => format!("{{\"type\":\"leave_room\",\"seq\":{LEAVE_SEQ}}}"),
    };
    if let Some(buf) = pool.out(conn as usize) {
        ws::write_text(buf, text.as_bytes(), mask);
    }
}

fn apply_actions(pool: &mut WsPool, book: &mut Book) {
    if book.actions.is_empty() {
        return;
    }
    let actions = std::mem::take(&mut book.actions);
    for &(conn, out) in &actions {
        write_action(pool, book, conn, out);
    }
}

/// Runs the chess scenario.
pub fn run(meta: &RunMeta, p: ChessParams) -> Result<RunOutput, String> {
    if p.games == 0 {
        return Err("chess needs --games >= 1".into());
    }
    let plies = p.plies.clamp(2, LINE_LEN);
    let conns = 2 * p.games;
    let mut tokens: TokenPhase = guest_tokens(meta, conns, p.token_rate, 32)?;
    let wm = meta_for(meta, "ws", None, "/ws");
    let mut pool = WsPool::new(wm.target.clone(), wm.many_sources).map_err(|e| e.to_string())?;
    let mask = pool.mask();
    let line = line();
    let move_frames: Vec<Vec<u8>> = line
        .iter()
        .map(|mv| {
            let mut f = Vec::new();
            ws::write_text(
                &mut f,
                format!("{{\"type\":\"move\",\"move\":\"{mv}\"}}").as_bytes(),
                mask,
            );
            f
        })
        .collect();
    let clock = Clock::new();
    let mut book = Book {
        games: vec![
            Game {
                stage: Stage::Setup,
                authed: 0,
                room: None,
                black_join_sent: false,
                black_left: false,
                started: 0,
                ply: 0,
                in_flight: None,
            };
            p.games
        ],
        tokens: std::mem::take(&mut tokens.tokens),
        line,
        plies,
        settings: format!(
            "{{\"initial_secs\":{},\"increment_secs\":{}}}",
            p.initial_secs, p.increment_secs
        ),
        window: Window::new(u64::MAX / 4, 0, 0),
        hist: LatencyHist::new(),
        connect_hist: LatencyHist::new(),
        ready: VecDeque::new(),
        actions: Vec::new(),
        deliveries: 0,
        measured_in_flight: 0,
        restarted: 0,
        games_over: 0,
        mismatched: 0,
        unsaved: 0,
        bad_payload: 0,
        dropped: 0,
        error_codes: BTreeMap::new(),
    };

    // Setup: connect (bounded concurrency), hello, create/join, game_started.
    let deadline = clock.now_ns() + secs_to_ns(p.setup_timeout_secs);
    let path = wm.target.path_for("", 0);
    let mut started = 0usize;
    loop {
        let settled = pool.open_count() + pool.counters.failures() as usize;
        while started < conns && started - settled.min(started) < p.connect_concurrency.max(1) {
            pool.start(0, &path, clock.now_ns(), &mut book);
            started += 1;
        }
        apply_actions(&mut pool, &mut book);
        pool.flush(&mut book);
        let playing = book
            .games
            .iter()
            .filter(|g| g.stage == Stage::Playing)
            .count();
        let dead = book.games.iter().filter(|g| g.stage == Stage::Dead).count();
        if started >= conns && playing + dead >= p.games {
            break;
        }
        if clock.now_ns() > deadline {
            break;
        }
        pool.poll(Some(2_000_000), || clock.now_ns(), &mut book)
            .map_err(|e| e.to_string())?;
    }
    let playing = book
        .games
        .iter()
        .filter(|g| g.stage == Stage::Playing)
        .count();
    if playing == 0 {
        return Err(format!(
            "chess: no game started ({} sockets open, {:?}, errors {:?})",
            pool.open_count(),
            pool.counters,
            book.error_codes
        ));
    }

    // The window: open loop over ready games.
    let mut sched = OpenLoop::new(
        clock.now_ns() + 1_000_000,
        secs_to_ns(p.warmup_secs),
        secs_to_ns(p.secs),
        p.rate,
        secs_to_ns(p.drain_secs),
        meta.server_pid,
    );
    let window = sched.window;
    book.window = window;
    loop {
        let now = clock.now_ns();
        sched.advance(now);
        while let Some(&t) = sched.due.front() {
            let Some(g) = book.ready.pop_front() else {
                break;
            };
            let game = &mut book.games[g as usize];
            if game.stage != Stage::Playing || game.in_flight.is_some() {
                continue;
            }
            let mover = 2 * g as usize + game.ply % 2;
            let Some(out) = pool.out(mover) else {
                continue;
            };
            out.extend_from_slice(&move_frames[game.ply]);
            game.in_flight = Some(t);
            if sched.sent(t, now) {
                book.measured_in_flight += 1;
            }
            sched.due.pop_front();
        }
        apply_actions(&mut pool, &mut book);
        sched.settle(now, book.deliveries, "move");
        if sched.finished(now, book.measured_in_flight == 0) {
            break;
        }
        pool.flush(&mut book);
        if pool
            .poll(Some(sched.poll_timeout(now)), || clock.now_ns(), &mut book)
            .is_err()
        {
            break;
        }
    }
    let usage = sched.usage(book.deliveries);
    let secs = window.measured_secs();
    let mut counts = ws_counts(
        &sched,
        &pool,
        &tokens,
        book.deliveries,
        &book.error_codes,
        book.dropped,
        book.bad_payload,
    );
    counts.rooms = playing as u64;
    counts.members = 2;
    counts.undelivered = sched.sends.saturating_sub(book.deliveries);
    counts.games = playing as u64;
    counts.games_restarted = book.restarted;
    counts.games_over = book.games_over;
    counts.mismatched = book.mismatched;
    counts.unsaved = book.unsaved;
    counts.errors += book.mismatched;
    pool.close_all(&mut book);
    let mut params = serde_json::to_value(&p).unwrap_or_default();
    params["plies_played_per_game"] = serde_json::json!(plies);
    let measured = Measured {
        params,
        secs,
        hists: vec![
            (Metric::ChessMove, Some(SloRow::WsMessage), book.hist),
            (
                Metric::WsConnect,
                Some(SloRow::WsConnect),
                book.connect_hist,
            ),
            (Metric::AuthGuest, Some(SloRow::Auth), tokens.hist),
        ],
        counts,
        server: usage.server,
        client: usage.client,
    };
    Ok(meta.output("chess", measured))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// A board that plays knight moves and single pawn pushes (the only moves of the line),
    /// checking each is well-formed and legal for these two piece kinds and lands on an empty
    /// square; returns the position key after every ply.
    fn replay(line: &[&str]) -> Vec<String> {
        let mut b: Vec<Vec<char>> = [
            "RNBQKBNR", "PPPPPPPP", "........", "........", "........", "........", "pppppppp",
            "rnbqkbnr",
        ]
        .iter()
        .map(|r| r.chars().collect())
        .collect();
        let sq = |s: &[u8]| ((s[0] - b'a') as usize, (s[1] - b'1') as usize);
        let mut keys = vec![b.iter().map(|r| r.iter().collect::<String>()).collect()];
        for (ply, mv) in line.iter().enumerate() {
            let m = mv.as_bytes();
            assert_eq!(m.len(), 4, "{mv}");
            let ((ff, fr), (tf, tr)) = (sq(&m[..2]), sq(&m[2..]));
            let piece = b[fr][ff];
            let white = ply % 2 == 0;
            assert_eq!(
                piece.is_ascii_uppercase(),
                white,
                "ply {ply} {mv}: wrong side"
            );
            assert_eq!(b[tr][tf], '.', "ply {ply} {mv}: capture or blocked");
            let (df, dr) = (tf as i32 - ff as i32, tr as i32 - fr as i32);
            match piece.to_ascii_lowercase() {
                'n' => assert_eq!(df.abs() * dr.abs(), 2, "ply {ply} {mv}: not a knight move"),
                'p' => assert_eq!((df, dr), (0, if white { 1 } else { -1 }), "{mv}"),
                other => panic!("ply {ply} {mv}: moves a {other}"),
            }
            b[tr][tf] = piece;
            b[fr][ff] = '.';
            keys.push(b.iter().map(|r| r.iter().collect::<String>()).collect());
        }
        keys
    }

    #[test]
    fn line_is_legal_and_never_draws() {
        let l = line();
        assert_eq!(l.len(), LINE_LEN);
        assert_eq!(LINE_LEN, 128);
        let keys = replay(&l);
        let mut seen: HashMap<&String, usize> = HashMap::new();
        for (ply, k) in keys.iter().enumerate() {
            let n = seen.entry(k).or_default();
            *n += 1;
            // same side to move too: positions 8 plies apart share it
            assert!(*n <= 2, "position after ply {ply} occurs a third time");
        }
        // a pawn move at least every 10 plies: far from the fifty-move rule
        let mut since = 0;
        for mv in &l {
            let pawn = PUSHES.iter().any(|(w, b)| w == mv || b == mv);
            since = if pawn { 0 } else { since + 1 };
            assert!(since <= 8, "{mv}");
        }
        // only knights and the a, b, d, e, g, h pawns move (replay checks the pieces): no
        // king, queen, rook or bishop line opens towards a king, so the line gives no check
    }
}
