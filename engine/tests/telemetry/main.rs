//! Tracing and error reports through the real binary (2 shards) and the real wire protocol:
//! a stand-in OTLP/HTTP collector decodes what the server exports ([`collector`]), a
//! stand-in Sentry endpoint receives its error reports ([`sentry`]).
//!
//! - [`http`]: a request's `traceparent` is continued (trace id, parent, route, status,
//!   `traceresponse`), and log lines inside a request carry its trace id.
//! - [`game`]: a chess move's span with its validation and durable save, linked to the
//!   commit that carried the save; a match formed between players on two shards.
//! - [`errors`]: chaos faults marked on their spans; a panic in a room or a game session is
//!   an exception event and a Sentry report; a 5xx is one too.
//! - [`outage`]: a collector that is down, refusing or hanging: the server serves on, and
//!   the drops are counted and logged.
//! - [`deploy`]: the compose stack's files are consistent (promtool, mounts, links).

#[path = "../common/mod.rs"]
mod common;

mod collector;
mod deploy;
mod errors;
mod game;
mod http;
mod outage;
mod sentry;

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::mpsc::Receiver;

use collector::Collector;
use common::{temp_dir, Server};

/// A server exporting to `col` every 100 ms, with `env` on top.
pub fn traced(col: &Collector, env: &[(&str, &str)]) -> Server {
    let endpoint = col.endpoint();
    let mut all: Vec<(&str, &str)> = vec![
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
    ];
    all.extend_from_slice(env);
    Server::start_in(&temp_dir("trace"), &["--test-hooks"], &all)
}

/// [`traced`], with the server's log lines (stderr) coming in on the receiver.
pub fn traced_with_log(col: &Collector, env: &[(&str, &str)]) -> (Server, Receiver<String>) {
    let endpoint = col.endpoint();
    let mut all: Vec<(&str, &str)> = vec![
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
    ];
    all.extend_from_slice(env);
    with_log(&all)
}

/// A server started with `env` whose stderr lines arrive on the receiver.
pub fn with_log(env: &[(&str, &str)]) -> (Server, Receiver<String>) {
    let mut s = Server::launch(&temp_dir("trace"), &["--test-hooks"], env, |cmd| {
        cmd.stderr(Stdio::piped());
    });
    let (tx, rx) = std::sync::mpsc::channel();
    let stderr = s.child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for l in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(l);
        }
    });
    (s, rx)
}

/// The JSON log lines received so far.
pub fn json_lines(rx: &Receiver<String>) -> Vec<serde_json::Value> {
    rx.try_iter()
        .filter_map(|l| serde_json::from_str(&l).ok())
        .collect()
}

/// A W3C traceparent with this trace and parent span, sampled.
pub fn traceparent(trace: &str, parent: &str) -> String {
    format!("00-{trace}-{parent}-01")
}
