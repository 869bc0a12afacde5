//! The Autobahn|Testsuite gate: the fuzzing-client cases 1.* to 7.* and 10.* (framing, pings,
//! reserved bits and opcodes, fragmentation, UTF-8, close handling, auto-fragmentation), run by
//! `kosoku` against the real `roomcore` binary's test-only echo endpoint (`--test-hooks`,
//! `GET /ws/_test/echo`), which shares its decoder, limits, outbox and writer with the relay
//! and game sessions.
//!
//! Every case's `behavior` and `behaviorClose` must equal `expected.json` beside this file,
//! and may only be `OK` or `INFORMATIONAL`: NON-STRICT (e.g. UTF-8 that is not refused as
//! soon as it arrives, 6.4.x), FAILED, UNIMPLEMENTED and ERROR all fail the test, which lists
//! every case that differs. The test fails (never skips) when kosoku is missing or is not the
//! pinned version; `scripts/test` installs it. `AUTOBAHN_UPDATE_EXPECTED=1` rewrites the
//! expected file from a run in which every case is OK or INFORMATIONAL (after a kosoku bump).
//!
//! Limits: message-rate limits are off (as in every engine test), and the message limit stays
//! at its default of 65536 bytes, which is exactly the largest message of these cases (1.1.7,
//! 1.1.8, 1.2.7, 1.2.8, 10.1.1); 7.1.6 sends 256 KiB and is informational (we close 1009).

#[path = "../common/mod.rs"]
mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{temp_dir, Server};
use serde_json::Value;

/// The kosoku release the expected results were recorded with (`scripts/test` installs it).
const KOSOKU_VERSION: &str = "0.1.0";
/// The case groups of the gate (9.*, big messages, and 12.*/13.*, compression, are not run).
const CASES: [&str; 8] = ["1.*", "2.*", "3.*", "4.*", "5.*", "6.*", "7.*", "10.*"];
/// The whole run takes about 8 s; past this kosoku is killed.
const RUN_LIMIT: Duration = Duration::from_secs(100);
const ACCEPTED: [&str; 2] = ["OK", "INFORMATIONAL"];

/// The kosoku command: `$KOSOKU`, else the console script of the `python3` that has it (pip
/// puts it beside the interpreter, which need not be on `PATH`), else `kosoku`.
fn kosoku() -> PathBuf {
    if let Some(k) = std::env::var_os("KOSOKU") {
        return k.into();
    }
    Command::new("python3")
        .args([
            "-c",
            "import sysconfig; print(sysconfig.get_path('scripts'))",
        ])
        .output()
        .ok()
        .map(|o| Path::new(String::from_utf8_lossy(&o.stdout).trim()).join("kosoku"))
        .filter(|p| p.is_file())
        .unwrap_or_else(|| "kosoku".into())
}

/// Fail unless the pinned kosoku is installed.
fn check_kosoku() {
    let help = Command::new(kosoku()).arg("-h").output();
    assert!(
        help.is_ok_and(|o| o.status.success()),
        "kosoku is not installed (scripts/test installs it: pip install kosoku=={KOSOKU_VERSION})"
    );
    let version = Command::new("python3")
        .args([
            "-c",
            "import importlib.metadata as m; print(m.version('kosoku'))",
        ])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    assert_eq!(
        version, KOSOKU_VERSION,
        "kosoku {KOSOKU_VERSION} is the version expected.json was recorded with \
         (pip install kosoku=={KOSOKU_VERSION})"
    );
}

/// Run the cases against `url`, writing the report into `outdir`.
fn run_kosoku(url: &str, outdir: &Path) {
    let mut cmd = Command::new(kosoku());
    cmd.arg(url).arg("-o").arg(outdir);
    for c in CASES {
        cmd.args(["-i", c]);
    }
    let log = outdir.with_extension("log");
    let file = std::fs::File::create(&log).unwrap();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(file.try_clone().unwrap())
        .stderr(file)
        .spawn()
        .expect("start kosoku");
    let deadline = Instant::now() + RUN_LIMIT;
    // kosoku exits 1 when a case fails by its own (laxer) measure: the report decides.
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "kosoku ran over {RUN_LIMIT:?}; its output is in {}",
                log.display()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        outdir.join("index.json").exists(),
        "kosoku wrote no report:\n{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

/// Numeric order of case ids (1.2.10 after 1.2.9).
fn case_key(id: &str) -> Vec<u32> {
    id.split('.').map(|p| p.parse().unwrap_or(0)).collect()
}

fn expected_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/autobahn/expected.json")
}

