//! `/metrics` on a live server: valid Prometheus exposition (promtool), JSON
//! form, every documented metric present; alert and recording rules valid, and
//! their unit tests (`deploy/prometheus/alerts_test.yml`) pass.

use std::io::Write;
use std::process::{Command, Stdio};

use tungstenite::Message;

use crate::common::{recv_data, Server};

fn promtool() -> &'static str {
    assert!(
        Command::new("promtool")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success()),
        "promtool is required (Debian package `prometheus`; scripts/test installs it)"
    );
    "promtool"
}

fn repo_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Metric names listed in docs/metrics.md.
fn documented_names() -> Vec<String> {
    let doc = std::fs::read_to_string(repo_root().join("docs/metrics.md")).unwrap();
    doc.lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split('`').next())
        .filter(|n| n.starts_with("roomcore_"))
        .map(str::to_string)
        .collect()
}

#[test]
fn live_scrape_passes_promtool_and_lists_every_documented_metric() {
    let s = Server::start(&[]);
    // Traffic first: HTTP on several routes, a relay exchange, a bad request.
    for p in ["/health", "/live", "/nope", "/api/leaderboard?game=x"] {
        s.get(p);
    }
    let mut a = s.ws("/ws/relay/metrics-room");
    let mut b = s.ws("/ws/relay/metrics-room");
    std::thread::sleep(std::time::Duration::from_millis(50));
    a.send(Message::text("hi")).unwrap();
    assert_eq!(recv_data(&mut b), Message::text("hi"));
    let r = s.request("GET", "/metrics", &[], b"");
    assert_eq!(r.status, 200);
    assert!(r
        .header("Content-Type")
        .unwrap()
        .starts_with("text/plain; version=0.0.4"));
    let text = r.body;

    let mut child = Command::new(promtool())
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    let names = documented_names();
    assert!(
        names.len() >= 30,
        "docs/metrics.md lists only {} metrics",
        names.len()
    );
    for n in &names {
        assert!(
            text.contains(&format!("# TYPE {n} ")),
            "{n} is documented but not exposed"
        );
    }
    // Figures reflect the traffic (summed over both shards).
    assert!(text.contains("roomcore_active_websockets 2\n"), "{text}");
    assert!(text.contains("roomcore_ws_messages_received_total{type=\"text\"} 1\n"));
    assert!(text.contains("roomcore_ws_messages_sent_total{type=\"relay\"} 1\n"));
    assert!(text.contains("roomcore_http_requests_total{route=\"not_found\",status=\"404\"} 1\n"));
    assert!(text.contains(
        "roomcore_http_request_duration_seconds_bucket{route=\"health\",le=\"+Inf\"} 1\n"
    ));
    assert!(text.contains("roomcore_shards 2\n"));
    assert!(text.contains("roomcore_shutdown_in_progress 0\n"));

    // JSON form.
    let j = s.request("GET", "/metrics", &[("Accept", "application/json")], b"");
    assert_eq!(j.status, 200);
    let v = j.json();
    let metrics = v["metrics"].as_array().unwrap();
    for n in &names {
        assert!(
            metrics.iter().any(|m| m["name"] == n.as_str()),
            "{n} missing from JSON"
        );
    }
    // Wrong method.
    assert_eq!(s.request("POST", "/metrics", &[], b"").status, 405);
}

#[test]
fn alert_and_recording_rules_are_valid() {
    let dir = repo_root().join("deploy/prometheus");
    let files: Vec<_> = std::fs::read_dir(&dir)
        .expect("deploy/prometheus exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension().is_some_and(|x| x == "yml") && !p.to_string_lossy().ends_with("_test.yml")
        })
        .collect();
    assert!(!files.is_empty());
    let out = Command::new(promtool())
        .args(["check", "rules"])
        .args(&files)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "promtool check rules failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // Every alert links to its runbook section, and the section exists.
    let runbook = std::fs::read_to_string(repo_root().join("docs/runbook.md"))
        .unwrap()
        .to_lowercase();
    let alerts = std::fs::read_to_string(dir.join("alerts.yml")).unwrap();
    let mut links = 0;
    for line in alerts.lines() {
        if let Some((_, anchor)) = line.split_once("runbook.md#") {
            links += 1;
            let anchor = anchor.trim().trim_matches('"').trim_matches('\'');
            let heading = anchor.replace('-', " ");
            assert!(
                runbook.lines().any(|l| l.starts_with('#')
                    && l.trim_start_matches('#')
                        .trim()
                        .replace(['-', '(', ')', '/', ':', ','], " ")
                        .split_whitespace()
                        .collect::<Vec<_>>()
                        .join(" ")
                        == heading.split_whitespace().collect::<Vec<_>>().join(" ")),
                "runbook has no section for #{anchor}"
            );
        }
    }
    assert!(links > 0, "alerts carry no runbook links");
}

