//! The `ws-connect` scenario: a connection storm at a fixed open-loop rate (each connect has an
//! intended start time; handshake latency runs from it to the 101), then every connection held
//! idle for a while (pings answered), then closed. With a server pid it reads the server's RSS
//! before the storm, while the connections are held, and after they are closed, and reports
//! bytes per held connection.

use serde::Serialize;

use super::{Measured, RunMeta, RunOutput};
use crate::clock::{secs_to_ns, Clock};
use crate::hist::LatencyHist;
use crate::model::{Counts, Metric};
use crate::net::wspool::{ConnState, Failure, WsHandler, WsPool};
use crate::pacer::{Pacer, Window};
use crate::report::slo::SloRow;
use crate::target::room_id;
use crate::usage::{self, Probe};

/// Parameters of a connection storm.
#[derive(Clone, Debug, Serialize)]
pub struct ConnectParams {
    /// Connections to open.
    pub conns: usize,
    /// Offered connects/s.
    pub rate: f64,
    /// Members per room (connection i joins room i / members).
    pub members: usize,
    /// Room id prefix.
    pub room_prefix: String,
    /// Hold every connection this long after the storm, s.
    pub hold_secs: f64,
    /// Per-connection handshake timeout, s.
    pub timeout_secs: f64,
    /// Connects intended in the first `warmup_secs` are excluded from the histogram.
    pub warmup_secs: f64,
    /// Wait after closing before reading RSS again, s.
    pub settle_secs: f64,
}

struct Book {
    hist: LatencyHist,
    measure_from: u64,
    opened: u64,
    dropped: u64,
}

impl WsHandler for Book {
    fn on_open(&mut self, _conn: usize, intended_ns: u64, now_ns: u64) {
        self.opened += 1;
        if intended_ns >= self.measure_from {
            self.hist.record_ns(now_ns.saturating_sub(intended_ns));
        }
    }

    fn on_message(&mut self, _conn: usize, _room: u32, _payload: &[u8], _now_ns: u64) {}

    fn on_close(&mut self, _conn: usize, failure: Failure, was_open: bool) {
        if was_open && failure != Failure::Local {
            self.dropped += 1;
        }
    }
}

/// Runs the storm, hold and close.
pub fn run(meta: &RunMeta, p: ConnectParams) -> Result<RunOutput, String> {
    let clock = Clock::new();
    let mut pool =
        WsPool::new(meta.target.clone(), meta.many_sources).map_err(|e| e.to_string())?;
    let pid = meta.server_pid;
    let storm_secs = p.conns as f64 / p.rate.max(0.001);
    let start = clock.now_ns() + 1_000_000;
    let warm_ns = secs_to_ns(p.warmup_secs.min(storm_secs));
    let window = Window::new(
        start,
        warm_ns,
        secs_to_ns(storm_secs).saturating_sub(warm_ns) + 1,
    );
    let mut pacer = Pacer::new(window, p.rate);
    let mut book = Book {
        hist: LatencyHist::new(),
        measure_from: window.measure_from_ns,
        opened: 0,
        dropped: 0,
    };
    let rss_before = usage::rss_kb(pid);
    let probe = Probe::start(pid);
    let timeout = secs_to_ns(p.timeout_secs);
    let members = p.members.max(1);
    let mut peak = 0usize;
    let mut next_sweep = 0u64;
    // storm: start connects on schedule until all are settled
    loop {
        let now = clock.now_ns();
        while pool.conns.len() < p.conns {
            let Some(t) = pacer.poll(now) else { break };
            let i = pool.conns.len();
            let path = meta
                .target
                .path_for(&room_id(&p.room_prefix, i / members), i);
            pool.start((i / members) as u32, &path, t, &mut book);
        }
        if now >= next_sweep {
            for i in 0..pool.conns.len() {
                let c = &pool.conns[i];
                if matches!(c.state, ConnState::Connecting | ConnState::Handshaking)
                    && now.saturating_sub(c.intended_ns) > timeout
                {
                    pool.fail(i, Failure::Timeout, &mut book);
                }
            }
            next_sweep = now + 10_000_000;
        }
        peak = peak.max(pool.open_count());
        let pending = pool
            .conns
            .iter()
            .any(|c| matches!(c.state, ConnState::Connecting | ConnState::Handshaking));
        if pool.conns.len() >= p.conns && !pending {
            break;
        }
        let wait = match pacer.next_due() {
            Some(t) if pool.conns.len() < p.conns => t.saturating_sub(now).min(5_000_000),
            _ => 5_000_000,
        };
        pool.poll(Some(wait), || clock.now_ns(), &mut book)
            .map_err(|e| e.to_string())?;
    }
    let storm_end = clock.now_ns();
    let storm_usage = probe.finish(book.opened, "connection");
    // hold
    let hold_end = storm_end + secs_to_ns(p.hold_secs);
    loop {
        let now = clock.now_ns();
        if now >= hold_end {
            break;
        }
        pool.poll(
            Some((hold_end - now).min(50_000_000)),
            || clock.now_ns(),
            &mut book,
        )
        .map_err(|e| e.to_string())?;
    }
    let held = pool.open_count();
    let rss_held = usage::rss_kb(pid);
    pool.close_all(&mut book);
    drop(pool);
    std::thread::sleep(std::time::Duration::from_secs_f64(p.settle_secs));
    let rss_after = usage::rss_kb(pid);
    let hwm = usage::hwm_kb(pid);

    let attempts = p.conns as u64;
    let counters = {
        let mut c = Counts::default();
        c.offered_rate = p.rate;
        c.achieved_rate = book.opened as f64 / ((storm_end - start) as f64 / 1e9).max(1e-9);
        c.conn_attempts = attempts;
        c.conn_ok = book.opened;
        c.conn_failed = attempts.saturating_sub(book.opened);
        c.peak_open = peak.max(held) as u64;
        c.rooms = attempts.div_ceil(members as u64);
        c.members = members as u64;
        c.errors = c.conn_failed + book.dropped;
        c
    };
    let server = storm_usage.server.map(|mut s| {
        s.rss_before_kb = rss_before;
        s.rss_held_kb = rss_held;
        s.rss_after_kb = rss_after;
        s.peak_rss_kb = hwm;
        if held > 0 {
            s.bytes_per_conn =
                Some(rss_held.saturating_sub(rss_before) as f64 * 1024.0 / held as f64);
        }
        s
    });
    let measured = Measured {
        params: serde_json::to_value(&p).unwrap_or_default(),
        secs: (storm_end - start) as f64 / 1e9,
        hists: vec![(Metric::WsConnect, Some(SloRow::WsConnect), book.hist)],
        counts: counters,
        server,
        client: storm_usage.client,
    };
    Ok(meta.output("ws-connect", measured))
}
