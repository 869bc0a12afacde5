//! The `matchmaking` scenario: a steady inflow of players into one (mode, region) queue over the
//! typed protocol of `GET /ws` (docs/games.md), open loop at a fixed rate of enqueues/s. A pool
//! of P signed-in sockets (one guest account each, the token phase first): event `i` of the
//! schedule, intended at `start + i / rate`, takes the longest-idle player and sends `queue`;
//! the time to match runs from that intended time to the `match_found` the player receives
//! (an enqueue that had to wait for an idle player counts its wait). A matched player sends
//! `cancel_queue` (the server keeps a matched ticket on the session until then) and is idle
//! again once `queue_cancelled` arrives. Matched rooms are not joined: each one lives
//! `MM_TICKET_TTL_SECS` on the server, so keep `rate × run length / 2` under `MAX_ROOMS`.

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

/// Parameters of a matchmaking run.
#[derive(Clone, Debug, Serialize)]
pub struct MatchParams {
    /// Signed-in sockets (players) the inflow draws from.
    pub players: usize,
    /// Offered enqueues/s.
    pub rate: f64,
    /// Queue mode (`chess`: pairs; `party`: 2 teams of 2).
    pub mode: String,
    /// Queue region.
    pub region: String,
    /// Warm-up, s.
    pub warmup_secs: f64,
    /// Measured window, s.
    pub secs: f64,
    /// Max wait for pending matches after the window, s.
    pub drain_secs: f64,
    /// Guest sign-ins per second in the token phase.
    pub token_rate: f64,
    /// Handshakes in flight at once while connecting.
    pub connect_concurrency: usize,
    /// Give up signing players in after this long, s.
    pub setup_timeout_secs: f64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum St {
    Setup,
    Idle,
    /// In the queue since this intended time.
    Queued(u64),
    Cancelling,
    Dead,
}

/// Players, their states and the figures (the pool's handler).
struct Book {
    st: Vec<St>,
    idle: VecDeque<u32>,
    tokens: Vec<String>,
    window: Window,
    hist: LatencyHist,
    connect_hist: LatencyHist,
    cancel: Vec<u32>,
    hello: Vec<u32>,
    matched: u64,
    measured_waiting: u64,
    bad_payload: u64,
    dropped: u64,
    error_codes: BTreeMap<String, u64>,
}

impl Book {
    fn measured(&self, t: u64) -> bool {
        t >= self.window.measure_from_ns && t < self.window.end_ns
    }

    fn leave_queue(&mut self, conn: usize) {
        if let St::Queued(t) = self.st[conn] {
            if self.measured(t) {
                self.measured_waiting = self.measured_waiting.saturating_sub(1);
            }
        }
    }
}

impl WsHandler for Book {
    fn on_open(&mut self, conn: usize, intended_ns: u64, now_ns: u64) {
        self.connect_hist
            .record_ns(now_ns.saturating_sub(intended_ns));
        self.hello.push(conn as u32);
    }

    fn on_message(&mut self, conn: usize, _room: u32, payload: &[u8], now_ns: u64) {
        let Some(m) = parse(payload) else {
            self.bad_payload += 1;
            return;
        };
        match m.ty.as_ref() {
            "welcome" if self.st[conn] == St::Setup => {
                self.st[conn] = St::Idle;
                self.idle.push_back(conn as u32);
            }
            "match_found" => {
                if let St::Queued(t) = self.st[conn] {
                    if self.measured(t) {
                        self.matched += 1;
                        self.hist.record_ns(now_ns.saturating_sub(t));
                    }
                    self.leave_queue(conn);
                    self.st[conn] = St::Cancelling;
                    self.cancel.push(conn as u32);
                }
            }
            "queue_cancelled" if self.st[conn] == St::Cancelling => {
                self.st[conn] = St::Idle;
                self.idle.push_back(conn as u32);
            }
            "error" => {
                let code = m.code.unwrap_or("?");
                *self.error_codes.entry(code.to_string()).or_default() += 1;
                match self.st[conn] {
                    St::Queued(_) => {
                        // the enqueue was refused: the player is free again
                        self.leave_queue(conn);
                        self.st[conn] = St::Idle;
                        self.idle.push_back(conn as u32);
                    }
                    St::Cancelling => {
                        self.st[conn] = St::Idle;
                        self.idle.push_back(conn as u32);
                    }
                    _ => {}
                }
            }
            _ => {}
        }
    }

