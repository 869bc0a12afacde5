//! Smoke test of every scenario against a real roomcore process: starts the server binary
//! (ROOMCORE_BIN, else ../target/{debug,release}/roomcore), runs a seconds-long `http`,
//! `ws-connect`, `relay`, `stress relay`, `scores`, `chess` (short lines, so games restart) and
//! `matchmaking` through the real `roomcore-bench` binary, then `report`, and checks that the reports carry every SLO row, with a measured value for each
//! row the scenario measures, and no errors.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const ROWS: [&str; 5] = [
    "`GET /health`",
    "`POST /api/auth/*`",
    "`GET /api/leaderboard`",
    "WebSocket connect",
    "WebSocket message",
];

fn roomcore_bin() -> PathBuf {
    if let Ok(p) = std::env::var("ROOMCORE_BIN") {
        return PathBuf::from(p);
    }
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    for p in ["../target/debug/roomcore", "../target/release/roomcore"] {
        let c = here.join(p);
        if c.exists() {
            return c;
        }
    }
    panic!(
        "roomcore binary not found (ROOMCORE_BIN unset, no target/debug/roomcore or \
         target/release/roomcore): run `cargo build -p roomcore` first"
    );
}

struct Server {
    child: Child,
    port: u16,
    _dir: TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        let p = std::env::temp_dir().join(format!(
            "roomcore-bench-smoke-{tag}-{}-{}",
            std::process::id(),
            Instant::now().elapsed().as_nanos()
        ));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn http_status(port: u16, path: &str) -> Option<u16> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(1))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut buf = [0u8; 64];
    let n = s.read(&mut buf).ok()?;
    let head = std::str::from_utf8(&buf[..n]).ok()?;
    head.split_whitespace().nth(1)?.parse().ok()
}

