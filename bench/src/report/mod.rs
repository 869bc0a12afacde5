//! Reports built from [`RunResult`]s: the SLO table ([`slo`]), the filled-in results template
//! ([`template`]), JSON ([`json`]), `.hgrm` percentile distributions ([`hgrm`]), SVG percentile
//! plots ([`svg`]), and here the markdown run/step/comparison tables and the files a run or a
//! suite writes.

pub mod hgrm;
pub mod json;
pub mod machine;
pub mod slo;
pub mod svg;
pub mod template;

use std::collections::BTreeMap;
use std::io;
use std::path::Path;

use crate::hist::LatencyHist;
use crate::model::{Metric, RunResult};
use slo::SloReport;

fn fmt_num(v: f64) -> String {
    let s = format!("{:.0}", v.abs());
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if v < 0.0 {
        format!("-{out}")
    } else {
        out
    }
}

/// The series a run is summarised by: its own workload's latency (relay message, chess move,
/// time to match, HTTP request), else the connect latency.
fn primary(run: &RunResult) -> Option<&crate::model::LatencyRecord> {
    [Metric::WsMessage, Metric::ChessMove, Metric::TimeToMatch]
        .into_iter()
        .find_map(|m| run.latency(m).filter(|l| l.summary.count > 0))
        .or_else(|| run.latency(Metric::Http))
        .or_else(|| run.latency(Metric::WsConnect))
}

fn unit_of(run: &RunResult) -> &'static str {
    match run.scenario.as_str() {
        "http" => "resp/s",
        "scores" => "writes/s",
        "chess" => "moves/s",
        "matchmaking" => "matched/s",
        "ws-connect" => "conn/s",
        "stress" if run.stress.as_ref().is_some_and(|s| s.kind == "http") => "resp/s",
        _ => "deliv/s",
    }
}

/// One markdown row per run: rates, latency, errors, server and load-generator CPU.
pub fn runs_table(runs: &[RunResult]) -> String {
    let mut s = String::from(
        "| run | server | scenario | offered/s | achieved | p50 us | p99 us | p99.9 us | max us | errors | undelivered | srv CPU | srv CPU us/unit | units per srv CPU-s | lg CPU | lg CPU us/unit | lg send lag p99 us | peak RSS KiB | bytes/conn |\n|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for r in runs {
        let l = primary(r).map(|l| l.summary).unwrap_or_default();
        let srv = r.server.as_ref();
        s.push_str(&format!(
            "| {} | {} | {} | {} | {} {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.0}% | {} | {} | {} | {} |\n",
            r.name,
            r.label,
            r.scenario,
            fmt_num(r.counts.offered_rate),
            fmt_num(r.counts.achieved_rate),
            unit_of(r),
            fmt_num(l.p50 as f64),
            fmt_num(l.p99 as f64),
            fmt_num(l.p999 as f64),
            fmt_num(l.max as f64),
            r.counts.errors,
            r.counts.undelivered,
            srv.map_or("-".into(), |s| format!("{:.0}%", s.cpu_pct)),
            srv.map_or("-".into(), |s| format!("{:.2}", s.cpu_us_per_unit)),
            srv.map_or("-".into(), |s| fmt_num(s.units_per_cpu_sec)),
            r.client.cpu_pct,
            if r.client.cpu_us_per_unit > 0.0 {
                format!("{:.2}", r.client.cpu_us_per_unit)
            } else {
                "-".into()
            },
            r.latency(Metric::SendLag)
                .filter(|l| l.summary.count > 0)
                .map_or("-".into(), |l| fmt_num(l.summary.p99 as f64)),
            srv.map_or("-".into(), |s| fmt_num(s.peak_rss_kb as f64)),
            srv.and_then(|s| s.bytes_per_conn)
                .map_or("-".into(), fmt_num),
        ));
    }
    s
}

