//! Parsing, precedence and error messages of the configuration tree.

use std::path::{Path, PathBuf};
use std::time::Duration;

use storage::Synchronous;

use super::{Config, Exit};

fn parse(a: &[&str]) -> Result<Config, String> {
    let args = std::iter::once("roomcore").chain(a.iter().copied());
    Config::parse_from(args, None).map_err(|e| match e {
        Exit::Info(s) | Exit::Invalid(s) => s,
    })
}

fn help() -> String {
    match Config::parse_from(["roomcore", "--help"], None) {
        Err(Exit::Info(s)) => s,
        other => panic!("--help: {other:?}"),
    }
}

#[test]
fn service_knobs_are_flags_and_the_last_one_wins() {
    let c = parse(&[
        "--storage-batch-max",
        "7",
        "--mm-window-max=300",
        "--storage-batch-max=9",
    ])
    .unwrap();
    assert_eq!(c.storage.batch_max, 9);
    assert_eq!(c.games.mm_window_max, 300.0);
    assert!(help().contains("--reconnect-grace-secs <RECONNECT_GRACE_SECS>"));
    // the token secret never becomes a flag
    let e = parse(&["--roomcore-token-secret", "x"]).unwrap_err();
    assert!(e.contains("unknown flag"), "{e}");
    let e = parse(&["--score-max"]).unwrap_err();
    assert!(e.contains("needs a value"), "{e}");
}

#[test]
fn help_lists_every_flag_with_its_variable_and_default() {
    let h = help();
    for needle in [
        "--listen <LISTEN_ADDR>",
        "[env: LISTEN_ADDR=]",
        "[default: 0.0.0.0:8080]",
        "--ws-max-msgs-per-sec <WS_MAX_MSGS_PER_SEC>",
        "--max-msgs-per-10s <MAX_MSGS_PER_10S>",
        "[env: STORAGE_BATCH_MAX=]",
        "[default: 512]",
        "ROOMCORE_TOKEN_SECRET",
    ] {
        assert!(h.contains(needle), "{needle} missing from:\n{h}");
    }
}

#[test]
fn defaults_run_on_a_laptop() {
    let c = parse(&[]).unwrap();
    assert_eq!(c.server.listen.port(), 8080);
    assert!(c.shards() >= 1);
    assert_eq!(c.server.data_dir, PathBuf::from("data"));
    assert_eq!(c.server.shutdown_drain, Duration::from_secs(15));
    assert_eq!(Config::default().shards(), c.shards());
}

#[test]
fn flags_override_env() {
    // Variables only this test reads; nextest runs each test in its own process.
    std::env::set_var("SHARDS", "3");
    std::env::set_var("WS_PING_INTERVAL_MS", "500");
    let c = parse(&["--shards", "2", "--listen=127.0.0.1:0"]);
    let from_env = parse(&[]);
    std::env::remove_var("SHARDS");
    std::env::remove_var("WS_PING_INTERVAL_MS");
    let c = c.unwrap();
    assert_eq!(c.shards(), 2);
    assert_eq!(c.ws.ping_interval, Duration::from_millis(500));
    assert_eq!(c.server.listen.port(), 0);
    assert_eq!(from_env.unwrap().shards(), 3);
}

#[test]
fn bad_values_are_clear_errors() {
    let e = parse(&["--shards", "x"]).unwrap_err();
    assert!(e.contains("--shards"), "{e}");
    assert!(e.contains("SHARDS"), "{e}");
    let e = parse(&["--nope"]).unwrap_err();
    assert!(e.contains("unknown flag"), "{e}");
    let e = parse(&["--shards"]).unwrap_err();
    assert!(e.contains("needs a value"), "{e}");
    let e = parse(&["--shards", "0"]).unwrap_err();
    assert!(e.contains("between"), "{e}");
    let e = parse(&["--pin-cores", "maybe"]).unwrap_err();
    assert!(e.contains("--pin-cores") && e.contains("PIN_CORES"), "{e}");
}

#[test]
fn boolean_flags_take_an_optional_value() {
    assert!(parse(&["--test-hooks"]).unwrap().server.test_hooks);
    assert!(!parse(&["--test-hooks", "false"]).unwrap().server.test_hooks);
    assert!(
        !parse(&["--pin-cores=off", "--test-hooks"])
            .unwrap()
            .server
            .pin_cores
    );
    assert!(!parse(&[]).unwrap().server.test_hooks);
}

#[test]
fn storage_defaults_and_overrides() {
    let c = parse(&["--data-dir", "d"]).unwrap();
    let st = c.storage.storage_config(&c.api, 2);
    assert_eq!(st.path, Path::new("d/roomcore.db"));
    assert_eq!(st.synchronous, Synchronous::Full);
    assert_eq!(st.subscribers, 2);
    assert_eq!(c.api.snapshot_interval, Duration::from_secs(10));
    let c = parse(&[
        "--storage-synchronous",
        "normal",
        "--storage-batch-max",
        "1",
    ])
    .unwrap();
    assert_eq!(c.storage.synchronous, Synchronous::Normal);
    assert_eq!(c.storage.batch_max, 1);
    let e = parse(&["--storage-synchronous", "off"]).unwrap_err();
    assert!(e.contains("STORAGE_SYNCHRONOUS"), "{e}");
    assert!(parse(&["--storage-queue-capacity", "0"]).is_err());
}

#[test]
fn game_defaults_and_errors() {
    let c = parse(&[]).unwrap();
    assert_eq!(c.games.grace_ms(), 30_000);
    assert_eq!(c.games.max_rooms, 10_000);
    assert_eq!(c.games.tick(), Duration::from_millis(100));
    assert_eq!(
        parse(&["--game-tick-ms", "1"]).unwrap().games.tick(),
        Duration::from_millis(10)
    );
    let e = parse(&["--max-rooms", "x"]).unwrap_err();
    assert!(e.contains("MAX_ROOMS"), "{e}");
    let e = parse(&["--max-rooms", "0"]).unwrap_err();
    assert!(e.contains("MAX_ROOMS"), "{e}");
}

#[test]
fn the_token_secret_comes_from_the_environment_only() {
    let c = Config::parse_from(["roomcore"], Some("s".repeat(40))).unwrap();
    assert_eq!(
        c.auth.token_secret.as_deref(),
        Some("s".repeat(40).as_str())
    );
    let c = Config::parse_from(["roomcore"], Some(String::new())).unwrap();
    assert_eq!(c.auth.token_secret, None);
}
