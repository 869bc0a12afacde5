//! The `relay` scenario: R rooms × M members on a `{room}` URL template, an aggregate open-loop
//! send rate round-robin over all members (rooms interleaved), each message stamped with its
//! intended send time, sender and room. Every delivery is checked (self echo, wrong room,
//! stamp) and its one-way latency recorded; expected deliveries = measured sends × (open
//! members of the room − 1), and whatever is missing after the drain counts as undelivered.
//! [`RelayEngine`] keeps its connections across steps so [`super::stress`] can reuse it.

use serde::Serialize;

use super::{Measured, RunMeta, RunOutput, StepOutcome, Stepper};
use crate::clock::{secs_to_ns, Clock};
use crate::hist::LatencyHist;
use crate::model::{Counts, Metric, StepResult};
use crate::net::ws::{FrameTemplate, Stamp};
use crate::net::wspool::{ConnState, Failure, WsHandler, WsPool};
use crate::pacer::{Pacer, Phase, Window};
use crate::report::slo::SloRow;
use crate::target::room_id;
use crate::usage::{Probe, Usage};

/// Parameters of a relay workload.
#[derive(Clone, Debug, Serialize)]
pub struct RelayParams {
    /// Rooms.
    pub rooms: usize,
    /// Members per room.
    pub members: usize,
    /// Payload bytes per message (at least the stamp).
    pub size: usize,
    /// Text frames (hex stamp) instead of binary.
    pub text: bool,
    /// Room id prefix.
    pub room_prefix: String,
    /// Aggregate offered sends/s.
    pub rate: f64,
    /// Warm-up, s.
    pub warmup_secs: f64,
    /// Measured window, s.
    pub secs: f64,
    /// Max wait for in-flight deliveries after the window, s.
    pub drain_secs: f64,
    /// Handshakes in flight at once while connecting.
    pub connect_concurrency: usize,
    /// Give up connecting after this long, s.
    pub connect_timeout_secs: f64,
    /// Which shard of the server each member should be accepted by.
    pub placement: Placement,
    /// Shards of the server (roomcore's `--shards`), to know each room's owner.
    pub server_shards: usize,
}

/// Where a member's socket lands, relative to its room's owner shard (`routing::shard_for`).
/// A socket accepted by an unwanted shard (roomcore says which in `X-Roomcore-Shard`) is
/// closed and dialled again (the kernel spreads connections over the shards' listeners).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Placement {
    /// Wherever the kernel puts it.
    #[default]
    Any,
    /// Accepted by the room's owner: the room stays local to one shard from the start.
    Owner,
    /// Accepted by another shard: every member arrives through another shard and is handed
    /// to the owner.
    Elsewhere,
}

/// Redials allowed per member before a misplaced socket is kept as it is.
const REDIALS_PER_MEMBER: usize = 32;

/// Delivery bookkeeping (the pool's handler).
#[derive(Default)]
struct Book {
    step: u32,
    text: bool,
    hist: LatencyHist,
    /// How late measured sends left after their intended time.
    lag_hist: LatencyHist,
    connect_hist: LatencyHist,
    open_in_room: Vec<u32>,
    deliveries: u64,
    warm_deliveries: u64,
    stale: u64,
    self_echo: u64,
    wrong_room: u64,
    bad_payload: u64,
    dropped: u64,
    placement: Placement,
    /// Owner shard of each room (placement other than `Any`).
    owner: Vec<u32>,
    /// (room, server) of each connection, by connection number.
    member: Vec<(u32, usize)>,
    /// Members to dial again (their socket landed on an unwanted shard).
    redial: Vec<(u32, usize)>,
    redials_left: usize,
    /// Sockets kept on an unwanted shard once the redials ran out.
    misplaced_kept: u64,
}

impl WsHandler for Book {
    fn on_open(&mut self, _conn: usize, intended_ns: u64, now_ns: u64) {
        self.connect_hist
            .record_ns(now_ns.saturating_sub(intended_ns));
    }

    #[inline]
    fn on_message(&mut self, conn: usize, room: u32, payload: &[u8], now_ns: u64) {
        let stamp = if self.text {
            Stamp::from_hex(payload)
        } else {
            Stamp::from_bytes(payload)
        };
        let Some(s) = stamp else {
            self.bad_payload += 1;
            return;
        };
        if s.sender as usize == conn {
            self.self_echo += 1;
            return;
        }
        if s.room != room {
            self.wrong_room += 1;
            return;
        }
        if s.tag >> 1 != self.step {
            self.stale += 1;
        } else if s.tag & 1 == 1 {
            self.deliveries += 1;
            self.hist.record_ns(now_ns.saturating_sub(s.intended_ns));
        } else {
            self.warm_deliveries += 1;
        }
    }

