//! The result model every scenario produces and every report consumes (serialised as the JSON
//! report): one [`RunResult`] per scenario run, holding latency summaries and curves tagged with
//! the SLO row they measure, counters, server and load-generator resource usage, and the step
//! table of a stress run.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::hist::{CurvePoint, LatencyHist, Summary};
use crate::net::wspool::PoolCounters;
use crate::report::slo::SloRow;

/// What a latency series measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// HTTP request → complete response, from the intended send time.
    Http,
    /// WebSocket connect → 101 received, from the intended connect time.
    WsConnect,
    /// Relay message one-way latency, intended send time → delivery.
    WsMessage,
    /// `POST /api/auth/guest` of a token phase, intended send time → response.
    AuthGuest,
    /// Chess move round trip: intended send time of a move → the opponent receives its event.
    ChessMove,
    /// Matchmaking: intended enqueue time → `match_found` received.
    TimeToMatch,
    /// Relay and HTTP: how late the load generator took each measured send or request off its
    /// schedule after its intended time (its own stalls and sleeps; part of every latency
    /// measured from the intended time, so a tail that shows here too is the load generator's
    /// or the machine's, not the server's). An HTTP request may then still wait for a free
    /// connection: that wait is the server's back-pressure and counts only in the latency.
    SendLag,
}

impl Metric {
    /// Short name used in file names.
    pub fn as_str(self) -> &'static str {
        match self {
            Metric::Http => "http",
            Metric::WsConnect => "ws_connect",
            Metric::WsMessage => "ws_message",
            Metric::AuthGuest => "auth_guest",
            Metric::ChessMove => "chess_move",
            Metric::TimeToMatch => "time_to_match",
            Metric::SendLag => "send_lag",
        }
    }
}

/// One latency series of a run.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LatencyRecord {
    /// What was measured.
    pub metric: Metric,
    /// SLO row this series is judged against, if any.
    pub slo_row: Option<SloRow>,
    /// Percentiles (µs).
    pub summary: Summary,
    /// Percentile curve (µs) for plots.
    pub curve: Vec<CurvePoint>,
}

impl LatencyRecord {
    /// Summarises a histogram.
    pub fn from_hist(metric: Metric, slo_row: Option<SloRow>, h: &LatencyHist) -> Self {
        Self {
            metric,
            slo_row,
            summary: h.summary(),
            curve: h.curve(),
        }
    }
}

/// A run's latency histograms as the report wants them: the summaries (for the run's
/// `latencies`) and the histograms themselves (for the `.hgrm` files and plots), made from one
/// list so that the two cannot disagree.
pub fn latency_outputs(
    hists: Vec<(Metric, Option<SloRow>, LatencyHist)>,
) -> (Vec<LatencyRecord>, Vec<(Metric, LatencyHist)>) {
    let records = hists
        .iter()
        .map(|(metric, row, h)| LatencyRecord::from_hist(*metric, *row, h))
        .collect();
    (records, hists.into_iter().map(|(m, _, h)| (m, h)).collect())
}

/// Counters of a run (fields a scenario does not use stay 0).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Counts {
    /// Offered rate (events/s: requests, sends or connects).
    pub offered_rate: f64,
    /// Achieved rate of the run's unit (responses/s, deliveries/s, connections/s).
    pub achieved_rate: f64,
    /// HTTP: requests intended in the measured window.
    pub requests: u64,
    /// HTTP: complete responses in the measured window.
    pub responses: u64,
    /// HTTP: responses by class.
    pub status_2xx: u64,
    /// HTTP 3xx.
    pub status_3xx: u64,
    /// HTTP 4xx (429 included).
    pub status_4xx: u64,
    /// HTTP 429 (rate limited).
    pub status_429: u64,
    /// HTTP 5xx.
    pub status_5xx: u64,
    /// HTTP 503 (storage busy and the like; counted in 5xx too).
    #[serde(default)]
    pub status_503: u64,
    /// HTTP: transport failures (connect, reset, unparsable, timeout, never answered).
    pub http_errors: u64,
    /// HTTP: keep-alive connections.
    pub connections: u64,
    /// WebSocket: connections attempted.
    pub conn_attempts: u64,
    /// WebSocket: handshakes completed.
    pub conn_ok: u64,
    /// WebSocket: connections that failed to open.
    pub conn_failed: u64,
    /// WebSocket: most connections open at once.
    pub peak_open: u64,
    /// Relay: rooms (chess: games).
    pub rooms: u64,
    /// Relay: members per room.
    pub members: u64,
    /// Relay: sends intended in the measured window (chess: moves; matchmaking: enqueues).
    pub sends: u64,
    /// Relay: deliveries of measured sends (chess: move events received by the opponent;
    /// matchmaking: `match_found` received).
    pub deliveries: u64,
    /// Relay: deliveries expected (sends × open members − 1).
    pub expected_deliveries: u64,
    /// Relay: expected − delivered after the drain.
    pub undelivered: u64,
    /// Relay: a member received its own message.
    pub self_echo: u64,
    /// Relay: a member received a message of another room.
    pub wrong_room: u64,
    /// Relay: payload without a valid stamp.
    pub bad_payload: u64,
    /// Relay: deliveries of an earlier step (stress) arriving late.
    pub stale: u64,
    /// WebSocket connection failures by kind.
    pub pool: PoolCounters,
    /// Token phase (`POST /api/auth/guest`): requests intended.
    #[serde(default)]
    pub auth_requests: u64,
    /// Token phase: requests that got no token (transport error, non-2xx, no token).
    #[serde(default)]
    pub auth_failed: u64,
    /// Typed `/ws`: `error` messages received, by code (chess, matchmaking).
    #[serde(default)]
    pub error_codes: BTreeMap<String, u64>,
    /// Chess: games that were set up and played (concurrent games).
    #[serde(default)]
    pub games: u64,
    /// Chess: games started again after the move line ran out or a game ended.
    #[serde(default)]
    pub games_restarted: u64,
    /// Chess: games that ended by the server (`game_over`) rather than by the line running out.
    #[serde(default)]
    pub games_over: u64,
    /// Chess: move events that did not carry the expected move.
    #[serde(default)]
    pub mismatched: u64,
    /// Chess: moves acknowledged `ok` with `"saved": false` (storage unavailable).
    #[serde(default)]
    pub unsaved: u64,
    /// Matchmaking: players still waiting for a match at the end of the drain.
    #[serde(default)]
    pub unmatched: u64,
    /// Chess/matchmaking: intended events that found no ready game/idle player at once (they
    /// waited, and the wait counts as latency).
    #[serde(default)]
    pub queued_waits: u64,
    /// All errors of the run (any non-zero value fails a stress step).
    pub errors: u64,
}

