//! Scenarios: each drives one workload in a single-threaded event loop and returns a
//! [`crate::model::RunResult`]. [`http`] (any request at a fixed rate over keep-alive
//! connections), [`ws_connect`] (connection storm and hold), [`relay`] (rooms × members, one-way
//! message latency), [`stress`] (ramp one of them to its breaking point), and the account-based
//! ones on roomcore's API ([`typed`] holds what they share: guest tokens, message parsing):
//! [`scores`] (durable score writes), [`chess`] (concurrent games, move round trip) and
//! [`matchmaking`] (queue inflow, time to match); [`open_loop`] is the schedule the last two
//! share. This module holds what they all share: run
//! metadata, the result every run ends with ([`RunMeta::output`]) and the step interface stress
//! drives.

pub mod chess;
pub mod http;
pub mod matchmaking;
pub mod open_loop;
pub mod relay;
pub mod scores;
pub mod stress;
pub mod typed;
pub mod ws_connect;

use crate::hist::LatencyHist;
use crate::model::{
    latency_outputs, ClientUsage, Counts, Metric, RunResult, ServerUsage, StepResult,
};
use crate::report::slo::SloRow;
use crate::target::Target;

/// What a scenario's `run` returns: its result and the histograms behind the result's latency
/// summaries (for the `.hgrm` files and plots).
pub type RunOutput = (RunResult, Vec<(Metric, LatencyHist)>);

/// What a scenario measured, before it becomes a [`RunOutput`] with [`RunMeta::output`].
pub struct Measured {
    /// The scenario's parameters as JSON (for the report).
    pub params: serde_json::Value,
    /// Length of the measured window, s.
    pub secs: f64,
    /// Each latency metric with the SLO row it is judged against, if any.
    pub hists: Vec<(Metric, Option<SloRow>, LatencyHist)>,
    /// Counters of the window.
    pub counts: Counts,
    /// The server's CPU and memory over the window (when its pid was given).
    pub server: Option<ServerUsage>,
    /// The load generator's own CPU over the window.
    pub client: ClientUsage,
}

/// What every run needs to know besides its own parameters.
#[derive(Clone, Debug)]
pub struct RunMeta {
    /// Target URL template as given.
    pub target_url: String,
    /// Parsed target.
    pub target: Target,
    /// More targets (`--also-target`): relay members are spread over all of them.
    pub more_targets: Vec<Target>,
    /// Server label.
    pub label: String,
    /// Run name (output file stem).
    pub name: String,
    /// Server pid for /proc accounting.
    pub server_pid: Option<u32>,
    /// More server pids (`--also-pid`), summed with `server_pid`.
    pub more_pids: Vec<u32>,
    /// Bind client sockets to cycling 127.0.0.x sources.
    pub many_sources: bool,
}

impl RunMeta {
    /// Every server pid to account for.
    pub fn pids(&self) -> Vec<u32> {
        self.server_pid
            .into_iter()
            .chain(self.more_pids.iter().copied())
            .collect()
    }

    /// Target `i` of the run (0 = `--target`, then `--also-target` in order).
    pub fn target_at(&self, i: usize) -> &Target {
        match i {
            0 => &self.target,
            i => &self.more_targets[i - 1],
        }
    }

    /// The [`RunOutput`] of a `scenario` run that measured `m` against this target: latency
    /// summaries and histograms come from the one list in `m`, so the two cannot disagree.
    pub fn output(&self, scenario: &str, m: Measured) -> RunOutput {
        let (latencies, hists) = latency_outputs(m.hists);
        let result = RunResult {
            scenario: scenario.into(),
            name: self.name.clone(),
            label: self.label.clone(),
            target: self.target_url.clone(),
            params: m.params,
            measured_secs: m.secs,
            latencies,
            counts: m.counts,
            server: m.server,
            client: m.client,
            ..RunResult::default()
        };
        (result, hists)
    }
}

/// A workload that can run one step at a given offered rate (driven by [`stress`]).
pub trait Stepper {
    /// Unit of the step's achieved rate ("deliveries", "responses").
    fn unit(&self) -> &'static str;
    /// Runs step number `step` at `rate` events/s with the given warm-up and measured window.
    fn run_step(&mut self, step: u32, rate: f64, warmup_secs: f64, secs: f64) -> StepOutcome;
}

/// A step's figures plus its raw latency histogram.
#[derive(Clone, Debug)]
pub struct StepOutcome {
    /// Figures (ok/reason are filled in by the stress criteria).
    pub result: StepResult,
    /// Latency histogram of the measured window.
    pub hist: crate::hist::LatencyHist,
}

/// UTC timestamp `YYYY-MM-DDTHH:MM:SSZ` of now.
pub fn utc_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    utc_string(secs)
}

/// Formats Unix seconds as `YYYY-MM-DDTHH:MM:SSZ` (civil-from-days, proleptic Gregorian).
pub fn utc_string(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_formatting() {
        assert_eq!(utc_string(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc_string(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(utc_string(1_700_000_000), "2023-11-14T22:13:20Z");
    }
}
