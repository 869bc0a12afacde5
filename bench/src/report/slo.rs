//! The SLO table of seed 000 ("Service Level Objectives"): latency targets per endpoint, the
//! throughput and error-rate objectives, and availability, evaluated against a set of runs.
//! Every row is always present; a row no run measured says "not measured". Targets are strict
//! upper bounds ("< 10ms"): a value equal to the target fails.

use serde::{Deserialize, Serialize};

use crate::hist::Summary;
use crate::model::RunResult;

/// A latency row of the SLO table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SloRow {
    /// `GET /health`.
    Health,
    /// `POST /api/auth/*`.
    Auth,
    /// `GET /api/leaderboard`.
    Leaderboard,
    /// WebSocket connect.
    WsConnect,
    /// WebSocket message.
    WsMessage,
}

impl SloRow {
    /// Every row, in table order.
    pub const ALL: [SloRow; 5] = [
        SloRow::Health,
        SloRow::Auth,
        SloRow::Leaderboard,
        SloRow::WsConnect,
        SloRow::WsMessage,
    ];

    /// Endpoint column as written in the seed.
    pub fn label(self) -> &'static str {
        match self {
            SloRow::Health => "`GET /health`",
            SloRow::Auth => "`POST /api/auth/*`",
            SloRow::Leaderboard => "`GET /api/leaderboard`",
            SloRow::WsConnect => "WebSocket connect",
            SloRow::WsMessage => "WebSocket message",
        }
    }

    /// (P50, P95, P99) targets in ms.
    pub fn targets_ms(self) -> [f64; 3] {
        match self {
            SloRow::Health => [10.0, 50.0, 200.0],
            SloRow::Auth => [50.0, 200.0, 500.0],
            SloRow::Leaderboard => [100.0, 300.0, 800.0],
            SloRow::WsConnect => [200.0, 1000.0, 2000.0],
            SloRow::WsMessage => [20.0, 100.0, 500.0],
        }
    }

    /// Parses a CLI name (`health`, `auth`, `leaderboard`, `ws-connect`, `ws-message`).
    pub fn parse(s: &str) -> Result<SloRow, String> {
        match s.to_ascii_lowercase().replace('_', "-").as_str() {
            "health" => Ok(SloRow::Health),
            "auth" => Ok(SloRow::Auth),
            "leaderboard" => Ok(SloRow::Leaderboard),
            "ws-connect" => Ok(SloRow::WsConnect),
            "ws-message" => Ok(SloRow::WsMessage),
            _ => Err(format!(
                "unknown SLO row {s:?} (health, auth, leaderboard, ws-connect, ws-message)"
            )),
        }
    }
}

/// Outcome of one objective.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Verdict {
    /// Objective met.
    #[serde(rename = "PASS")]
    Pass,
    /// Objective missed.
    #[serde(rename = "FAIL")]
    Fail,
    /// No run measured it.
    #[serde(rename = "not measured")]
    NotMeasured,
}

impl Verdict {
    /// Text for tables.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "PASS",
            Verdict::Fail => "FAIL",
            Verdict::NotMeasured => "not measured",
        }
    }

    /// Worst of several verdicts (FAIL > PASS > not measured).
    pub fn combine(v: impl IntoIterator<Item = Verdict>) -> Verdict {
        let mut out = Verdict::NotMeasured;
        for x in v {
            match x {
                Verdict::Fail => return Verdict::Fail,
                Verdict::Pass => out = Verdict::Pass,
                Verdict::NotMeasured => {}
            }
        }
        out
    }
}

/// `measured < target` (strict, as the seed writes "< 10ms").
pub fn below(measured: f64, target: f64) -> Verdict {
    if measured < target {
        Verdict::Pass
    } else {
        Verdict::Fail
    }
}

/// `measured >= target` (throughput "100+").
pub fn at_least(measured: f64, target: f64) -> Verdict {
    if measured >= target {
        Verdict::Pass
    } else {
        Verdict::Fail
    }
}

/// A latency row evaluated.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LatencyRow {
    /// Which row.
    pub row: SloRow,
    /// Run that measured it.
    pub source: Option<String>,
    /// Measured percentiles (µs).
    pub summary: Option<Summary>,
    /// Verdicts for P50, P95, P99.
    pub verdicts: [Verdict; 3],
    /// Worst of the three.
    pub verdict: Verdict,
}

/// A throughput, error-rate or availability objective evaluated.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ScalarRow {
    /// Objective as in the seed.
    pub name: String,
    /// Target as text.
    pub target: String,
    /// Measured value as text (None = not measured).
    pub measured: Option<String>,
    /// Measured / target for throughput rows (headroom).
    pub headroom: Option<f64>,
    /// Outcome.
    pub verdict: Verdict,
}

