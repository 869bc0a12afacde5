//! The `http` scenario: any method, path, headers and body, sent at a fixed offered rate over a
//! set of keep-alive connections. Requests due by the open-loop schedule wait in one FIFO for a
//! free connection; latency runs from the intended send time to the last byte of the response,
//! so a slow server shows up as latency rather than as a lower send rate. Statuses are counted
//! by class (429 separately), transport failures as errors, and closed connections reopened.

use std::collections::VecDeque;
use std::io;
use std::os::fd::AsRawFd;

use serde::Serialize;
use socket2::Socket;

use super::{Measured, RunMeta, RunOutput, StepOutcome, Stepper};
use crate::clock::{secs_to_ns, Clock};
use crate::hist::LatencyHist;
use crate::model::{Counts, Metric, StepResult};
use crate::net::epoll::Poller;
use crate::net::http::{build_request, parse_response, Response};
use crate::net::socket::{self, SourceCycle};
use crate::pacer::{Pacer, Window};
use crate::report::slo::SloRow;
use crate::usage::{Probe, Usage};

/// Parameters of an HTTP workload.
#[derive(Clone, Debug, Serialize)]
pub struct HttpParams {
    /// Method.
    pub method: String,
    /// Extra header lines.
    pub headers: Vec<String>,
    /// Request body.
    pub body: String,
    /// Keep-alive connections.
    pub connections: usize,
    /// Offered requests/s.
    pub rate: f64,
    /// Warm-up, s.
    pub warmup_secs: f64,
    /// Measured window, s.
    pub secs: f64,
    /// A request unanswered this long is an error, s.
    pub timeout_secs: f64,
    /// Max wait for outstanding responses after the window, s.
    pub drain_secs: f64,
    /// SLO row the latency is judged against (derived from method + path unless given).
    pub slo_row: Option<SloRow>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum St {
    Connecting,
    Idle,
    Busy,
    Closed,
}

struct Conn {
    sock: Option<Socket>,
    st: St,
    intended: u64,
    sent_pos: usize,
    want_write: bool,
    inbuf: Vec<u8>,
}

/// Status and error counters of a window.
#[derive(Clone, Debug, Default)]
struct Tally {
    requests: u64,
    responses: u64,
    s2: u64,
    s3: u64,
    s4: u64,
    s429: u64,
    s5: u64,
    s503: u64,
    errors: u64,
}

/// Keep-alive HTTP connections plus the open-loop request queue.
pub struct HttpEngine {
    poller: Poller,
    /// Read buffer shared by all connections (a response is copied out to its connection's
    /// `inbuf`), so no per-read zeroing or per-connection buffer.
    scratch: Box<[u8]>,
    conns: Vec<Conn>,
    idle: Vec<usize>,
    queue: VecDeque<u64>,
    /// Request bytes; connection `i` sends `requests[i % len]`.
    requests: Vec<Vec<u8>>,
    /// Keep the bytes of every 2xx response (token phases read bodies).
    keep_bodies: bool,
    bodies: Vec<Vec<u8>>,
    clock: Clock,
    sources: SourceCycle,
    meta: RunMeta,
    params: HttpParams,
    hist: LatencyHist,
    /// How late measured requests were taken off the schedule (the load generator's own
    /// lateness; a wait for a free connection after that is the server's, in `hist`).
    lag_hist: LatencyHist,
    tally: Tally,
    window: Window,
    reconnects: u64,
}

impl HttpEngine {
    /// Opens the connections (fails if none connects within 5 s).
    pub fn connect(meta: &RunMeta, params: HttpParams) -> Result<Self, String> {
        let path = meta.target.path_for("", 0);
        let request = build_request(
            &params.method,
            &meta.target.host_header,
            &path,
            &params.headers,
            params.body.as_bytes(),
        );
        Self::connect_with(meta, params, vec![request], false)
    }

