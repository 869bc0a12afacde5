//! A collector that is down, refusing or too slow: the server serves on at full speed, drops
//! the spans it cannot export, counts them in `roomcore_trace_spans_dropped_total` and says so
//! in its log at most once per 10 s.

use std::time::{Duration, Instant};

use crate::collector::{Collector, Mode};
use crate::{json_lines, with_log};

/// A loopback port nothing listens on.
fn closed_port() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let a = l.local_addr().unwrap();
    drop(l);
    format!("http://{a}")
}

fn dropped(metrics: &str) -> u64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix("roomcore_trace_spans_dropped_total "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no drop counter in\n{metrics}"))
}

#[test]
fn a_collector_down_refusing_or_hanging_costs_only_dropped_spans() {
    let refusing = Collector::start(Mode::Refuse);
    let hanging = Collector::start(Mode::Hang);
    let cases = [
        ("down", closed_port()),
        ("refusing", refusing.endpoint()),
        ("hanging", hanging.endpoint()),
    ];
    for (what, endpoint) in cases {
        let (s, log) = with_log(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
            ("OTEL_BSP_SCHEDULE_DELAY", "50"),
            ("OTEL_BSP_MAX_QUEUE_SIZE", "64"),
            ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "16"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "2000"),
        ]);
        let mut c = s.client();
        let t0 = Instant::now();
        let mut slowest = Duration::ZERO;
        for i in 0..400 {
            let t = Instant::now();
            let r = c
                .send("GET", "/api/leaderboard?game=chess&limit=1", &[], b"")
                .unwrap_or_else(|e| panic!("{what}: request {i}: {e}"));
            assert_eq!(r.status, 200, "{what}: {}", r.body);
            slowest = slowest.max(t.elapsed());
        }
        let took = t0.elapsed();
        // A shard that waited for an export would hold a request for up to the 2 s timeout.
        assert!(
            slowest < Duration::from_secs(1),
            "{what}: a request took {slowest:?} (400 in {took:?})"
        );
        // The drops are counted (the hanging collector holds one batch in flight and the
        // queue of 64 fills up behind it).
        let deadline = Instant::now() + Duration::from_secs(10);
        let n = loop {
            let n = dropped(&c.send("GET", "/metrics", &[], b"").unwrap().body);
            if n > 0 || Instant::now() > deadline {
                break n;
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        assert!(n > 0, "{what}: no span counted as dropped");
        // ...and said in the log, at most one line per 10 s.
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut lines: Vec<serde_json::Value> = Vec::new();
        while lines.is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
            lines.extend(
                json_lines(&log)
                    .into_iter()
                    .filter(|l| l["msg"] == "trace spans dropped"),
            );
        }
        assert!(!lines.is_empty(), "{what}: no log line about the drops");
        let ts: Vec<f64> = lines.iter().map(|l| l["ts"].as_f64().unwrap()).collect();
        assert!(
            ts.windows(2).all(|w| w[1] - w[0] >= 9.9),
            "{what}: more than one line per 10 s: {lines:?}"
        );
        assert_eq!(lines[0]["endpoint"], format!("{endpoint}/v1/traces"));
        assert!(lines[0]["reason"].as_str().is_some_and(|r| !r.is_empty()));
        assert_eq!(s.get("/health").0, 200, "{what}");
    }
    assert!(refusing.requests() > 0, "the refusing collector was asked");
}

#[test]
fn a_sentry_endpoint_down_or_hanging_costs_nothing_but_the_reports() {
    // Down: connections are refused.
    let (_held, down) = crate::common::refused_addr();
    // Hanging: it listens and never accepts, so connections sit in its backlog unanswered.
    let hanging = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let hung = hanging.local_addr().unwrap();
    for (what, addr) in [("down", down), ("hanging", hung)] {
        let dsn = format!("http://publickey@{addr}/42");
        let mut s = crate::common::Server::start_in(
            &crate::common::temp_dir("sentry-out"),
            &[],
            &[("SENTRY_DSN", &dsn), ("CHAOS_ERROR_RATE", "1")],
        );
        let mut c = s.client();
        let mut slowest = Duration::ZERO;
        // Every request is a 5xx and so an error report nobody receives.
        for i in 0..300 {
            let t = Instant::now();
            let r = c
                .send("POST", "/api/scores", &[], b"{}")
                .unwrap_or_else(|e| panic!("{what}: request {i}: {e}"));
            assert_eq!(r.status, 500, "{what}: {}", r.body);
            slowest = slowest.max(t.elapsed());
        }
        assert!(
            slowest < Duration::from_secs(1),
            "{what}: a request took {slowest:?}"
        );
        assert_eq!(s.get("/live").0, 200, "{what}");
        assert_eq!(s.get("/health").0, 200, "{what}");
        // A drain does not wait on the endpoint past its bounded flush (1 s), not even with
        // the client's queue full of reports and the endpoint holding one (up to 5 s).
        let t0 = Instant::now();
        s.signal(libc::SIGTERM);
        assert_eq!(s.wait_exit(Duration::from_secs(15)), Some(0), "{what}");
        assert!(
            t0.elapsed() < Duration::from_secs(5),
            "{what}: {:?}",
            t0.elapsed()
        );
    }
    drop(hanging);
}