/// The whole SLO table for a set of runs.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SloReport {
    /// Latency rows, all five, in order.
    pub latency: Vec<LatencyRow>,
    /// Throughput objectives.
    pub throughput: Vec<ScalarRow>,
    /// Error-rate objectives.
    pub error_rate: Vec<ScalarRow>,
    /// Availability objective.
    pub availability: ScalarRow,
}

fn not_measured(name: &str, target: &str) -> ScalarRow {
    ScalarRow {
        name: name.into(),
        target: target.into(),
        measured: None,
        headroom: None,
        verdict: Verdict::NotMeasured,
    }
}

fn throughput_row(name: &str, target: f64, unit: &str, best: Option<(f64, String)>) -> ScalarRow {
    match best {
        None => not_measured(name, &format!("{target}+ {unit}")),
        Some((v, src)) => ScalarRow {
            name: name.into(),
            target: format!("{target}+ {unit}"),
            measured: Some(format!("{v:.0} {unit} ({src})")),
            headroom: Some(v / target),
            verdict: at_least(v, target),
        },
    }
}

fn ratio_row(name: &str, target_pct: f64, bad: u64, total: u64, what: &str) -> ScalarRow {
    if total == 0 {
        return not_measured(name, &format!("< {target_pct}%"));
    }
    let pct = 100.0 * bad as f64 / total as f64;
    ScalarRow {
        name: name.into(),
        target: format!("< {target_pct}%"),
        measured: Some(format!("{pct:.3}% ({bad} of {total} {what})")),
        headroom: None,
        verdict: below(pct, target_pct),
    }
}

fn max_by(runs: &[RunResult], f: impl Fn(&RunResult) -> Option<f64>) -> Option<(f64, String)> {
    runs.iter()
        .filter_map(|r| f(r).map(|v| (v, r.name.clone())))
        .fold(None, |acc: Option<(f64, String)>, x| match acc {
            Some(a) if a.0 >= x.0 => Some(a),
            _ => Some(x),
        })
}

impl SloReport {
    /// Evaluates every objective against `runs` (typically the runs of one server).
    pub fn evaluate(runs: &[RunResult]) -> Self {
        let latency = SloRow::ALL
            .iter()
            .map(|&row| {
                // prefer runs at a fixed load over stress runs, then the most samples
                let best = runs
                    .iter()
                    .flat_map(|r| {
                        r.latencies
                            .iter()
                            .filter(move |l| l.slo_row == Some(row) && l.summary.count > 0)
                            .map(move |l| (r, l))
                    })
                    .max_by_key(|(r, l)| (r.scenario != "stress", l.summary.count));
                match best {
                    None => LatencyRow {
                        row,
                        source: None,
                        summary: None,
                        verdicts: [Verdict::NotMeasured; 3],
                        verdict: Verdict::NotMeasured,
                    },
                    Some((r, l)) => {
                        let t = row.targets_ms();
                        let s = l.summary;
                        let v = [
                            below(s.p50 as f64 / 1000.0, t[0]),
                            below(s.p95 as f64 / 1000.0, t[1]),
                            below(s.p99 as f64 / 1000.0, t[2]),
                        ];
                        LatencyRow {
                            row,
                            source: Some(r.name.clone()),
                            summary: Some(s),
                            verdicts: v,
                            verdict: Verdict::combine(v),
                        }
                    }
                }
            })
            .collect();

        let http: Vec<&RunResult> = runs
            .iter()
            .filter(|r| matches!(r.scenario.as_str(), "http" | "scores"))
            .collect();
        let http_rps = max_by(runs, |r| match r.scenario.as_str() {
            "http" | "scores" if r.counts.requests > 0 => Some(r.counts.achieved_rate),
            "stress" => r
                .stress
                .as_ref()
                .filter(|s| s.kind == "http")
                .and_then(|s| s.breaking_point.as_ref())
                .map(|b| b.units_per_sec),
            _ => None,
        });
        let ws_conns = max_by(runs, |r| match r.scenario.as_str() {
            "ws-connect" | "relay" | "chess" | "matchmaking" if r.counts.peak_open > 0 => {
                Some(r.counts.peak_open as f64)
            }
            "stress" if r.counts.peak_open > 0 => Some(r.counts.peak_open as f64),
            _ => None,
        });
        // concurrent chess games when a chess run measured them, else relay rooms
        let games_of = |kinds: &'static [&'static str]| {
            max_by(runs, move |r| {
                (kinds.contains(&r.scenario.as_str())
                    && r.counts.rooms > 0
                    && r.counts.members >= 2
                    && r.counts.conn_failed == 0)
                    .then_some(r.counts.rooms as f64)
            })
        };
        let rooms = games_of(&["chess"]).or_else(|| games_of(&["relay", "stress"]));
        let throughput = vec![
            throughput_row("HTTP", 100.0, "requests/s sustained", http_rps),
            throughput_row("WebSocket", 200.0, "concurrent connections", ws_conns),
            throughput_row(
                "Game rooms (chess games, else relay rooms)",
                500.0,
                "concurrent games",
                rooms,
            ),
        ];