fn write_expected(report: &serde_json::Map<String, Value>) {
    let mut ids: Vec<&String> = report.keys().collect();
    ids.sort_by_key(|id| case_key(id));
    let lines: Vec<String> = ids
        .iter()
        .map(|id| {
            let r = &report[id.as_str()];
            format!(
                "  \"{id}\": {{\"behavior\": {}, \"behaviorClose\": {}}}",
                r["behavior"], r["behaviorClose"]
            )
        })
        .collect();
    std::fs::write(expected_path(), format!("{{\n{}\n}}\n", lines.join(",\n"))).unwrap();
}

#[test]
fn autobahn_cases_1_to_7_and_10_match_the_expected_results() {
    check_kosoku();
    let expected = read_json(&expected_path());
    let expected = expected.as_object().expect("expected.json is an object");
    for (id, e) in expected {
        for field in ["behavior", "behaviorClose"] {
            let v = e[field].as_str().unwrap_or_default();
            assert!(
                ACCEPTED.contains(&v),
                "expected.json: {id} {field} {v:?} (only OK or INFORMATIONAL may be expected)"
            );
        }
    }

    let server = Server::start_in(&temp_dir("autobahn"), &["--test-hooks=1"], &[]);
    let outdir = temp_dir("autobahn-report");
    let url = server.ws_url(engine::echo::PATH);
    let started = Instant::now();
    run_kosoku(&url, &outdir);
    eprintln!("kosoku ran in {:.1} s", started.elapsed().as_secs_f64());

    // index.json: {agent: {case id: {behavior, behaviorClose, remoteCloseCode, reportfile}}}.
    let index = read_json(&outdir.join("index.json"));
    let agents = index.as_object().expect("index.json is an object");
    assert_eq!(
        agents.len(),
        1,
        "one agent expected in the report: {agents:?}"
    );
    let report = agents.values().next().unwrap().as_object().unwrap();

    let mut ids: Vec<&String> = report.keys().chain(expected.keys()).collect();
    ids.sort_by_key(|id| case_key(id));
    ids.dedup();
    let mut wrong = BTreeMap::new();
    for id in ids {
        let (Some(got), Some(want)) = (report.get(id), expected.get(id)) else {
            let what = if report.contains_key(id) {
                "ran, but is not in expected.json"
            } else {
                "is in expected.json, but did not run"
            };
            wrong.insert(case_key(id), format!("{id}: {what}"));
            continue;
        };
        let field = |v: &Value, f: &str| v[f].as_str().unwrap_or("?").to_string();
        let (b, bc) = (field(got, "behavior"), field(got, "behaviorClose"));
        let ok = ACCEPTED.contains(&b.as_str()) && ACCEPTED.contains(&bc.as_str());
        if ok && b == field(want, "behavior") && bc == field(want, "behaviorClose") {
            continue;
        }
        let detail = read_json(&outdir.join(field(got, "reportfile")));
        wrong.insert(
            case_key(id),
            format!(
                "{id}: behavior {b}, behaviorClose {bc} (expected {}, {}); close code {} {:?}; {} {}",
                field(want, "behavior"),
                field(want, "behaviorClose"),
                got["remoteCloseCode"],
                detail["remoteCloseReason"],
                detail["result"].as_str().unwrap_or(""),
                detail["resultClose"].as_str().unwrap_or(""),
            ),
        );
    }
    let all_accepted = report.values().all(|r| {
        ["behavior", "behaviorClose"]
            .iter()
            .all(|f| ACCEPTED.contains(&r[*f].as_str().unwrap_or("")))
    });
    if std::env::var("AUTOBAHN_UPDATE_EXPECTED").is_ok_and(|v| v == "1") && all_accepted {
        write_expected(report);
        eprintln!("rewrote {}", expected_path().display());
        return;
    }
    assert!(
        wrong.is_empty(),
        "{} Autobahn case(s) differ from {} (reports in {}):\n{}",
        wrong.len(),
        expected_path().display(),
        outdir.display(),
        wrong.into_values().collect::<Vec<_>>().join("\n")
    );
    assert!(report.len() >= 240, "only {} cases ran", report.len());
}