/// The step table of a stress run.
pub fn steps_table(run: &RunResult) -> String {
    let Some(st) = &run.stress else {
        return String::new();
    };
    let mut s = format!(
        "Stress `{}` ({}, p99 criterion {} ms): breaking point {}{}\n\n| step | offered/s | {}/s | p50 us | p99 us | p99.9 us | srv CPU | lg CPU | lg send lag p99 us | result |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---|\n",
        run.name,
        run.label,
        st.p99_max_ms,
        st.breaking_point.as_ref().map_or("none (no step passed)".into(), |b| format!(
            "**{} {}/s** at {} offered/s",
            fmt_num(b.units_per_sec),
            st.unit,
            fmt_num(b.offered_rate)
        )),
        st.limited_by()
            .map_or(String::new(), |by| format!("; limited by {by}")),
        st.unit
    );
    for x in &st.steps {
        s.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {:.0}% | {} | {} |\n",
            x.kind,
            fmt_num(x.offered_rate),
            fmt_num(x.units_per_sec),
            fmt_num(x.latency.p50 as f64),
            fmt_num(x.latency.p99 as f64),
            fmt_num(x.latency.p999 as f64),
            x.srv_cpu_pct.map_or("-".into(), |c| format!("{c:.0}%")),
            x.lg_cpu_pct,
            x.send_lag_p99_us.map_or("-".into(), |v| fmt_num(v as f64)),
            if x.ok {
                "ok".to_string()
            } else {
                format!("FAIL: {}", x.reason)
            }
        ));
    }
    s
}

/// Groups runs by label, keeping first-seen order.
pub fn by_label(runs: &[RunResult]) -> Vec<(String, Vec<RunResult>)> {
    let mut out: Vec<(String, Vec<RunResult>)> = Vec::new();
    for r in runs {
        match out.iter_mut().find(|(l, _)| *l == r.label) {
            Some((_, v)) => v.push(r.clone()),
            None => out.push((r.label.clone(), vec![r.clone()])),
        }
    }
    out
}

/// Side-by-side comparison of runs with the same name across labels, with ratios of units per
/// server CPU-second and achieved rate relative to `baseline` (or the first label).
pub fn comparison_table(runs: &[RunResult], baseline: Option<&str>) -> String {
    let mut names: BTreeMap<&str, Vec<&RunResult>> = BTreeMap::new();
    for r in runs {
        names.entry(r.name.as_str()).or_default().push(r);
    }
    let mut s = String::new();
    for (name, group) in names {
        if group.len() < 2 {
            continue;
        }
        let base = baseline
            .and_then(|b| group.iter().find(|r| r.label == b))
            .copied()
            .unwrap_or(group[0]);
        let eff = |r: &RunResult| {
            r.server
                .as_ref()
                .map(|s| s.units_per_cpu_sec)
                .filter(|v| *v > 0.0)
        };
        s.push_str(&format!(
            "\n**{name}** (ratios relative to {})\n\n| server | achieved | ratio | p50 us | p99 us | srv CPU | units per srv CPU-s | ratio | lg CPU us/unit | srv CPU us/unit | bytes/conn | ratio |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
            base.label
        ));
        for r in group {
            let l = primary(r).map(|l| l.summary).unwrap_or_default();
            let ratio = |a: Option<f64>, b: Option<f64>| match (a, b) {
                (Some(a), Some(b)) if b > 0.0 => format!("{:.2}x", a / b),
                _ => "-".into(),
            };
            let bpc = |r: &RunResult| r.server.as_ref().and_then(|s| s.bytes_per_conn);
            s.push_str(&format!(
                "| {} | {} {} | {} | {} | {} | {} | {} | {} | {:.2} | {} | {} | {} |\n",
                r.label,
                fmt_num(r.counts.achieved_rate),
                unit_of(r),
                ratio(
                    Some(r.counts.achieved_rate),
                    Some(base.counts.achieved_rate)
                ),
                fmt_num(l.p50 as f64),
                fmt_num(l.p99 as f64),
                r.server
                    .as_ref()
                    .map_or("-".into(), |s| format!("{:.0}%", s.cpu_pct)),
                eff(r).map_or("-".into(), fmt_num),
                ratio(eff(r), eff(base)),
                r.client.cpu_us_per_unit,
                r.server
                    .as_ref()
                    .map_or("-".into(), |s| format!("{:.2}", s.cpu_us_per_unit)),
                bpc(r).map_or("-".into(), fmt_num),
                ratio(bpc(r), bpc(base)),
            ));
        }
    }
    s
}

/// Markdown for one run: figures, steps, SLO table and template.
pub fn run_markdown(run: &RunResult) -> String {
    let runs = std::slice::from_ref(run);
    let slo = SloReport::evaluate(runs);
    let date = run.started_utc.get(..10).unwrap_or("");
    format!(
        "## {} — {} ({})\n\n{}\n{}\n{}\n#### Load Testing Results\n\n```\n{}```\n",
        run.name,
        run.label,
        run.target,
        runs_table(runs),
        steps_table(run),
        slo.to_markdown(),
        template::render(runs, &slo, date, ENVIRONMENT, &run.machine)
    )
}

