//! Running a parsed command line: each subcommand's options become its scenario's parameters,
//! the scenario runs, and the result is printed and (with `--out`) written.

use super::*;
use crate::model::RunResult;
use crate::report;
use crate::scenario::chess::ChessParams;
use crate::scenario::http::HttpParams;
use crate::scenario::matchmaking::MatchParams;
use crate::scenario::relay::RelayParams;
use crate::scenario::scores::ScoresParams;
use crate::scenario::stress::{StressParams, Workload};
use crate::scenario::ws_connect::ConnectParams;
use crate::scenario::{self, RunMeta};
use crate::target::Target;
fn meta(c: &Common, default_name: &str) -> Result<RunMeta, String> {
    let target = Target::parse(&c.target)?;
    let more_targets = c
        .also_target
        .iter()
        .map(|t| Target::parse(t))
        .collect::<Result<Vec<_>, _>>()?;
    let mut target_url = c.target.clone();
    for t in &c.also_target {
        target_url.push(' ');
        target_url.push_str(t);
    }
    Ok(RunMeta {
        target_url,
        target,
        more_targets,
        label: c.label.clone(),
        name: c.name.clone().unwrap_or_else(|| default_name.to_string()),
        server_pid: c.server_pid,
        more_pids: c.also_pid.clone(),
        many_sources: !c.single_source,
    })
}

fn http_params(s: &HttpShape, rate: f64, warmup: f64, duration: f64) -> Result<HttpParams, String> {
    let body = match &s.body_file {
        Some(f) => std::fs::read_to_string(f).map_err(|e| format!("{}: {e}", f.display()))?,
        None => s.body.clone(),
    };
    Ok(HttpParams {
        method: s.method.to_ascii_uppercase(),
        headers: s.headers.clone(),
        body,
        connections: s.connections.max(1),
        rate,
        warmup_secs: warmup,
        secs: duration,
        timeout_secs: s.timeout,
        drain_secs: s.drain,
        slo_row: s.slo_row,
    })
}

fn relay_params(
    s: &RelayShape,
    rate: f64,
    warmup: f64,
    duration: f64,
) -> Result<RelayParams, String> {
    validate_room_prefix(&s.room_prefix)?;
    if s.rooms == 0 || s.members < 2 {
        return Err("relay needs --rooms >= 1 and --members >= 2".into());
    }
    Ok(RelayParams {
        rooms: s.rooms,
        members: s.members,
        size: s.size,
        text: s.text,
        room_prefix: s.room_prefix.clone(),
        rate,
        warmup_secs: warmup,
        secs: duration,
        drain_secs: s.drain,
        connect_concurrency: s.connect_concurrency.max(1),
        connect_timeout_secs: s.connect_timeout,
        placement: s.placement,
        server_shards: s.server_shards.max(1),
    })
}

fn stress_params(r: &Ramp) -> StressParams {
    StressParams {
        start_rate: r.start_rate,
        factor: r.factor,
        warmup_secs: r.step_warmup,
        step_secs: r.step_duration,
        p99_max_ms: r.p99_max_ms,
        max_steps: r.max_steps,
        refine: r.refine,
        max_rate: r.max_rate,
        retry_p99: !r.no_retry,
    }
}

type Ran = (
    RunResult,
    Vec<(crate::model::Metric, crate::hist::LatencyHist)>,
);