    fn on_close(&mut self, conn: usize, _failure: Failure, was_open: bool) {
        if was_open {
            self.dropped += 1;
        }
        self.leave_queue(conn);
        self.st[conn] = St::Dead;
    }
}

fn text(pool: &mut WsPool, conn: u32, payload: &[u8]) -> bool {
    let mask = pool.mask();
    match pool.out(conn as usize) {
        Some(buf) => {
            ws::write_text(buf, payload, mask);
            true
        }
        None => false,
    }
}

fn apply(pool: &mut WsPool, book: &mut Book, cancel_frame: &[u8]) {
    for c in std::mem::take(&mut book.hello) {
        let hello = format!(
            "{{\"type\":\"hello\",\"token\":\"{}\"}}",
            book.tokens[c as usize]
        );
        text(pool, c, hello.as_bytes());
    }
    for c in std::mem::take(&mut book.cancel) {
        if let Some(out) = pool.out(c as usize) {
            out.extend_from_slice(cancel_frame);
        }
    }
}

/// Runs the matchmaking scenario.
pub fn run(meta: &RunMeta, p: MatchParams) -> Result<RunOutput, String> {
    if p.players < 2 {
        return Err("matchmaking needs --players >= 2".into());
    }
    let mut tokens: TokenPhase = guest_tokens(meta, p.players, p.token_rate, 32)?;
    let wm = meta_for(meta, "ws", None, "/ws");
    let mut pool = WsPool::new(wm.target.clone(), wm.many_sources).map_err(|e| e.to_string())?;
    let mask = pool.mask();
    let frame = |s: String| {
        let mut f = Vec::new();
        ws::write_text(&mut f, s.as_bytes(), mask);
        f
    };
    let queue_frame = frame(format!(
        "{{\"type\":\"queue\",\"mode\":{},\"region\":{}}}",
        serde_json::Value::from(p.mode.as_str()),
        serde_json::Value::from(p.region.as_str())
    ));
    let cancel_frame = frame("{\"type\":\"cancel_queue\"}".to_string());
    let clock = Clock::new();
    let mut book = Book {
        st: vec![St::Setup; p.players],
        idle: VecDeque::new(),
        tokens: std::mem::take(&mut tokens.tokens),
        window: Window::new(u64::MAX / 4, 0, 0),
        hist: LatencyHist::new(),
        connect_hist: LatencyHist::new(),
        cancel: Vec::new(),
        hello: Vec::new(),
        matched: 0,
        measured_waiting: 0,
        bad_payload: 0,
        dropped: 0,
        error_codes: BTreeMap::new(),
    };

    let deadline = clock.now_ns() + secs_to_ns(p.setup_timeout_secs);
    let path = wm.target.path_for("", 0);
    let mut started = 0usize;
    loop {
        let settled = pool.open_count() + pool.counters.failures() as usize;
        while started < p.players && started - settled.min(started) < p.connect_concurrency.max(1) {
            pool.start(0, &path, clock.now_ns(), &mut book);
            started += 1;
        }
        apply(&mut pool, &mut book, &cancel_frame);
        pool.flush(&mut book);
        let done = book
            .st
            .iter()
            .filter(|s| matches!(s, St::Idle | St::Dead))
            .count();
        if (started >= p.players && done >= p.players) || clock.now_ns() > deadline {
            break;
        }
        pool.poll(Some(2_000_000), || clock.now_ns(), &mut book)
            .map_err(|e| e.to_string())?;
    }
    let ready = book.idle.len();
    if ready < 2 {
        return Err(format!(
            "matchmaking: only {ready} players signed in ({:?}, errors {:?})",
            pool.counters, book.error_codes
        ));
    }

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
            let Some(c) = book.idle.pop_front() else {
                break;
            };
            if book.st[c as usize] != St::Idle {
                continue;
            }
            let Some(out) = pool.out(c as usize) else {
                continue;
            };
            out.extend_from_slice(&queue_frame);
            book.st[c as usize] = St::Queued(t);
            if sched.sent(t, now) && book.measured(t) {
                book.measured_waiting += 1;
            }
            sched.due.pop_front();
        }
        apply(&mut pool, &mut book, &cancel_frame);
        sched.settle(now, book.matched, "match");
        // a lone player may wait for a partner that never comes: stop when at most one
        // measured player (a chess pair) is still waiting
        if sched.finished(now, book.measured_waiting <= 1) {
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
    let usage = sched.usage(book.matched);
    let secs = window.measured_secs();
    let mut counts = ws_counts(
        &sched,
        &pool,
        &tokens,
        book.matched,
        &book.error_codes,
        book.dropped,
        book.bad_payload,
    );
    counts.unmatched = sched.sends.saturating_sub(book.matched);
    pool.close_all(&mut book);
    let measured = Measured {
        params: serde_json::to_value(&p).unwrap_or_default(),
        secs,
        hists: vec![
            (Metric::TimeToMatch, None, book.hist),
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
    Ok(meta.output("matchmaking", measured))
}