/// Environment line of the template.
pub const ENVIRONMENT: &str =
    "Local dev (loopback 127.0.0.1, roomcore-bench open-loop load generator on the same machine)";

/// Markdown for a suite: per server the SLO table and template, then all runs, step tables and
/// the cross-server comparison.
pub fn suite_markdown(
    runs: &[RunResult],
    machine: &str,
    date: &str,
    baseline: Option<&str>,
) -> String {
    let mut s = format!("# roomcore-bench report\n\nMachine: {machine}\n\n");
    for (label, rs) in by_label(runs) {
        let slo = SloReport::evaluate(&rs);
        s.push_str(&format!(
            "## SLOs — {label}\n\n{}\n#### Load Testing Results — {label}\n\n```\n{}```\n\n",
            slo.to_markdown(),
            template::render(&rs, &slo, date, ENVIRONMENT, machine)
        ));
    }
    s.push_str("## Runs\n\n");
    s.push_str(&runs_table(runs));
    for r in runs.iter().filter(|r| r.stress.is_some()) {
        s.push('\n');
        s.push_str(&steps_table(r));
    }
    let cmp = comparison_table(runs, baseline);
    if !cmp.is_empty() {
        s.push_str("\n## Comparison (same run name, different servers)\n");
        s.push_str(&cmp);
    }
    s
}

/// Writes a run's files into `dir`: `NAME.json`, `NAME.METRIC.hgrm`, `NAME.svg`, `NAME.md`.
pub fn write_run(dir: &Path, run: &RunResult, hists: &[(Metric, LatencyHist)]) -> io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let stem = file_stem(run);
    std::fs::write(dir.join(format!("{stem}.json")), json::to_string(run))?;
    for (m, h) in hists {
        std::fs::write(
            dir.join(format!("{stem}.{}.hgrm", m.as_str())),
            hgrm::render(h),
        )?;
    }
    let series: Vec<svg::Series> = run
        .latencies
        .iter()
        .filter(|l| !l.curve.is_empty())
        .map(|l| svg::Series {
            label: format!("{} {}", run.label, l.metric.as_str()),
            points: l.curve.clone(),
        })
        .collect();
    std::fs::write(
        dir.join(format!("{stem}.svg")),
        svg::render(
            &format!("{} — {} latency by percentile", run.name, run.label),
            &series,
        ),
    )?;
    std::fs::write(dir.join(format!("{stem}.md")), run_markdown(run))?;
    Ok(())
}

/// File stem of a run's outputs: `NAME` or `NAME.LABEL` when labelled.
pub fn file_stem(run: &RunResult) -> String {
    let clean = |s: &str| {
        s.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect::<String>()
    };
    if run.label.is_empty() {
        clean(&run.name)
    } else {
        format!("{}.{}", clean(&run.name), clean(&run.label))
    }
}