    fn placed(&mut self, conn: usize, room: u32, shard: Option<u32>) -> bool {
        let (Some(shard), Some(&owner)) = (shard, self.owner.get(room as usize)) else {
            return true;
        };
        let wanted = match self.placement {
            Placement::Any => true,
            Placement::Owner => shard == owner,
            Placement::Elsewhere => shard != owner,
        };
        if wanted {
            return true;
        }
        if self.redials_left == 0 {
            self.misplaced_kept += 1;
            return true;
        }
        self.redials_left -= 1;
        self.redial.push(self.member[conn]);
        false
    }

    fn on_close(&mut self, _conn: usize, _failure: Failure, was_open: bool) {
        if was_open {
            self.dropped += 1;
        }
    }
}

/// Figures of one measured window.
#[derive(Clone, Debug, Default)]
pub struct WindowStats {
    /// Sends intended in the measured window.
    pub sends: u64,
    /// Expected deliveries of those sends.
    pub expected: u64,
    /// Deliveries of those sends.
    pub deliveries: u64,
    /// Errors in the step (drops, echo, wrong room, bad payloads, connection failures).
    pub errors: u64,
    /// Late deliveries of earlier steps.
    pub stale: u64,
    /// Usage over the measured window.
    pub usage: Usage,
    /// Measured window length, s.
    pub secs: f64,
}

/// Connected relay members, reusable across steps.
pub struct RelayEngine {
    pool: WsPool,
    book: Book,
    clock: Clock,
    tmpl: FrameTemplate,
    params: RelayParams,
    pids: Vec<u32>,
    rr: usize,
    last: WindowStats,
}

impl RelayEngine {
    /// Connects every member (bounded concurrency); fails only if nothing could connect.
    pub fn connect(meta: &RunMeta, params: RelayParams) -> Result<Self, String> {
        let mut pool =
            WsPool::new(meta.target.clone(), meta.many_sources).map_err(|e| e.to_string())?;
        for t in &meta.more_targets {
            pool.add_target(t.clone());
        }
        let servers = 1 + meta.more_targets.len();
        let tmpl = FrameTemplate::new(params.size, params.text, pool.mask());
        let clock = Clock::new();
        if params.placement == Placement::Elsewhere && params.server_shards < 2 {
            return Err("relay: --placement elsewhere needs --server-shards of 2 or more".into());
        }
        let owner = match params.placement {
            Placement::Any => Vec::new(),
            _ => (0..params.rooms)
                .map(|r| {
                    let id = room_id(&params.room_prefix, r);
                    shards::routing::shard_for(&id, params.server_shards) as u32
                })
                .collect(),
        };
        let total = params.rooms * params.members;
        let mut book = Book {
            text: params.text,
            open_in_room: vec![0; params.rooms],
            placement: params.placement,
            owner,
            redials_left: total * REDIALS_PER_MEMBER,
            ..Book::default()
        };
        let deadline = clock.now_ns() + secs_to_ns(params.connect_timeout_secs);
        // Member m of every room on server m mod servers: each room spans them all.
        let mut pending: std::collections::VecDeque<(u32, usize)> = (0..total)
            .map(|k| ((k % params.rooms) as u32, (k / params.rooms) % servers))
            .collect();
        loop {
            let now = clock.now_ns();
            pending.extend(book.redial.drain(..));
            let settled = pool.open_count() + pool.counters.failures() as usize;
            let ended = settled + pool.counters.misplaced as usize;
            while let Some(&(room, server)) = pending.front() {
                if pool.conns.len() - ended.min(pool.conns.len()) >= params.connect_concurrency {
                    break;
                }
                pending.pop_front();
                let path = meta.target_at(server).path_for(
                    &room_id(&params.room_prefix, room as usize),
                    book.member.len(),
                );
                book.member.push((room, server));
                pool.start_on(server, room, &path, clock.now_ns(), &mut book);
            }
            if settled >= total {
                break;
            }
            if now > deadline {
                for i in 0..pool.conns.len() {
                    if pool.conns[i].state != ConnState::Open {
                        pool.fail(i, Failure::Timeout, &mut book);
                    }
                }
                break;
            }
            pool.poll(Some(2_000_000), || clock.now_ns(), &mut book)
                .map_err(|e| e.to_string())?;
        }
        if pool.open_count() == 0 {
            return Err(format!(
                "relay: none of {total} connections to {} opened ({:?})",
                meta.target_url, pool.counters
            ));
        }
        for c in &pool.conns {
            if c.state == ConnState::Open {
                book.open_in_room[c.room as usize] += 1;
            }
        }
        Ok(Self {
            pool,
            book,
            clock,
            tmpl,
            params,
            pids: meta.pids(),
            rr: 0,
            last: WindowStats::default(),
        })
    }