fn finish(common: &Common, ran: Ran) -> Result<RunResult, String> {
    let (mut run, hists) = ran;
    run.machine = report::machine::describe();
    if run.started_utc.is_empty() {
        run.started_utc = scenario::utc_now();
    }
    if let Some(dir) = &common.out {
        report::write_run(dir, &run, &hists).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    println!("{}", report::run_markdown(&run));
    Ok(run)
}

/// Runs the parsed command line.
pub fn run(cli: Cli) -> Result<(), String> {
    let started = scenario::utc_now();
    let stamp = |mut r: Ran| {
        r.0.started_utc = started.clone();
        r
    };
    match cli.cmd {
        Cmd::Http(c) => {
            let m = meta(&c.common, "http")?;
            let p = http_params(&c.shape, c.rate, c.timing.warmup, c.timing.duration)?;
            finish(&c.common, stamp(scenario::http::run(&m, p)?))?;
        }
        Cmd::WsConnect(c) => {
            validate_room_prefix(&c.room_prefix)?;
            let m = meta(&c.common, "ws-connect")?;
            let p = ConnectParams {
                conns: c.conns,
                rate: c.rate,
                members: c.members,
                room_prefix: c.room_prefix,
                hold_secs: c.hold,
                timeout_secs: c.timeout,
                warmup_secs: c.warmup,
                settle_secs: c.settle,
            };
            finish(&c.common, stamp(scenario::ws_connect::run(&m, p)?))?;
        }
        Cmd::Relay(c) => {
            let m = meta(&c.common, "relay")?;
            let p = relay_params(&c.shape, c.rate, c.timing.warmup, c.timing.duration)?;
            finish(&c.common, stamp(scenario::relay::run(&m, p)?))?;
        }
        Cmd::Stress(s) => match s.workload {
            StressWorkload::Relay {
                common,
                shape,
                ramp,
            } => {
                let m = meta(&common, "stress-relay")?;
                let p = relay_params(&shape, 0.0, 0.0, 0.0)?;
                let ran = scenario::stress::run(&m, Workload::Relay(p), stress_params(&ramp))?;
                finish(&common, stamp(ran))?;
            }
            StressWorkload::Http {
                common,
                shape,
                ramp,
            } => {
                let m = meta(&common, "stress-http")?;
                let p = http_params(&shape, 0.0, 0.0, 0.0)?;
                let ran = scenario::stress::run(&m, Workload::Http(p), stress_params(&ramp))?;
                finish(&common, stamp(ran))?;
            }
        },
        Cmd::Scores(c) => {
            let m = meta(&c.common, "scores")?;
            let p = ScoresParams {
                rate: c.rate,
                connections: c.connections.max(1),
                game: c.game,
                warmup_secs: c.timing.warmup,
                secs: c.timing.duration,
                timeout_secs: c.timeout,
                drain_secs: c.drain,
                token_rate: c.tokens.token_rate,
            };
            finish(&c.common, stamp(scenario::scores::run(&m, p)?))?;
        }
        Cmd::Chess(c) => {
            let m = meta(&c.common, "chess")?;
            let p = ChessParams {
                games: c.games,
                rate: c.rate,
                warmup_secs: c.timing.warmup,
                secs: c.timing.duration,
                drain_secs: c.session.drain,
                plies: c.plies,
                initial_secs: c.initial_secs,
                increment_secs: c.increment_secs,
                token_rate: c.tokens.token_rate,
                connect_concurrency: c.session.connect_concurrency,
                setup_timeout_secs: c.session.setup_timeout,
            };
            finish(&c.common, stamp(scenario::chess::run(&m, p)?))?;
        }
        Cmd::Matchmaking(c) => {
            let m = meta(&c.common, "matchmaking")?;
            let p = MatchParams {
                players: c.players,
                rate: c.rate,
                mode: c.mode,
                region: c.region,
                warmup_secs: c.timing.warmup,
                secs: c.timing.duration,
                drain_secs: c.session.drain,
                token_rate: c.tokens.token_rate,
                connect_concurrency: c.session.connect_concurrency,
                setup_timeout_secs: c.session.setup_timeout,
            };
            finish(&c.common, stamp(scenario::matchmaking::run(&m, p)?))?;
        }
        Cmd::Calibrate(c) => {
            let cal = crate::calibrate::run(c.iterations, c.sleep_us, c.cpus)?;
            if let Some(path) = &c.out {
                let json = serde_json::to_string_pretty(&cal).map_err(|e| e.to_string())?;
                std::fs::write(path, json).map_err(|e| format!("{}: {e}", path.display()))?;
            }
            print!("{}", crate::calibrate::markdown(&cal));
        }
        Cmd::Report(r) => {
            let runs = report::json::load(&r.paths)?;
            if runs.is_empty() {
                return Err("report: no run JSON found".into());
            }
            let out = r.out.clone().unwrap_or_else(|| {
                r.paths
                    .iter()
                    .find(|p| p.is_dir())
                    .cloned()
                    .unwrap_or_else(|| PathBuf::from("."))
            });
            let md = report::write_suite(&out, &runs, r.baseline.as_deref())
                .map_err(|e| format!("{}: {e}", out.display()))?;
            println!("{md}");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[test]
    fn command_lines_parse() {
        Cli::try_parse_from([
            "roomcore-bench",
            "relay",
            "--target",
            "ws://127.0.0.1:1/ws?room={room}",
            "--rooms",
            "10",
            "--members",
            "4",
            "--rate",
            "100",
            "--duration",
            "2s",
        ])
        .unwrap();
        Cli::try_parse_from([
            "roomcore-bench",
            "http",
            "--target",
            "http://127.0.0.1:1/api/auth/login",
            "--method",
            "POST",
            "-H",
            "Content-Type: application/json",
            "--body",
            "{}",
            "--slo-row",
            "auth",
        ])
        .unwrap();
        Cli::try_parse_from([
            "roomcore-bench",
            "stress",
            "relay",
            "--target",
            "ws://127.0.0.1:1/{room}",
            "--start-rate",
            "100",
            "--step-duration",
            "1s",
        ])
        .unwrap();
        Cli::try_parse_from(["roomcore-bench", "report", "dir"]).unwrap();
        for sc in [
            &[
                "scores",
                "--target",
                "http://127.0.0.1:1",
                "--rate",
                "100",
                "--connections",
                "4",
            ][..],
            &[
                "chess",
                "--target",
                "ws://127.0.0.1:1/ws",
                "--games",
                "10",
                "--plies",
                "8",
            ][..],
            &[
                "matchmaking",
                "--target",
                "ws://127.0.0.1:1/ws",
                "--players",
                "20",
                "--rate",
                "10",
            ][..],
        ] {
            let mut a = vec!["roomcore-bench"];
            a.extend_from_slice(sc);
            a.extend_from_slice(&["--token-rate", "500", "--duration", "2s"]);
            Cli::try_parse_from(a).unwrap();
        }
        assert!(Cli::try_parse_from(["roomcore-bench", "relay"]).is_err());
    }
}