/// Writes `report.md`, `report.json` and one comparison SVG per (run name, metric) into `dir`;
/// returns the markdown.
pub fn write_suite(dir: &Path, runs: &[RunResult], baseline: Option<&str>) -> io::Result<String> {
    std::fs::create_dir_all(dir)?;
    let machine = runs
        .iter()
        .map(|r| r.machine.clone())
        .find(|m| !m.is_empty())
        .unwrap_or_else(machine::describe);
    let now = crate::scenario::utc_now();
    let md = suite_markdown(runs, &machine, &now[..10], baseline);
    let groups = by_label(runs);
    let suite = json::Suite {
        generated_utc: now,
        machine,
        slo: groups
            .iter()
            .map(|(l, rs)| (l.clone(), SloReport::evaluate(rs)))
            .collect(),
        verdict: groups
            .iter()
            .map(|(l, rs)| {
                (
                    l.clone(),
                    template::verdict(&SloReport::evaluate(rs)).to_string(),
                )
            })
            .collect(),
        runs,
    };
    std::fs::write(dir.join("report.md"), &md)?;
    std::fs::write(dir.join("report.json"), json::to_string(&suite))?;
    let mut plots: BTreeMap<(String, &'static str), Vec<svg::Series>> = BTreeMap::new();
    for r in runs {
        for l in r.latencies.iter().filter(|l| !l.curve.is_empty()) {
            plots
                .entry((r.name.clone(), l.metric.as_str()))
                .or_default()
                .push(svg::Series {
                    label: if r.label.is_empty() {
                        r.name.clone()
                    } else {
                        r.label.clone()
                    },
                    points: l.curve.clone(),
                });
        }
    }
    for ((name, metric), series) in plots {
        let title = format!("{name}: {metric} latency by percentile");
        std::fs::write(
            dir.join(format!("compare.{name}.{metric}.svg")),
            svg::render(&title, &series),
        )?;
    }
    Ok(md)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{LatencyRecord, ServerUsage};

    fn run(label: &str, eff: f64) -> RunResult {
        let mut h = LatencyHist::new();
        h.record_us(300);
        RunResult {
            scenario: "relay".into(),
            name: "relay4".into(),
            label: label.into(),
            latencies: vec![LatencyRecord::from_hist(
                Metric::WsMessage,
                Some(slo::SloRow::WsMessage),
                &h,
            )],
            server: Some(ServerUsage {
                units_per_cpu_sec: eff,
                ..ServerUsage::default()
            }),
            ..RunResult::default()
        }
    }

    #[test]
    fn runs_table_shows_the_send_lag_where_measured() {
        let mut with_lag = run("roomcore", 1.0);
        let mut lag = LatencyHist::new();
        for us in [5, 5, 5, 1_000_000] {
            lag.record_us(us);
        }
        with_lag
            .latencies
            .push(LatencyRecord::from_hist(Metric::SendLag, None, &lag));
        let t = runs_table(&[with_lag, run("tokio-ws", 1.0)]);
        let rows: Vec<&str> = t.lines().collect();
        let cell = |row: &str, name: &str| {
            let i = rows[0].split('|').position(|c| c.trim() == name).unwrap();
            row.split('|').nth(i).unwrap().trim().to_string()
        };
        assert_eq!(
            cell(rows[2], "lg send lag p99 us"),
            fmt_num(lag.summary().p99 as f64),
            "{t}"
        );
        assert!(
            lag.summary().p99 >= 999_000,
            "the p99 of the lag is its outlier"
        );
        assert_eq!(
            cell(rows[3], "lg send lag p99 us"),
            "-",
            "no lag series, no figure: {t}"
        );
        // The message latency stays the run's summary, not the lag.
        let mut msg = LatencyHist::new();
        msg.record_us(300);
        assert_eq!(
            cell(rows[2], "p99 us"),
            fmt_num(msg.summary().p99 as f64),
            "{t}"
        );
    }

    #[test]
    fn numbers_are_grouped() {
        assert_eq!(fmt_num(1234567.4), "1,234,567");
        assert_eq!(fmt_num(999.0), "999");
        assert_eq!(fmt_num(0.0), "0");
    }

    #[test]
    fn comparison_ratios_against_baseline() {
        let runs = vec![run("roomcore", 150_000.0), run("tokio-ws", 100_000.0)];
        let t = comparison_table(&runs, Some("tokio-ws"));
        assert!(t.contains("relative to tokio-ws"));
        assert!(t.contains("| 1.50x |"));
        let md = suite_markdown(&runs, "box", "2026-01-01", Some("tokio-ws"));
        assert!(md.contains("## SLOs — roomcore"));
        assert!(md.contains("## SLOs — tokio-ws"));
        assert!(md.contains("Verdict:"));
    }

    #[test]
    fn writes_all_files() {
        let dir = std::env::temp_dir().join(format!("rb-report-{}", std::process::id()));
        let r = run("x", 1.0);
        let mut h = LatencyHist::new();
        h.record_us(10);
        write_run(&dir, &r, &[(Metric::WsMessage, h)]).unwrap();
        for f in [
            "relay4.x.json",
            "relay4.x.ws_message.hgrm",
            "relay4.x.svg",
            "relay4.x.md",
        ] {
            assert!(dir.join(f).exists(), "{f}");
        }
        let md = write_suite(&dir, &[r], None).unwrap();
        assert!(md.contains("WebSocket message"));
        assert!(dir.join("report.json").exists());
        assert!(dir.join("compare.relay4.ws_message.svg").exists());
        let loaded = json::load(&[&dir]).unwrap();
        assert_eq!(loaded.len(), 1);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