    /// Handshake latency histogram of the connect phase.
    pub fn connect_hist(&self) -> &LatencyHist {
        &self.book.connect_hist
    }

    /// Connection counters.
    pub fn pool(&self) -> &WsPool {
        &self.pool
    }

    #[inline]
    fn send(&mut self, intended: u64, phase: Phase) -> Option<u64> {
        let n = self.pool.conns.len();
        for _ in 0..n.min(64) {
            let i = self.rr;
            self.rr = if i + 1 == n { 0 } else { i + 1 };
            let room = self.pool.conns[i].room;
            let measured = phase == Phase::Measured;
            let stamp = Stamp {
                intended_ns: intended,
                sender: i as u32,
                room,
                tag: self.book.step << 1 | u32::from(measured),
            };
            let open_members = u64::from(self.book.open_in_room[room as usize]);
            if let Some(out) = self.pool.out(i) {
                self.tmpl.write(out, &stamp);
                return Some(open_members.saturating_sub(1));
            }
        }
        None
    }

    /// Runs one window: warm-up then measured, open loop at `rate`, then drains.
    pub fn run_window(&mut self, step: u32, rate: f64, warmup_secs: f64, secs: f64) -> WindowStats {
        self.book.step = step;
        self.book.hist.clear();
        self.book.lag_hist.clear();
        self.book.deliveries = 0;
        self.book.warm_deliveries = 0;
        let errs0 = self.errors();
        let stale0 = self.book.stale;
        let start = self.clock.now_ns() + 1_000_000;
        let window = Window::new(start, secs_to_ns(warmup_secs), secs_to_ns(secs));
        let mut pacer = Pacer::new(window, rate);
        let drain_ns = secs_to_ns(self.params.drain_secs);
        let (mut sends, mut expected) = (0u64, 0u64);
        let mut probe: Option<Probe> = None;
        let mut usage: Option<Usage> = None;
        loop {
            let now = self.clock.now_ns();
            if probe.is_none() && now >= window.measure_from_ns {
                probe = Some(Probe::start_all(self.pids.clone()));
            }
            while let Some(t) = pacer.poll(now) {
                let phase = window.phase(t);
                if phase == Phase::Measured {
                    sends += 1;
                    self.book.lag_hist.record_ns(now.saturating_sub(t));
                }
                if let Some(exp) = self.send(t, phase) {
                    if phase == Phase::Measured {
                        expected += exp;
                    }
                }
            }
            if usage.is_none() && now >= window.end_ns {
                let p = probe.get_or_insert_with(|| Probe::start_all(self.pids.clone()));
                usage = Some(p.finish(self.book.deliveries, "delivery"));
            }
            if pacer.done()
                && now >= window.end_ns
                && (self.book.deliveries >= expected || now >= window.end_ns + drain_ns)
            {
                break;
            }
            self.pool.flush(&mut self.book);
            let timeout = match pacer.next_due() {
                Some(t) => t.saturating_sub(now).min(10_000_000),
                None => 1_000_000,
            };
            let clock = self.clock;
            if self
                .pool
                .poll(Some(timeout), || clock.now_ns(), &mut self.book)
                .is_err()
            {
                break;
            }
        }
        let usage = usage.unwrap_or_default();
        let mut usage = usage;
        // deliveries may have continued during the drain: per-unit figures use the window's CPU
        // and the deliveries of the window's sends
        if let Some(s) = usage.server.as_mut() {
            if self.book.deliveries > 0 {
                s.cpu_us_per_unit = s.cpu_us as f64 / self.book.deliveries as f64;
                s.units_per_cpu_sec = if s.cpu_us == 0 {
                    0.0
                } else {
                    self.book.deliveries as f64 * 1e6 / s.cpu_us as f64
                };
            }
        }
        if self.book.deliveries > 0 {
            usage.client.cpu_us_per_unit = usage.client.cpu_us as f64 / self.book.deliveries as f64;
        }
        self.last = WindowStats {
            sends,
            expected,
            deliveries: self.book.deliveries,
            errors: self.errors() - errs0,
            stale: self.book.stale - stale0,
            usage,
            secs: window.measured_secs(),
        };
        self.last.clone()
    }

