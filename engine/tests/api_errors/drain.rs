//! Answers during a SIGTERM drain (engine/src/router.rs): `/api/*` and WebSocket upgrades are
//! 503 "server is shutting down" and close the connection, `/live` stays 200.
//!
//! The accept loop stops when the drain begins, so every request is sent on a connection
//! opened (and used once) before the signal; idle connections get about a second once the
//! drain starts, and a WebSocket that never answers the close keeps the drain open until its
//! deadline.

use std::io::Write;
use std::time::{Duration, Instant};

use super::common::{upgrade_request, Client, HttpResponse, Server};
use super::{assert_error, read_one, start};

/// What a draining server answered on connections opened before SIGTERM.
struct Drained {
    api: HttpResponse,
    upgrade: HttpResponse,
    live: HttpResponse,
}

/// Start a server, hold a stuck WebSocket, SIGTERM it, wait until `/ready` shows the drain,
/// then send an API request, a `/ws` upgrade and `/live` on pre-opened connections.
fn drain_answers() -> Drained {
    let mut s: Server = start(
        "rc-apie-drain",
        &[
            "--shutdown-drain-secs",
            "3",
            "--ws-close-timeout-ms",
            "10000",
        ],
        &[],
    );
    // A relay WebSocket that never reads: it keeps the process draining until the deadline.
    let mut stuck = s.connect();
    stuck
        .write_all(&upgrade_request("/ws/relay/apie-stuck"))
        .unwrap();
    let mut buf = [0u8; 512];
    let n = std::io::Read::read(&mut stuck, &mut buf).unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 101"), "no 101");

    // One request each before the signal, so the server has accepted every connection.
    let mut conns: Vec<Client> = (0..4).map(|_| s.client()).collect();
    for c in &mut conns {
        let r = c.send("GET", "/live", &[], b"").unwrap();
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let mut live = conns.pop().unwrap();
    let mut upgrade = conns.pop().unwrap();
    let mut api = conns.pop().unwrap();
    let mut probe = conns.pop().unwrap();

    let t0 = Instant::now();
    s.signal(libc::SIGTERM);
    // The signal arrives asynchronously: poll /ready (200s keep the connection) until 503.
    let ready = loop {
        let r = probe.send("GET", "/ready", &[], b"").unwrap();
        if r.status != 200 || t0.elapsed() > Duration::from_secs(2) {
            break r;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    assert_eq!(ready.status, 503, "{}", ready.body);
    assert_eq!(ready.json()["error"], "draining");

    let api = api
        .send("GET", "/api/leaderboard?game=chess", &[], b"")
        .unwrap();
    let raw = upgrade_request("/ws");
    upgrade.stream.write_all(&raw).unwrap();
    let upgrade = read_one(&mut upgrade.stream);
    let live = live.send("GET", "/live", &[], b"").unwrap();

    assert_eq!(s.wait_exit(Duration::from_secs(6)), Some(0), "exit code");
    Drained { api, upgrade, live }
}

#[test]
fn a_draining_server_refuses_api_and_upgrades_but_stays_live() {
    let d = drain_answers();
    for r in [&d.api, &d.upgrade] {
        assert_error(r, 503, "server is shutting down");
        assert_eq!(r.header("Connection"), Some("close"), "{:?}", r.headers);
    }
    assert_eq!(d.live.status, 200, "{}", d.live.body);
    assert_eq!(d.live.json()["status"], "ok");
}

#[test]
fn draining_503s_carry_retry_after() {
    let d = drain_answers();
    for r in [&d.api, &d.upgrade] {
        assert_error(r, 503, "server is shutting down");
        assert!(r.header("Retry-After").is_some(), "{:?}", r.headers);
    }
}