fn start_server() -> Server {
    let bin = roomcore_bin();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = TempDir::new("data");
    let child = Command::new(&bin)
        .args([
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--shards",
            "2",
            "--data-dir",
        ])
        .arg(&dir.0)
        // Load tests run with the abuse limits off (they would throttle the load).
        .args([
            "--max-conns-per-ip=0",
            "--max-total-connections=0",
            "--ws-max-msgs-per-sec=0",
            "--max-msgs-per-10s=0",
            "--max-bytes-per-10s=0",
            "--max-room-creates-per-ip-per-min=0",
            "--http-api-rate-per-min=0",
            "--http-auth-rate-per-min=0",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
    let mut server = Server {
        child,
        port,
        _dir: dir,
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if http_status(port, "/ready") == Some(200) {
            return server;
        }
        if let Ok(Some(st)) = server.child.try_wait() {
            panic!("roomcore exited before becoming ready: {st}");
        }
        assert!(
            Instant::now() < deadline,
            "roomcore not ready on 127.0.0.1:{port} within 10 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Runs the bench binary; returns stdout (the run's markdown report).
fn bench(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_roomcore-bench"))
        .args(args)
        .output()
        .expect("run roomcore-bench");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "roomcore-bench {args:?} failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn row_line<'a>(md: &'a str, row: &str) -> &'a str {
    md.lines()
        .find(|l| l.starts_with(&format!("| {row} |")))
        .unwrap_or_else(|| panic!("SLO row {row} missing from report:\n{md}"))
}

/// Every row present; `measured` rows carry figures and a PASS, the others say "not measured".
fn check_rows(md: &str, measured: &[&str]) {
    for row in ROWS {
        let line = row_line(md, row);
        if measured.contains(&row) {
            assert!(
                !line.contains("not measured"),
                "{row} not measured:\n{line}"
            );
            assert!(line.contains(" ms "), "{row} has no figures:\n{line}");
            assert!(line.contains("**PASS**"), "{row} did not pass:\n{line}");
        }
    }
    assert!(md.contains("Verdict: "), "template missing:\n{md}");
    assert!(!md.contains("__"), "template has blanks:\n{md}");
}

fn json(dir: &Path, stem: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(dir.join(format!("{stem}.json")))
        .unwrap_or_else(|e| panic!("{stem}.json: {e}"));
    serde_json::from_str(&text).unwrap()
}

#[test]
fn every_scenario_against_a_real_server() {
    let server = start_server();
    let t0 = Instant::now();
    let out = TempDir::new("out");
    let outs = out.0.to_str().unwrap();
    let port = server.port;
    let pid = server.child.id().to_string();
    let http_t = format!("http://127.0.0.1:{port}/health");
    let ws_t = format!("ws://127.0.0.1:{port}/ws/relay/{{room}}");
    let common = |target: &str| -> Vec<String> {
        [
            "--target",
            target,
            "--label",
            "roomcore",
            "--server-pid",
            &pid,
            "--out",
            outs,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    let run = |scenario: &[&str], target: &str, extra: &[&str]| {
        let mut a: Vec<String> = scenario.iter().map(|s| s.to_string()).collect();
        a.extend(common(target));
        a.extend(extra.iter().map(|s| s.to_string()));
        bench(&a.iter().map(String::as_str).collect::<Vec<_>>())
    };

    let md = run(
        &["http"],
        &http_t,
        &[
            "--rate",
            "500",
            "--connections",
            "8",
            "--warmup",
            "0.5s",
            "--duration",
            "1.5s",
        ],
    );
    check_rows(&md, &["`GET /health`"]);
    let j = json(&out.0, "http.roomcore");
    assert!(j["counts"]["responses"].as_u64().unwrap() >= 700, "{j}");
    assert_eq!(send_lag_count(&j), j["counts"]["requests"], "{j}");
    assert_eq!(j["counts"]["status_2xx"], j["counts"]["responses"]);
    assert_eq!(j["counts"]["errors"], 0);
    assert!(j["server"]["cpu_us_per_unit"].as_f64().is_some());

    let md = run(
        &["ws-connect"],
        &ws_t,
        &[
            "--conns", "200", "--rate", "1000", "--hold", "0.5s", "--settle", "0.2s",
        ],
    );
    check_rows(&md, &["WebSocket connect"]);
    let j = json(&out.0, "ws-connect.roomcore");
    assert_eq!(j["counts"]["conn_ok"], 200, "{j}");
    assert!(j["server"]["rss_held_kb"].as_u64().unwrap() > 0);

    let md = run(
        &["relay"],
        &ws_t,
        &[
            "--rooms",
            "10",
            "--members",
            "4",
            "--rate",
            "500",
            "--warmup",
            "0.5s",
            "--duration",
            "1.5s",
        ],
    );
    check_rows(&md, &["WebSocket connect", "WebSocket message"]);
    let j = json(&out.0, "relay.roomcore");
    let c = &j["counts"];
    assert!(c["deliveries"].as_u64().unwrap() >= 2000, "{j}");
    // Every measured send's lateness is recorded, and the runs table shows its p99.
    assert_eq!(send_lag_count(&j), c["sends"], "{j}");
    assert!(md.contains("| lg send lag p99 us |"), "{md}");
    assert_eq!(c["deliveries"], c["expected_deliveries"], "{j}");
    assert_eq!(c["undelivered"], 0);
    assert_eq!(c["errors"], 0);

    let md = run(
        &["stress", "relay"],
        &ws_t,
        &[
            "--rooms",
            "5",
            "--members",
            "4",
            "--start-rate",
            "200",
            "--max-rate",
            "500",
            "--max-steps",
            "3",
            "--refine",
            "0",
            "--step-warmup",
            "0.2s",
            "--step-duration",
            "0.6s",
            "--room-prefix",
            "s",
        ],
    );
    check_rows(&md, &["WebSocket message"]);
    assert!(md.contains("breaking point **"), "no breaking point:\n{md}");
    assert!(md.contains("Max RPS before degradation: "));
    for f in [
        "stress-relay.roomcore.svg",
        "stress-relay.roomcore.ws_message.hgrm",
        "relay.roomcore.ws_message.hgrm",
        "http.roomcore.http.hgrm",
    ] {
        assert!(out.0.join(f).exists(), "{f} missing");
    }

    let base = format!("http://127.0.0.1:{port}");
    let md = run(
        &["scores"],
        &base,
        &[
            "--rate",
            "200",
            "--connections",
            "4",
            "--token-rate",
            "500",
            "--warmup",
            "0.3s",
            "--duration",
            "1s",
        ],
    );
    check_rows(&md, &["`POST /api/auth/*`"]);
    let j = json(&out.0, "scores.roomcore");
    let c = &j["counts"];
    assert!(c["status_2xx"].as_u64().unwrap() >= 150, "{j}");
    assert_eq!(c["status_2xx"], c["responses"], "{j}");
    assert_eq!(c["errors"], 0, "{j}");
    assert_eq!(c["auth_requests"], 4, "{j}");

    let game_ws = format!("ws://127.0.0.1:{port}/ws");
    let md = run(
        &["chess"],
        &game_ws,
        &[
            "--games",
            "6",
            "--rate",
            "150",
            "--plies",
            "12",
            "--token-rate",
            "1000",
            "--warmup",
            "0.3s",
            "--duration",
            "1.2s",
        ],
    );
    check_rows(
        &md,
        &[
            "`POST /api/auth/*`",
            "WebSocket connect",
            "WebSocket message",
        ],
    );
    let j = json(&out.0, "chess.roomcore");
    let c = &j["counts"];
    assert!(c["deliveries"].as_u64().unwrap() >= 150, "{j}");
    assert_eq!(c["deliveries"], c["sends"], "{j}");
    assert_eq!(c["games"], 6, "{j}");
    assert!(c["games_restarted"].as_u64().unwrap() >= 6, "{j}");
    assert_eq!(c["errors"], 0, "{j}");
    assert_eq!(c["mismatched"], 0, "{j}");
    assert!(out.0.join("chess.roomcore.chess_move.hgrm").exists());

    let md = run(
        &["matchmaking"],
        &game_ws,
        &[
            "--players",
            "40",
            "--rate",
            "60",
            "--token-rate",
            "1000",
            "--warmup",
            "0.3s",
            "--duration",
            "1.2s",
        ],
    );
    check_rows(&md, &["`POST /api/auth/*`", "WebSocket connect"]);
    let j = json(&out.0, "matchmaking.roomcore");
    let c = &j["counts"];
    let (sends, matched) = (
        c["sends"].as_u64().unwrap(),
        c["deliveries"].as_u64().unwrap(),
    );
    assert!(sends >= 60 && matched + 1 >= sends, "{j}");
    assert_eq!(c["errors"], 0, "{j}");
    let ttm = j["latencies"][0]["summary"]["count"].as_u64().unwrap();
    assert_eq!(ttm, matched, "{j}");

    let md = bench(&["report", outs]);
    check_rows(
        &md,
        &[
            "`GET /health`",
            "`POST /api/auth/*`",
            "WebSocket connect",
            "WebSocket message",
        ],
    );
    assert!(md.contains("concurrent games (chess)"), "{md}");
    assert!(out.0.join("report.json").exists());
    assert!(out.0.join("compare.relay.ws_message.svg").exists());
    assert!(
        t0.elapsed() < Duration::from_secs(25),
        "smoke took {:?}",
        t0.elapsed()
    );
}

#[test]
fn calibrate_measures_and_rejects_bad_cpus() {
    let dir = std::env::temp_dir().join(format!("rcb-cal-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("calibration.json");
    let md = bench(&[
        "calibrate",
        "--iterations",
        "300",
        "--sleep-us",
        "40",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(
        md.contains("| measurement (300 iterations) | result |"),
        "{md}"
    );
    assert!(md.contains("timed sleep of 40 µs"), "{md}");
    let j: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(j["iterations"], 300, "{j}");
    assert_eq!(j["sleep_us"], 40, "{j}");
    for k in [
        "syscall_ns",
        "sleep_cpu_us",
        "wake_round_trip_us",
        "wake_cpu_us",
    ] {
        assert!(j[k].as_f64().unwrap() > 0.0, "{k}: {j}");
    }
    // the calibration file does not pass for a run in a results directory
    assert!(roomcore_bench::report::json::load(&[&dir])
        .unwrap()
        .is_empty());

    let bad = Command::new(env!("CARGO_BIN_EXE_roomcore-bench"))
        .args(["calibrate", "--cpus", "zero,1"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("is not a CPU number"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

/// Samples in a run's `send_lag` series.
fn send_lag_count(j: &serde_json::Value) -> serde_json::Value {
    j["latencies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["metric"] == "send_lag")
        .unwrap_or_else(|| panic!("no send_lag series: {j}"))["summary"]["count"]
        .clone()
}

/// The whole body of a GET (Connection: close).
fn http_body(port: u16, path: &str) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

fn handoffs(port: u16) -> u64 {
    let m = http_body(port, "/metrics");
    let line = m
        .lines()
        .find(|l| l.starts_with("roomcore_socket_handoffs_total"))
        .unwrap_or_else(|| panic!("no hand-off counter in /metrics:\n{m}"));
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// `--placement owner` lands every member on its room's shard (no socket is handed over);
/// `--placement elsewhere` lands every one on another shard (each is handed to the owner).
#[test]
fn placement_puts_members_on_or_off_their_rooms_shard() {
    let server = start_server();
    let dir = TempDir::new("placement");
    let target = format!("ws://127.0.0.1:{}/ws/relay/{{room}}", server.port);
    let out = dir.0.to_str().unwrap();
    // A socket on an unwanted shard is closed by the load generator after its 101, by which
    // time the server may already have handed it to the owner: those hand-offs are of the
    // redialled sockets, never of a member that stayed.
    let run = |placement: &str, prefix: &str| -> u64 {
        bench(&[
            "relay",
            "--target",
            &target,
            "--rooms",
            "10",
            "--members",
            "4",
            "--rate",
            "200",
            "--warmup",
            "0s",
            "--duration",
            "1s",
            "--room-prefix",
            prefix,
            "--placement",
            placement,
            "--server-shards",
            "2",
            "--name",
            placement,
            "--out",
            out,
        ]);
        let j = json(&dir.0, &format!("{placement}.server"));
        let c = &j["counts"];
        assert_eq!(c["conn_ok"], 40, "{c}");
        assert_eq!(c["errors"], 0, "{c}");
        assert!(c["deliveries"].as_u64().unwrap() > 0, "{c}");
        // 40 sockets spread by the kernel over 2 shards: some landed on the wrong one.
        let misplaced = c["pool"]["misplaced"].as_u64().unwrap();
        assert!(misplaced > 0, "{c}");
        misplaced
    };
    let before = handoffs(server.port);
    let redialled = run("owner", "po");
    let owner_handoffs = handoffs(server.port) - before;
    assert!(
        owner_handoffs <= redialled,
        "{owner_handoffs} hand-offs for {redialled} redialled sockets: a member was handed over"
    );
    let before = handoffs(server.port);
    run("elsewhere", "pe");
    // Every member that stayed was accepted elsewhere and handed over; the redialled ones
    // were accepted by the owner and never were.
    assert_eq!(
        handoffs(server.port) - before,
        40,
        "not every member was handed over"
    );
    // Elsewhere needs a second shard to be elsewhere from.
    let bad = Command::new(env!("CARGO_BIN_EXE_roomcore-bench"))
        .args(["relay", "--target", &target, "--placement", "elsewhere"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--server-shards of 2 or more"));
}