    fn errors(&self) -> u64 {
        self.book.self_echo
            + self.book.wrong_room
            + self.book.bad_payload
            + self.book.dropped
            + self.pool.counters.protocol_errors
            + self.pool.counters.io_errors
    }

    /// Latency histogram of the last measured window.
    pub fn hist(&self) -> &LatencyHist {
        &self.book.hist
    }

    /// Counts of the last window in report form.
    pub fn counts(&self, rate: f64) -> Counts {
        let w = &self.last;
        let p = &self.pool.counters;
        let attempts = self.pool.conns.len() as u64 - p.misplaced;
        Counts {
            offered_rate: rate,
            achieved_rate: if w.secs > 0.0 {
                w.deliveries as f64 / w.secs
            } else {
                0.0
            },
            conn_attempts: attempts,
            conn_ok: attempts - p.connect_failed - p.handshake_rejected - p.handshake_timeout,
            conn_failed: p.connect_failed + p.handshake_rejected + p.handshake_timeout,
            peak_open: self.pool.open_count() as u64 + self.book.dropped,
            rooms: self.params.rooms as u64,
            members: self.params.members as u64,
            sends: w.sends,
            deliveries: w.deliveries,
            expected_deliveries: w.expected,
            undelivered: w.expected.saturating_sub(w.deliveries),
            self_echo: self.book.self_echo,
            wrong_room: self.book.wrong_room,
            bad_payload: self.book.bad_payload,
            stale: self.book.stale,
            pool: *p,
            errors: self.errors() + p.connect_failed + p.handshake_rejected + p.handshake_timeout,
            ..Counts::default()
        }
    }

    /// Closes every connection.
    pub fn close(mut self) {
        self.pool.close_all(&mut self.book);
    }
}

impl Stepper for RelayEngine {
    fn unit(&self) -> &'static str {
        "deliveries"
    }

    fn run_step(&mut self, step: u32, rate: f64, warmup_secs: f64, secs: f64) -> StepOutcome {
        let w = self.run_window(step, rate, warmup_secs, secs);
        let undelivered = w.expected.saturating_sub(w.deliveries);
        StepOutcome {
            result: StepResult {
                offered_rate: rate,
                units_per_sec: if w.secs > 0.0 {
                    w.deliveries as f64 / w.secs
                } else {
                    0.0
                },
                latency: self.book.hist.summary(),
                srv_cpu_pct: w.usage.server.as_ref().map(|s| s.cpu_pct),
                lg_cpu_pct: w.usage.client.cpu_pct,
                errors: w.errors,
                undelivered,
                send_lag_p99_us: Some(self.book.lag_hist.summary().p99),
                ..StepResult::default()
            },
            hist: self.book.hist.clone(),
        }
    }
}

/// Runs the relay scenario: connect, one warm-up + measured window, close.
pub fn run(meta: &RunMeta, params: RelayParams) -> Result<RunOutput, String> {
    let rate = params.rate;
    let (warm, secs) = (params.warmup_secs, params.secs);
    let params_json = serde_json::to_value(&params).unwrap_or_default();
    let mut eng = RelayEngine::connect(meta, params)?;
    let w = eng.run_window(0, rate, warm, secs);
    let counts = eng.counts(rate);
    let msg = eng.hist().clone();
    let lag = eng.book.lag_hist.clone();
    let conn = eng.connect_hist().clone();
    eng.close();
    let measured = Measured {
        params: params_json,
        secs: w.secs,
        hists: vec![
            (Metric::WsMessage, Some(SloRow::WsMessage), msg),
            (Metric::WsConnect, Some(SloRow::WsConnect), conn),
            (Metric::SendLag, None, lag),
        ],
        counts,
        server: w.usage.server,
        client: w.usage.client,
    };
    Ok(meta.output("relay", measured))
}
