//! The "Load Testing Results Template" of seed 000, filled in from real runs: HTTP load test,
//! WebSocket load test, stress test (breaking point) and a verdict — FAIL when a latency,
//! error-rate or availability objective fails, NEEDS SCALING when those pass but a throughput
//! objective is missed, PASS when everything measured passes. Open-loop runs have no virtual
//! users, so the VU lines state connections and offered rate instead.

use super::slo::{SloReport, SloRow, Verdict};
use crate::model::{Metric, RunResult};

/// Overall verdict for the template.
pub fn verdict(slo: &SloReport) -> &'static str {
    match (slo.latency_and_errors(), slo.throughput_verdict()) {
        (Verdict::Fail, _) => "FAIL",
        (_, Verdict::Fail) => "NEEDS SCALING",
        (Verdict::NotMeasured, Verdict::NotMeasured) => "NOT MEASURED",
        _ => "PASS",
    }
}

fn ms(us: u64) -> String {
    format!("{:.3}ms", us as f64 / 1000.0)
}

const NM: &str = "not measured";

/// Renders the filled-in template for `runs` (one server).
pub fn render(
    runs: &[RunResult],
    slo: &SloReport,
    date: &str,
    environment: &str,
    machine: &str,
) -> String {
    let mut s = String::new();
    s.push_str(&format!(
        "Date: {date}\nEnvironment: {environment}\nServer Spec: {machine}\n\n"
    ));

    let http: Vec<&RunResult> = runs
        .iter()
        .filter(|r| matches!(r.scenario.as_str(), "http" | "scores"))
        .collect();
    s.push_str("HTTP Load Test:\n");
    if http.is_empty() {
        for k in [
            "Peak VUs",
            "Total Requests",
            "P95 Latency",
            "P99 Latency",
            "Error Rate",
            "Rate Limited",
        ] {
            s.push_str(&format!("  - {k}: {NM}\n"));
        }
    } else {
        let conns = http.iter().map(|r| r.counts.connections).max().unwrap_or(0);
        let rate = http
            .iter()
            .map(|r| r.counts.offered_rate)
            .fold(0.0, f64::max);
        let total: u64 = http.iter().map(|r| r.counts.requests).sum();
        let bad: u64 = http
            .iter()
            .map(|r| r.counts.status_5xx + r.counts.http_errors)
            .sum();
        let limited: u64 = http.iter().map(|r| r.counts.status_429).sum();
        let worst = |f: fn(&crate::hist::Summary) -> u64| {
            http.iter()
                .filter_map(|r| {
                    r.latency(Metric::Http)
                        .map(|l| (f(&l.summary), r.name.as_str()))
                })
                .max_by_key(|x| x.0)
                .map_or(NM.to_string(), |(v, n)| {
                    format!("{} (worst run: {n})", ms(v))
                })
        };
        s.push_str(&format!(
            "  - Peak VUs: {conns} keep-alive connections (open loop, no VUs: up to {rate:.0} req/s offered)\n"
        ));
        s.push_str(&format!("  - Total Requests: {total}\n"));
        s.push_str(&format!("  - P95 Latency: {}\n", worst(|x| x.p95)));
        s.push_str(&format!("  - P99 Latency: {}\n", worst(|x| x.p99)));
        let pct = if total == 0 {
            0.0
        } else {
            100.0 * bad as f64 / total as f64
        };
        s.push_str(&format!(
            "  - Error Rate: {pct:.3}% ({bad} 5xx or failed)\n"
        ));
        s.push_str(&format!("  - Rate Limited: {limited} requests\n"));
    }

    let ws: Vec<&RunResult> = runs
        .iter()
        .filter(|r| {
            matches!(
                r.scenario.as_str(),
                "ws-connect" | "relay" | "chess" | "matchmaking"
            )
        })
        .collect();
    s.push_str("\nWebSocket Load Test:\n");
    if ws.is_empty() {
        for k in [
            "Peak Concurrent",
            "Connection Success",
            "Message P95",
            "Errors",
        ] {
            s.push_str(&format!("  - {k}: {NM}\n"));
        }
    } else {
        let peak = ws.iter().map(|r| r.counts.peak_open).max().unwrap_or(0);
        let attempts: u64 = ws.iter().map(|r| r.counts.conn_attempts).sum();
        let ok: u64 = ws.iter().map(|r| r.counts.conn_ok).sum();
        let errors: u64 = ws
            .iter()
            .map(|r| r.counts.errors + r.counts.undelivered)
            .sum();
        let msg = ws
            .iter()
            .filter_map(|r| {
                r.latencies
                    .iter()
                    .find(|l| l.slo_row == Some(SloRow::WsMessage) && l.summary.count > 0)
                    .map(|l| (l.summary.p95, r.name.as_str()))
            })
            .max_by_key(|x| x.0)
            .map_or(NM.to_string(), |(v, n)| {
                format!("{} (worst run: {n})", ms(v))
            });
        s.push_str(&format!("  - Peak Concurrent: {peak}\n"));
        let pct = if attempts == 0 {
            0.0
        } else {
            100.0 * ok as f64 / attempts as f64
        };
        s.push_str(&format!(
            "  - Connection Success: {pct:.2}% ({ok} of {attempts})\n"
        ));
        s.push_str(&format!("  - Message P95: {msg}\n"));
        s.push_str(&format!("  - Errors: {errors}\n"));
    }

    let stress: Vec<&RunResult> = runs.iter().filter(|r| r.stress.is_some()).collect();
    s.push_str("\nStress Test:\n");
    if stress.is_empty() {
        for k in [
            "Breaking Point VU",
            "Max RPS before degradation",
            "First failure at",
        ] {
            s.push_str(&format!("  - {k}: {NM}\n"));
        }
    }
    for r in stress {
        let Some(st) = r.stress.as_ref() else {
            continue;
        };
        let what = if st.kind == "relay" {
            "sends/s"
        } else {
            "req/s"
        };
        let conns = if st.kind == "relay" {
            format!(
                "{} connections ({} rooms x {})",
                r.counts.rooms * r.counts.members,
                r.counts.rooms,
                r.counts.members
            )
        } else {
            format!("{} connections", r.counts.connections)
        };
        match &st.breaking_point {
            Some(b) => {
                s.push_str(&format!(
                    "  - Breaking Point VU: {conns} at {:.0} {what} offered [{}]\n",
                    b.offered_rate, r.name
                ));
                s.push_str(&format!(
                    "  - Max RPS before degradation: {:.0} {}/s ({:.0} {what} offered, p99 {})\n",
                    b.units_per_sec, st.unit, b.offered_rate, ms(b.latency.p99)
                ));
            }
            None => s.push_str(&format!(
                "  - Breaking Point VU: {conns}: no step passed [{}]\n  - Max RPS before degradation: none\n",
                r.name
            )),
        }
        match &st.first_failure {
            Some(f) => s.push_str(&format!(
                "  - First failure at: {:.0} {what} offered ({})\n",
                f.offered_rate, f.reason
            )),
            None => s.push_str("  - First failure at: none within the ramp limit\n"),
        }
        if let Some(by) = st.limited_by() {
            s.push_str(&format!("  - Limited by: {by}\n"));
        }
    }
    s.push_str(&format!("\nVerdict: {}\n", verdict(slo)));
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hist::LatencyHist;
    use crate::model::{LatencyRecord, StepResult, StressResult};
    use crate::report::slo::SloRow;

    fn runs(health_us: u64) -> Vec<RunResult> {
        let mut h = LatencyHist::new();
        for _ in 0..10 {
            h.record_us(health_us);
        }
        let mut http = RunResult {
            scenario: "http".into(),
            name: "health".into(),
            latencies: vec![LatencyRecord::from_hist(
                Metric::Http,
                Some(SloRow::Health),
                &h,
            )],
            ..RunResult::default()
        };
        http.counts.requests = 10;
        http.counts.responses = 10;
        http.counts.status_2xx = 10;
        http.counts.connections = 16;
        http.counts.offered_rate = 1000.0;
        http.counts.achieved_rate = 1000.0;
        let mut st = RunResult {
            scenario: "stress".into(),
            name: "stress".into(),
            ..RunResult::default()
        };
        st.counts.rooms = 1000;
        st.counts.members = 4;
        let bp = StepResult {
            offered_rate: 20000.0,
            units_per_sec: 60000.0,
            ok: true,
            ..StepResult::default()
        };
        let ff = StepResult {
            offered_rate: 30000.0,
            reason: "p99 40 ms > 25 ms".into(),
            srv_cpu_pct: Some(99.0),
            lg_cpu_pct: 80.0,
            ..StepResult::default()
        };
        st.stress = Some(StressResult {
            kind: "relay".into(),
            unit: "deliveries".into(),
            breaking_point: Some(bp),
            first_failure: Some(ff),
            ..StressResult::default()
        });
        vec![http, st]
    }

    #[test]
    fn template_is_filled_with_figures_and_verdict() {
        let r = runs(200);
        let slo = SloReport::evaluate(&r);
        let t = render(&r, &slo, "2026-01-01", "Local dev", "test box");
        assert!(t.starts_with("Date: 2026-01-01\nEnvironment: Local dev\nServer Spec: test box\n"));
        assert!(t.contains("  - Total Requests: 10\n"));
        assert!(t.contains("  - P95 Latency: 0.200ms"));
        assert!(t.contains("  - Error Rate: 0.000%"));
        assert!(t.contains("  - Rate Limited: 0 requests"));
        assert!(t.contains("  - Peak Concurrent: not measured"));
        assert!(t.contains("Breaking Point VU: 4000 connections (1000 rooms x 4) at 20000 sends/s"));
        assert!(t.contains("Max RPS before degradation: 60000 deliveries/s"));
        assert!(t.contains("First failure at: 30000 sends/s offered (p99 40 ms > 25 ms)"));
        assert!(t.contains("  - Limited by: the server (99% of its core, load generator 80%)\n"));
        assert!(t.ends_with("Verdict: PASS\n"));
        assert!(!t.contains("__"));
    }

    #[test]
    fn failing_latency_gives_fail() {
        let r = runs(20_000);
        let slo = SloReport::evaluate(&r);
        assert_eq!(verdict(&slo), "FAIL");
        let t = render(&[], &SloReport::evaluate(&[]), "d", "e", "m");
        assert!(t.contains("Verdict: NOT MEASURED"));
        assert!(t.contains("Breaking Point VU: not measured"));
    }

    #[test]
    fn low_throughput_needs_scaling() {
        let mut r = runs(200);
        r[0].counts.achieved_rate = 50.0;
        let slo = SloReport::evaluate(&r);
        assert_eq!(verdict(&slo), "NEEDS SCALING");
    }
}