/// Server process usage over the measured window (from /proc).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ServerUsage {
    /// Server pid.
    pub pid: u32,
    /// CPU time used (user+system), µs.
    pub cpu_us: u64,
    /// The system (kernel) part of `cpu_us`, µs: system calls, the network stack below them,
    /// and interrupts that hit while the server ran (tick-sampled by the kernel, so a run of a
    /// few seconds reads it to ~1 %).
    #[serde(default)]
    pub sys_us: u64,
    /// CPU as % of one core.
    pub cpu_pct: f64,
    /// RSS before the run, KiB.
    pub rss_before_kb: u64,
    /// RSS while connections were held (ws-connect) or at the end of the window, KiB.
    pub rss_held_kb: u64,
    /// RSS after the run (connections closed), KiB.
    pub rss_after_kb: u64,
    /// Peak RSS (VmHWM) at the end, KiB.
    pub peak_rss_kb: u64,
    /// Unit the per-unit figures count ("delivery", "request", "connection").
    pub unit: String,
    /// Server CPU µs per unit.
    pub cpu_us_per_unit: f64,
    /// Units per server CPU-second.
    pub units_per_cpu_sec: f64,
    /// (held − before) RSS per held connection, bytes (ws-connect).
    pub bytes_per_conn: Option<f64>,
    /// With several pids (`--also-pid`): each one's CPU over the window, µs (the figures
    /// above are their sum).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parts: Vec<PidCpu>,
}

/// One server process's CPU over the window.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct PidCpu {
    pub pid: u32,
    pub cpu_us: u64,
}

/// Load generator usage over the measured window (getrusage).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ClientUsage {
    /// CPU time used, µs.
    pub cpu_us: u64,
    /// CPU as % of one core.
    pub cpu_pct: f64,
    /// CPU µs per unit (same unit as the server's).
    pub cpu_us_per_unit: f64,
}

/// One step of a stress ramp.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct StepResult {
    /// Offered rate (sends/s or requests/s).
    pub offered_rate: f64,
    /// Units per second achieved (deliveries/s or responses/s).
    pub units_per_sec: f64,
    /// Latency percentiles of the step (µs).
    pub latency: Summary,
    /// Server CPU % of one core (if pid given).
    pub srv_cpu_pct: Option<f64>,
    /// Load generator CPU % of one core.
    pub lg_cpu_pct: f64,
    /// Errors + undelivered in the step.
    pub errors: u64,
    /// Relay: undelivered.
    pub undelivered: u64,
    /// Step met every criterion.
    pub ok: bool,
    /// Why it failed ("" when ok).
    pub reason: String,
    /// "ramp", "retry", "refine" or "step-down".
    pub kind: String,
    /// p99 of how late the load generator issued its sends or requests (µs), see
    /// [`Metric::SendLag`].
    #[serde(default)]
    pub send_lag_p99_us: Option<u64>,
}

/// Outcome of a stress run.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct StressResult {
    /// "relay" or "http".
    pub kind: String,
    /// Unit of `units_per_sec` ("deliveries" or "responses").
    pub unit: String,
    /// p99 criterion, ms.
    pub p99_max_ms: f64,
    /// Every step in order.
    pub steps: Vec<StepResult>,
    /// Highest passing step (the breaking point = max sustainable rate).
    pub breaking_point: Option<StepResult>,
    /// First failing step (offered rate and reason).
    pub first_failure: Option<StepResult>,
}