    /// Opens the connections; connection `i` sends `requests[i % requests.len()]` (one
    /// request per account, say). With `keep_bodies` every 2xx response is kept for
    /// [`HttpEngine::take_bodies`].
    pub fn connect_with(
        meta: &RunMeta,
        params: HttpParams,
        requests: Vec<Vec<u8>>,
        keep_bodies: bool,
    ) -> Result<Self, String> {
        if requests.is_empty() {
            return Err("http: no request to send".into());
        }
        let mut e = Self {
            poller: Poller::new_edge_triggered(1024).map_err(|e| e.to_string())?,
            scratch: vec![0u8; 16 * 1024].into_boxed_slice(),
            conns: Vec::new(),
            idle: Vec::new(),
            queue: VecDeque::new(),
            requests,
            keep_bodies,
            bodies: Vec::new(),
            clock: Clock::new(),
            sources: SourceCycle::new(meta.many_sources && meta.target.is_loopback()),
            meta: meta.clone(),
            params,
            hist: LatencyHist::new(),
            lag_hist: LatencyHist::new(),
            tally: Tally::default(),
            window: Window::new(0, 0, 0),
            reconnects: 0,
        };
        for i in 0..e.params.connections.max(1) {
            e.conns.push(Conn {
                sock: None,
                st: St::Closed,
                intended: 0,
                sent_pos: 0,
                want_write: false,
                inbuf: Vec::new(),
            });
            e.open(i);
        }
        let deadline = e.clock.now_ns() + 5_000_000_000;
        while e.clock.now_ns() < deadline && e.conns.iter().any(|c| c.st == St::Connecting) {
            e.poll_once(2_000_000);
        }
        if e.idle.is_empty() {
            return Err(format!("http: could not connect to {}", meta.target_url));
        }
        e.tally = Tally::default();
        e.reconnects = 0;
        Ok(e)
    }

    fn open(&mut self, i: usize) {
        let c = &mut self.conns[i];
        c.inbuf.clear();
        c.sent_pos = 0;
        match socket::connect(self.meta.target.addr, self.sources.next_addr()) {
            Ok(s) => {
                if self.poller.add(s.as_raw_fd(), i as u64, true).is_ok() {
                    c.sock = Some(s);
                    c.st = St::Connecting;
                    c.want_write = true;
                } else {
                    c.st = St::Closed;
                }
            }
            Err(_) => c.st = St::Closed,
        }
    }

    fn measured(&self, intended: u64) -> bool {
        intended >= self.window.measure_from_ns && intended < self.window.end_ns
    }

    /// Drops connection `i`; an in-flight request becomes an error and is re-queued never
    /// (open loop: it was sent, it failed).
    fn drop_conn(&mut self, i: usize, reopen: bool) {
        let busy = self.conns[i].st == St::Busy;
        let intended = self.conns[i].intended;
        self.conns[i].sock = None;
        self.conns[i].st = St::Closed;
        self.idle.retain(|&k| k != i);
        if busy && self.measured(intended) {
            self.tally.errors += 1;
        }
        if reopen {
            self.reconnects += 1;
            self.open(i);
        }
    }

    fn set_write_interest(&mut self, i: usize, want: bool) {
        let c = &mut self.conns[i];
        if c.want_write != want {
            c.want_write = want;
            if let Some(s) = c.sock.as_ref() {
                let _ = self.poller.modify(s.as_raw_fd(), i as u64, want);
            }
        }
    }

