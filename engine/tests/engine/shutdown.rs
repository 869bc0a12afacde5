//! Graceful shutdown on SIGTERM: notice + 1001 to WebSockets, /ready 503
//! during the drain, exit 0 within the drain window.

use std::io::Write;
use std::time::{Duration, Instant};

use tungstenite::Message;

use crate::common::{read_responses, recv_close, Server};

#[test]
fn sigterm_drains_and_exits_zero() {
    let mut s = Server::start(&["--shutdown-drain-secs", "5"]);
    let mut a = s.ws("/ws/relay/drain-a");
    let mut b = s.ws("/ws/relay/drain-b");
    let mut probe = s.connect();
    probe
        .write_all(b"GET /ready HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    assert_eq!(read_responses(&mut probe, 1)[0].status, 200);

    let t0 = Instant::now();
    s.signal(libc::SIGTERM);

    // /ready turns 503 on an already-open keep-alive connection (the signal
    // arrives asynchronously: poll briefly).
    let r = loop {
        probe
            .write_all(b"GET /ready HTTP/1.1\r\nHost: t\r\n\r\n")
            .unwrap();
        let r = read_responses(&mut probe, 1).remove(0);
        if r.status != 200 || t0.elapsed() > Duration::from_secs(2) {
            break r;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    assert_eq!(r.status, 503, "{}", r.body);
    assert_eq!(r.json()["error"], "draining");

    for ws in [&mut a, &mut b] {
        let notice = loop {
            match ws.read().expect("notice before close") {
                Message::Text(t) => break t.to_string(),
                Message::Close(c) => panic!("close before notice: {c:?}"),
                _ => {}
            }
        };
        let v: serde_json::Value = serde_json::from_str(&notice).unwrap();
        assert_eq!(v["type"], "server_shutdown");
        assert_eq!(recv_close(ws), Some(1001));
    }
    let code = s.wait_exit(Duration::from_secs(7));
    assert_eq!(code, Some(0), "exit code");
    assert!(
        t0.elapsed() < Duration::from_secs(6),
        "took {:?}",
        t0.elapsed()
    );
}

#[test]
fn drain_deadline_force_closes_stuck_clients() {
    let mut s = Server::start(&[
        "--shutdown-drain-secs",
        "1",
        "--ws-close-timeout-ms",
        "5000",
    ]);
    // A raw socket that completes the handshake and then never answers.
    let mut raw = s.connect();
    raw.write_all(b"GET /ws/relay/stuck HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n").unwrap();
    let mut buf = [0u8; 512];
    let _ = std::io::Read::read(&mut raw, &mut buf).unwrap();
    let t0 = Instant::now();
    s.signal(libc::SIGTERM);
    assert_eq!(s.wait_exit(Duration::from_secs(5)), Some(0));
    let took = t0.elapsed();
    assert!(
        took >= Duration::from_millis(900),
        "left before the drain window: {took:?}"
    );
    assert!(took < Duration::from_secs(4), "took {took:?}");
}