/// Everything one scenario run measured.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct RunResult {
    /// "http", "ws-connect", "relay" or "stress".
    pub scenario: String,
    /// Run name (file stem of its outputs).
    pub name: String,
    /// Server label (for comparisons).
    pub label: String,
    /// Target URL template.
    pub target: String,
    /// Start time, UTC (YYYY-MM-DDTHH:MM:SSZ).
    pub started_utc: String,
    /// Machine description.
    pub machine: String,
    /// Scenario parameters as given.
    pub params: serde_json::Value,
    /// Measured window length, s.
    pub measured_secs: f64,
    /// Latency series.
    pub latencies: Vec<LatencyRecord>,
    /// Counters.
    pub counts: Counts,
    /// Server usage (with --server-pid).
    pub server: Option<ServerUsage>,
    /// Load generator usage.
    pub client: ClientUsage,
    /// Step table (stress only).
    pub stress: Option<StressResult>,
}

/// CPU share of its core at which a side counts as saturated.
const SATURATED_PCT: f64 = 90.0;

impl StressResult {
    /// Which side ran out of CPU at the first failing step (≥ 90 % of its core). Unless the
    /// server alone did, the breaking point may be the load generator's limit: a lower bound for
    /// the server. `None` without a failing step.
    pub fn limited_by(&self) -> Option<String> {
        let f = self.first_failure.as_ref()?;
        let lg = f.lg_cpu_pct;
        let lower_bound = "the breaking point is a lower bound for the server";
        Some(match (f.srv_cpu_pct, lg >= SATURATED_PCT) {
            (Some(s), true) if s >= SATURATED_PCT => {
                format!("both sides (server {s:.0}% of its core, load generator {lg:.0}%): {lower_bound}")
            }
            (Some(s), true) => format!(
                "the load generator ({lg:.0}% of its core, server {s:.0}%): {lower_bound}"
            ),
            (None, true) => format!("the load generator ({lg:.0}% of its core): {lower_bound}"),
            (Some(s), false) if s >= SATURATED_PCT => {
                format!("the server ({s:.0}% of its core, load generator {lg:.0}%)")
            }
            (Some(s), false) => format!(
                "neither core (server {s:.0}%, load generator {lg:.0}%): latency or errors gave out first"
            ),
            (None, false) => format!("unknown (no server pid; load generator {lg:.0}%)"),
        })
    }
}

impl RunResult {
    /// The latency series of `metric`, if measured.
    pub fn latency(&self, metric: Metric) -> Option<&LatencyRecord> {
        self.latencies.iter().find(|l| l.metric == metric)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stress_run_says_which_side_gave_out() {
        let at = |srv: Option<f64>, lg: f64| StressResult {
            first_failure: Some(StepResult {
                srv_cpu_pct: srv,
                lg_cpu_pct: lg,
                ..StepResult::default()
            }),
            ..StressResult::default()
        };
        let lower = ": the breaking point is a lower bound for the server";
        for (srv, lg, want) in [
            (
                Some(81.0),
                100.0,
                format!("the load generator (100% of its core, server 81%){lower}"),
            ),
            (
                Some(99.0),
                80.0,
                "the server (99% of its core, load generator 80%)".to_string(),
            ),
            (
                Some(99.0),
                97.0,
                format!("both sides (server 99% of its core, load generator 97%){lower}"),
            ),
            (
                Some(60.0),
                50.0,
                "neither core (server 60%, load generator 50%): latency or errors gave out first"
                    .to_string(),
            ),
            (
                None,
                95.0,
                format!("the load generator (95% of its core){lower}"),
            ),
        ] {
            assert_eq!(at(srv, lg).limited_by().as_deref(), Some(want.as_str()));
        }
        assert_eq!(
            StressResult::default().limited_by(),
            None,
            "no failing step, no verdict"
        );
    }

    #[test]
    fn latency_outputs_keep_metric_row_and_histogram_together() {
        let mut a = LatencyHist::new();
        a.record_us(100);
        let mut b = LatencyHist::new();
        b.record_us(2_000);
        b.record_us(3_000);
        let (records, hists) = latency_outputs(vec![
            (Metric::WsMessage, Some(SloRow::WsMessage), a),
            (Metric::Http, None, b),
        ]);
        assert_eq!(records.len(), 2);
        assert_eq!(records[0].metric, Metric::WsMessage);
        assert_eq!(records[0].slo_row, Some(SloRow::WsMessage));
        assert_eq!(records[1].metric, Metric::Http);
        assert_eq!(records[1].slo_row, None);
        assert_eq!(records[1].summary.count, 2);
        assert_eq!(hists[0].0, Metric::WsMessage);
        assert_eq!(hists[0].1.count(), 1);
        assert_eq!(hists[1].0, Metric::Http);
        assert_eq!(hists[1].1.count(), 2);
    }
}