    fn write_req(&mut self, i: usize) -> io::Result<()> {
        let c = &mut self.conns[i];
        let Some(s) = c.sock.as_ref() else {
            return Ok(());
        };
        let request = &self.requests[i % self.requests.len()];
        while c.sent_pos < request.len() {
            match socket::write(s, &request[c.sent_pos..]) {
                Ok(n) => c.sent_pos += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        let pending = c.sent_pos < request.len();
        self.set_write_interest(i, pending);
        Ok(())
    }

    fn dispatch(&mut self) {
        while !self.queue.is_empty() {
            let Some(i) = self.idle.pop() else { break };
            let t = self.queue.pop_front().unwrap_or(0);
            let c = &mut self.conns[i];
            c.st = St::Busy;
            c.intended = t;
            c.sent_pos = 0;
            if self.write_req(i).is_err() {
                self.drop_conn(i, true);
            }
        }
    }

    /// Reads and handles connection `i`'s responses; stops at a short read unless `to_end` (the
    /// poller reported the server's shutdown, which only a read returning 0 consumes).
    fn on_readable(&mut self, i: usize, now: u64, to_end: bool) {
        loop {
            let Some(s) = self.conns[i].sock.as_ref() else {
                return;
            };
            let (n, eof) = match socket::read(s, &mut self.scratch) {
                Ok(0) => (0, true),
                Ok(n) => (n, false),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => {
                    self.drop_conn(i, true);
                    return;
                }
            };
            self.conns[i].inbuf.extend_from_slice(&self.scratch[..n]);
            loop {
                let c = &mut self.conns[i];
                if c.inbuf.is_empty() && !eof {
                    break;
                }
                match parse_response(&c.inbuf, 64 * 1024 * 1024, eof) {
                    Response::Incomplete => {
                        if eof {
                            self.drop_conn(i, true);
                            return;
                        }
                        break;
                    }
                    Response::Error(_) => {
                        // drop_conn counts the in-flight request as an error
                        self.drop_conn(i, true);
                        return;
                    }
                    Response::Complete {
                        status,
                        consumed,
                        close,
                    } => {
                        if self.keep_bodies && (200..300).contains(&status) {
                            self.bodies.push(c.inbuf[..consumed].to_vec());
                        }
                        c.inbuf.drain(..consumed);
                        if c.st != St::Busy {
                            // unsolicited response: protocol error
                            self.tally.errors += 1;
                            self.drop_conn(i, true);
                            return;
                        }
                        let intended = c.intended;
                        c.st = St::Idle;
                        if self.measured(intended) {
                            self.hist.record_ns(now.saturating_sub(intended));
                            let t = &mut self.tally;
                            t.responses += 1;
                            match status {
                                200..=299 => t.s2 += 1,
                                300..=399 => t.s3 += 1,
                                429 => {
                                    t.s4 += 1;
                                    t.s429 += 1
                                }
                                400..=499 => t.s4 += 1,
                                503 => {
                                    t.s5 += 1;
                                    t.s503 += 1
                                }
                                _ => t.s5 += 1,
                            }
                        }
                        if close || eof {
                            self.drop_conn(i, true);
                            return;
                        }
                        self.idle.push(i);
                    }
                }
            }
            if eof {
                self.drop_conn(i, true);
                return;
            }
            if n < self.scratch.len() && !to_end {
                return;
            }
        }
    }

    fn poll_once(&mut self, timeout_ns: u64) {
        let n = self.poller.wait(Some(timeout_ns)).unwrap_or(0);
        let now = self.clock.now_ns();
        for k in 0..n {
            let ev = self.poller.event(k);
            let i = ev.token as usize;
            if i >= self.conns.len() || self.conns[i].sock.is_none() {
                continue;
            }
            if self.conns[i].st == St::Connecting {
                if !(ev.writable || ev.closed) {
                    continue;
                }
                let ok = self.conns[i]
                    .sock
                    .as_ref()
                    .is_some_and(|s| matches!(s.take_error(), Ok(None)));
                if !ok {
                    self.tally.errors += 1;
                    self.drop_conn(i, false);
                    continue;
                }
                self.conns[i].st = St::Idle;
                self.set_write_interest(i, false);
                self.idle.push(i);
                continue;
            }
            if ev.writable && self.conns[i].st == St::Busy && self.write_req(i).is_err() {
                self.drop_conn(i, true);
                continue;
            }
            if ev.readable || ev.closed {
                self.on_readable(i, now, ev.peer_done);
            }
        }
    }

    fn expire(&mut self, now: u64) {
        let limit = secs_to_ns(self.params.timeout_secs);
        for i in 0..self.conns.len() {
            let c = &self.conns[i];
            if c.st == St::Busy && now.saturating_sub(c.intended) > limit {
                self.drop_conn(i, true);
            } else if c.st == St::Closed {
                self.open(i);
            }
        }
    }

    /// Runs one warm-up + measured window at `rate`, then drains outstanding requests.
    pub fn run_window(&mut self, rate: f64, warmup_secs: f64, secs: f64) -> (Usage, f64) {
        self.hist.clear();
        self.lag_hist.clear();
        self.tally = Tally::default();
        let start = self.clock.now_ns() + 1_000_000;
        self.window = Window::new(start, secs_to_ns(warmup_secs), secs_to_ns(secs));
        let window = self.window;
        let mut pacer = Pacer::new(window, rate);
        let drain = secs_to_ns(self.params.drain_secs);
        let mut probe: Option<Probe> = None;
        let mut usage: Option<Usage> = None;
        let mut next_expire = start;
        loop {
            let now = self.clock.now_ns();
            if probe.is_none() && now >= window.measure_from_ns {
                probe = Some(Probe::start(self.meta.server_pid));
            }
            while let Some(t) = pacer.poll(now) {
                if self.measured(t) {
                    self.tally.requests += 1;
                    self.lag_hist.record_ns(now.saturating_sub(t));
                }
                self.queue.push_back(t);
            }
            if usage.is_none() && now >= window.end_ns {
                let p = probe.get_or_insert_with(|| Probe::start(self.meta.server_pid));
                usage = Some(p.finish(self.tally.responses, "request"));
            }
            let outstanding = !self.queue.is_empty() || self.conns.iter().any(|c| c.st == St::Busy);
            if pacer.done()
                && now >= window.end_ns
                && (!outstanding || now >= window.end_ns + drain)
            {
                break;
            }
            if now >= next_expire {
                self.expire(now);
                next_expire = now + 50_000_000;
            }
            self.dispatch();
            let timeout = match pacer.next_due() {
                Some(t) => t.saturating_sub(now).min(10_000_000),
                None => 1_000_000,
            };
            self.poll_once(timeout);
            self.dispatch();
        }
        // requests never answered (still queued or in flight) are errors
        let unanswered = self
            .tally
            .requests
            .saturating_sub(self.tally.responses + self.tally.errors);
        self.tally.errors += unanswered;
        self.queue.clear();
        for i in 0..self.conns.len() {
            if self.conns[i].st == St::Busy {
                // the in-flight request was already counted as unanswered
                self.conns[i].st = St::Idle;
                self.drop_conn(i, true);
            }
        }
        let mut usage = usage.unwrap_or_default();
        let n = self.tally.responses;
        if n > 0 {
            usage.client.cpu_us_per_unit = usage.client.cpu_us as f64 / n as f64;
        }
        (usage, window.measured_secs())
    }

    /// Latency histogram of the last window.
    pub fn hist(&self) -> &LatencyHist {
        &self.hist
    }

    /// Send-lag histogram of the last window ([`Metric::SendLag`]).
    pub fn lag_hist(&self) -> &LatencyHist {
        &self.lag_hist
    }

    /// The 2xx responses kept so far (whole responses, head and body), emptied.
    pub fn take_bodies(&mut self) -> Vec<Vec<u8>> {
        std::mem::take(&mut self.bodies)
    }

    /// Counts of the last window in report form.
    pub fn counts(&self, rate: f64, secs: f64) -> Counts {
        let t = &self.tally;
        Counts {
            offered_rate: rate,
            achieved_rate: if secs > 0.0 {
                t.responses as f64 / secs
            } else {
                0.0
            },
            requests: t.requests,
            responses: t.responses,
            status_2xx: t.s2,
            status_3xx: t.s3,
            status_4xx: t.s4,
            status_429: t.s429,
            status_5xx: t.s5,
            status_503: t.s503,
            http_errors: t.errors,
            connections: self.conns.len() as u64,
            errors: t.errors + t.s5,
            ..Counts::default()
        }
    }
}

impl Stepper for HttpEngine {
    fn unit(&self) -> &'static str {
        "responses"
    }

    fn run_step(&mut self, _step: u32, rate: f64, warmup_secs: f64, secs: f64) -> StepOutcome {
        let (usage, secs) = self.run_window(rate, warmup_secs, secs);
        let c = self.counts(rate, secs);
        StepOutcome {
            result: StepResult {
                offered_rate: rate,
                units_per_sec: c.achieved_rate,
                latency: self.hist.summary(),
                srv_cpu_pct: usage.server.as_ref().map(|s| s.cpu_pct),
                lg_cpu_pct: usage.client.cpu_pct,
                errors: c.errors + c.status_4xx,
                send_lag_p99_us: Some(self.lag_hist.summary().p99),
                ..StepResult::default()
            },
            hist: self.hist.clone(),
        }
    }
}

/// The SLO row a request measures, from its method and path.
pub fn slo_row_for(method: &str, path: &str) -> Option<SloRow> {
    let path = path.split('?').next().unwrap_or(path);
    let m = method.to_ascii_uppercase();
    if m == "GET" && (path == "/health" || path == "/healthz") {
        Some(SloRow::Health)
    } else if m == "POST" && path.starts_with("/api/auth/") {
        Some(SloRow::Auth)
    } else if m == "GET" && path.starts_with("/api/leaderboard") {
        Some(SloRow::Leaderboard)
    } else {
        None
    }
}

/// Runs the http scenario: connect, one warm-up + measured window.
pub fn run(meta: &RunMeta, params: HttpParams) -> Result<RunOutput, String> {
    let row = params
        .slo_row
        .or_else(|| slo_row_for(&params.method, &meta.target.path_template));
    let params_json = serde_json::to_value(&params).unwrap_or_default();
    let (rate, warm, secs) = (params.rate, params.warmup_secs, params.secs);
    let mut eng = HttpEngine::connect(meta, params)?;
    let (usage, secs) = eng.run_window(rate, warm, secs);
    let counts = eng.counts(rate, secs);
    let hist = eng.hist().clone();
    let measured = Measured {
        params: params_json,
        secs,
        hists: vec![
            (Metric::Http, row, hist),
            (Metric::SendLag, None, eng.lag_hist().clone()),
        ],
        counts,
        server: usage.server,
        client: usage.client,
    };
    Ok(meta.output("http", measured))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slo_rows_from_method_and_path() {
        assert_eq!(slo_row_for("GET", "/health"), Some(SloRow::Health));
        assert_eq!(slo_row_for("post", "/api/auth/login"), Some(SloRow::Auth));
        assert_eq!(
            slo_row_for("GET", "/api/leaderboard?game=x&limit=10"),
            Some(SloRow::Leaderboard)
        );
        assert_eq!(slo_row_for("GET", "/ready"), None);
        assert_eq!(slo_row_for("POST", "/health"), None);
    }
}