        // HTTP requests: the http and scores runs plus every token phase (guest sign-ins)
        let sum = |f: &dyn Fn(&RunResult) -> u64| http.iter().map(|r| f(r)).sum::<u64>();
        let auth_requests: u64 = runs.iter().map(|r| r.counts.auth_requests).sum();
        let auth_failed: u64 = runs.iter().map(|r| r.counts.auth_failed).sum();
        let requests = sum(&|r| r.counts.requests) + auth_requests;
        let bad = sum(&|r| r.counts.status_5xx + r.counts.http_errors) + auth_failed;
        let limited = sum(&|r| r.counts.status_429);
        let ws: Vec<&RunResult> = runs
            .iter()
            .filter(|r| {
                matches!(
                    r.scenario.as_str(),
                    "ws-connect" | "relay" | "chess" | "matchmaking"
                )
            })
            .collect();
        let attempts: u64 = ws.iter().map(|r| r.counts.conn_attempts).sum();
        let failed: u64 = ws.iter().map(|r| r.counts.conn_failed).sum();
        let error_rate = vec![
            ratio_row("HTTP 5xx error rate", 1.0, bad, requests, "requests"),
            ratio_row(
                "WebSocket connection failure rate",
                5.0,
                failed,
                attempts,
                "connects",
            ),
            ratio_row(
                "Rate limit false positives (429 on benchmark traffic)",
                0.1,
                limited,
                requests,
                "requests",
            ),
        ];