#[test]
fn alert_rule_unit_tests_pass() {
    let dir = repo_root().join("deploy/prometheus");
    let out = Command::new(promtool())
        .args(["test", "rules", "alerts_test.yml"])
        .current_dir(&dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "promtool test rules failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // The storage alerts the PostgreSQL engine relies on are among the tested ones.
    let tests = std::fs::read_to_string(dir.join("alerts_test.yml")).unwrap();
    for alert in ["RoomcoreStorageDown", "RoomcoreStorageUnavailable"] {
        assert!(
            tests.contains(&format!("alertname: {alert}\n")),
            "{alert} has no unit test"
        );
    }
}

#[test]
fn memory_watermark_sets_the_gauge() {
    // A limit far below the process's resident size: over the 85 % watermark at once.
    let s = Server::start_in(
        &crate::common::temp_dir("mem"),
        &[],
        &[("MEMORY_LIMIT_BYTES", "1000000")],
    );
    let m = s.get("/metrics").1;
    assert!(m.contains("roomcore_memory_watermark_exceeded 1\n"), "{m}");
    assert!(m.contains("roomcore_memory_limit_bytes 1000000\n"), "{m}");
    let rss = m
        .lines()
        .find_map(|l| l.strip_prefix("roomcore_memory_resident_bytes "))
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap();
    assert!(rss > 850_000.0, "rss {rss}");
    // Without MEMORY_LIMIT_BYTES the limit is the cgroup's, if any: only check the reading.
    let s = Server::start(&[]);
    let m = s.get("/metrics").1;
    assert!(m.contains("roomcore_memory_resident_bytes "), "{m}");
}

/// `roomcore_shard_loop_lag_seconds{shard}` bucket count at `le`.
fn loop_lag_bucket(text: &str, shard: usize, le: &str) -> u64 {
    let key = format!("roomcore_shard_loop_lag_seconds_bucket{{shard=\"{shard}\",le=\"{le}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(key.as_str()))
        .unwrap_or_else(|| panic!("no {key} in:\n{text}"))
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn a_stalled_process_shows_in_every_shards_loop_lag_and_log() {
    use std::io::{BufRead, BufReader};
    let mut s = Server::launch(&crate::common::temp_dir("stall"), &[], &[], |cmd| {
        cmd.stderr(Stdio::piped());
    });
    let (sink, log) = std::sync::mpsc::channel::<String>();
    let stderr = s.child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for l in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = sink.send(l);
        }
    });
    // A few quiet housekeeping ticks (at most 250 ms apart), then the whole process is stopped
    // for 700 ms: every shard's timer fires at least that late once it runs again.
    std::thread::sleep(std::time::Duration::from_millis(700));
    s.signal(libc::SIGSTOP);
    std::thread::sleep(std::time::Duration::from_millis(700));
    s.signal(libc::SIGCONT);
    std::thread::sleep(std::time::Duration::from_millis(600));
    // Each shard says so once in its log, with how long.
    let stalls: Vec<String> = log
        .try_iter()
        .filter(|l| l.contains("shard event loop stalled"))
        .collect();
    assert_eq!(stalls.len(), 2, "one line per shard: {stalls:?}");
    for l in &stalls {
        let v: serde_json::Value = serde_json::from_str(l).unwrap_or_else(|_| panic!("{l}"));
        let ms: u64 = v["lag_ms"]
            .as_str()
            .and_then(|x| x.parse().ok())
            .unwrap_or_else(|| panic!("no lag_ms: {l}"));
        assert!((500..5_000).contains(&ms), "{l}");
    }
    let r = s.request("GET", "/metrics", &[], b"");
    assert_eq!(r.status, 200);
    let text = r.body;
    assert!(
        text.contains("# TYPE roomcore_shard_loop_lag_seconds histogram"),
        "{text}"
    );
    for shard in 0..2 {
        let all = loop_lag_bucket(&text, shard, "+Inf");
        let under_half_second = loop_lag_bucket(&text, shard, "0.5");
        let under_250ms = loop_lag_bucket(&text, shard, "0.25");
        assert!(
            all - under_half_second >= 1,
            "shard {shard}: the 700 ms stop is not in its loop lag ({under_half_second} of {all} ticks under 0.5 s)"
        );
        // The ticks before and after the stop were on time.
        assert!(
            under_250ms >= 2,
            "shard {shard}: only {under_250ms} of {all} ticks under 250 ms"
        );
    }
}