        let health: Vec<&&RunResult> = http
            .iter()
            .filter(|r| {
                r.latencies
                    .iter()
                    .any(|l| l.slo_row == Some(SloRow::Health))
            })
            .collect();
        let checks: u64 = health.iter().map(|r| r.counts.requests).sum();
        let ok: u64 = health.iter().map(|r| r.counts.status_2xx).sum();
        let availability = if checks == 0 {
            not_measured("Availability (health checks answered 2xx)", ">= 99.5%")
        } else {
            let pct = 100.0 * ok as f64 / checks as f64;
            ScalarRow {
                name: "Availability (health checks answered 2xx)".into(),
                target: ">= 99.5%".into(),
                measured: Some(format!("{pct:.3}% ({ok} of {checks} checks)")),
                headroom: None,
                verdict: at_least(pct, 99.5),
            }
        };
        Self {
            latency,
            throughput,
            error_rate,
            availability,
        }
    }

    /// Worst verdict of the latency and error-rate objectives.
    pub fn latency_and_errors(&self) -> Verdict {
        Verdict::combine(
            self.latency
                .iter()
                .map(|r| r.verdict)
                .chain(self.error_rate.iter().map(|r| r.verdict))
                .chain([self.availability.verdict]),
        )
    }

    /// Worst verdict of the throughput objectives.
    pub fn throughput_verdict(&self) -> Verdict {
        Verdict::combine(self.throughput.iter().map(|r| r.verdict))
    }

    /// Markdown tables (latency, throughput, error rate, availability).
    pub fn to_markdown(&self) -> String {
        let ms = |us: u64| format!("{:.3} ms", us as f64 / 1000.0);
        let mut s = String::new();
        s.push_str("### Latency (seed 000 SLO table)\n\n");
        s.push_str(
            "| Endpoint | P50 | P95 | P99 | Target P50 / P95 / P99 | Verdict | Samples | Run |\n",
        );
        s.push_str("|---|---:|---:|---:|---|---|---:|---|\n");
        for r in &self.latency {
            let t = r.row.targets_ms();
            let target = format!("< {}ms / < {}ms / < {}ms", t[0], t[1], t[2]);
            match &r.summary {
                None => s.push_str(&format!(
                    "| {} | not measured | not measured | not measured | {target} | not measured | 0 | - |\n",
                    r.row.label()
                )),
                Some(m) => s.push_str(&format!(
                    "| {} | {} {} | {} {} | {} {} | {target} | **{}** | {} | {} |\n",
                    r.row.label(),
                    ms(m.p50),
                    r.verdicts[0].as_str(),
                    ms(m.p95),
                    r.verdicts[1].as_str(),
                    ms(m.p99),
                    r.verdicts[2].as_str(),
                    r.verdict.as_str(),
                    m.count,
                    r.source.as_deref().unwrap_or("-"),
                )),
            }
        }
        let scalar = |title: &str, rows: &[ScalarRow], s: &mut String| {
            s.push_str(&format!("\n### {title}\n\n| Objective | Target | Measured | Headroom | Verdict |\n|---|---|---|---:|---|\n"));
            for r in rows {
                s.push_str(&format!(
                    "| {} | {} | {} | {} | **{}** |\n",
                    r.name,
                    r.target,
                    r.measured.as_deref().unwrap_or("not measured"),
                    r.headroom.map_or("-".into(), |h| format!("{h:.1}x")),
                    r.verdict.as_str()
                ));
            }
        };
        scalar("Throughput", &self.throughput, &mut s);
        scalar("Error rate", &self.error_rate, &mut s);
        scalar(
            "Availability",
            std::slice::from_ref(&self.availability),
            &mut s,
        );
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hist::LatencyHist;
    use crate::model::{LatencyRecord, Metric};

    fn run_with(row: SloRow, us: u64, scenario: &str) -> RunResult {
        let mut h = LatencyHist::new();
        for _ in 0..100 {
            h.record_us(us);
        }
        RunResult {
            scenario: scenario.into(),
            name: format!("{scenario}-{us}"),
            latencies: vec![LatencyRecord::from_hist(Metric::Http, Some(row), &h)],
            ..RunResult::default()
        }
    }

    #[test]
    fn every_row_is_present_and_unmeasured_rows_say_so() {
        let r = SloReport::evaluate(&[]);
        assert_eq!(r.latency.len(), 5);
        let md = r.to_markdown();
        for row in SloRow::ALL {
            assert!(md.contains(row.label()), "{}", row.label());
        }
        assert!(md.contains("not measured"));
        assert_eq!(r.latency_and_errors(), Verdict::NotMeasured);
        assert_eq!(r.throughput.len(), 3);
        assert_eq!(r.error_rate.len(), 3);
    }

    #[test]
    fn boundary_values_pass_below_and_fail_at_target() {
        assert_eq!(below(9.999, 10.0), Verdict::Pass);
        assert_eq!(below(10.0, 10.0), Verdict::Fail);
        assert_eq!(at_least(100.0, 100.0), Verdict::Pass);
        assert_eq!(at_least(99.9, 100.0), Verdict::Fail);
        // GET /health p50 target 10 ms: 9.99 ms passes, 10 ms fails (values are µs)
        let pass = SloReport::evaluate(&[run_with(SloRow::Health, 9_990, "http")]);
        assert_eq!(pass.latency[0].verdict, Verdict::Pass);
        let fail = SloReport::evaluate(&[run_with(SloRow::Health, 10_000, "http")]);
        assert_eq!(fail.latency[0].verdicts[0], Verdict::Fail);
        assert_eq!(fail.latency[0].verdicts[1], Verdict::Pass);
        assert_eq!(fail.latency[0].verdict, Verdict::Fail);
        assert_eq!(fail.latency_and_errors(), Verdict::Fail);
        // ws message p99 target 500 ms
        let r = SloReport::evaluate(&[run_with(SloRow::WsMessage, 500_000, "relay")]);
        assert_eq!(r.latency[4].verdicts[2], Verdict::Fail);
        assert_eq!(r.latency[4].verdicts[0], Verdict::Fail);
    }

    #[test]
    fn fixed_load_runs_are_preferred_over_stress() {
        let mut stress = run_with(SloRow::WsMessage, 30_000, "stress");
        stress.latencies[0].summary.count = 1_000_000;
        let relay = run_with(SloRow::WsMessage, 300, "relay");
        let r = SloReport::evaluate(&[stress, relay]);
        assert_eq!(r.latency[4].source.as_deref(), Some("relay-300"));
        assert_eq!(r.latency[4].verdict, Verdict::Pass);
    }

    #[test]
    fn error_rates_and_throughput() {
        let mut h = run_with(SloRow::Health, 100, "http");
        h.counts.requests = 1000;
        h.counts.responses = 1000;
        h.counts.status_2xx = 990;
        h.counts.status_5xx = 10;
        h.counts.achieved_rate = 1000.0;
        let r = SloReport::evaluate(&[h]);
        // exactly 1% 5xx fails "< 1%"
        assert_eq!(r.error_rate[0].verdict, Verdict::Fail);
        assert_eq!(r.throughput[0].verdict, Verdict::Pass);
        assert_eq!(r.throughput[0].headroom, Some(10.0));
        // 99.0% of health checks answered 2xx misses 99.5%
        assert_eq!(r.availability.verdict, Verdict::Fail);
        assert_eq!(r.error_rate[1].verdict, Verdict::NotMeasured);
        assert_eq!(
            Verdict::combine([Verdict::Pass, Verdict::NotMeasured]),
            Verdict::Pass
        );
        assert!(SloRow::parse("ws-message").is_ok());
        assert!(SloRow::parse("nope").is_err());
    }
}
