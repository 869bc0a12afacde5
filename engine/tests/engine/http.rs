//! HTTP/1.1 behaviour: probes, keep-alive, pipelining, limits, slowloris.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use crate::common::{read_responses, Server};

#[test]
fn probes_answer_json() {
    let s = Server::start(&[]);
    for p in ["/live", "/livez"] {
        assert_eq!(s.get(p), (200, r#"{"status":"ok"}"#.to_string()));
    }
    for p in ["/ready", "/readyz"] {
        assert_eq!(s.get(p), (200, r#"{"status":"ready"}"#.to_string()));
    }
    for p in ["/health", "/healthz"] {
        let (st, body) = s.get(p);
        assert_eq!(st, 200);
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["status"], "ok");
        assert_eq!(v["shards"], 2);
        assert_eq!(v["shards_reporting"], 2);
        assert_eq!(v["version"], env!("CARGO_PKG_VERSION"));
        assert!(v["uptime_secs"].is_u64());
        assert!(v["connections"].as_u64().unwrap() >= 1);
        assert!(v["rooms"].is_u64());
    }
}

#[test]
fn unknown_path_404_wrong_method_405() {
    let s = Server::start(&[]);
    let r = s.request("GET", "/nope", &[], b"");
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["error"], "no such endpoint");
    let r = s.request("POST", "/health", &[], b"x");
    assert_eq!(r.status, 405);
    assert_eq!(r.header("Allow"), Some("GET, HEAD"));
    assert!(r.json()["error"].is_string());
    let r = s.request("DELETE", "/ready", &[], b"");
    assert_eq!(r.status, 405);
}

#[test]
fn head_over_8k_is_431_body_over_16k_is_413_garbage_is_400() {
    let s = Server::start(&[]);
    let r = s.request("GET", "/live", &[("X-Big", &"a".repeat(9000))], b"");
    assert_eq!(r.status, 431);
    assert!(r.json()["error"].is_string());
    assert_eq!(r.header("Connection"), Some("close"));

    let mut c = s.connect();
    write!(
        c,
        "POST /api/scores HTTP/1.1\r\nHost: t\r\nContent-Length: 17000\r\n\r\n"
    )
    .unwrap();
    let r = &read_responses(&mut c, 1)[0];
    assert_eq!(r.status, 413);
    assert!(r.json()["error"].as_str().unwrap().contains("too large"));

    for garbage in [
        &b"HELLO THERE\r\n\r\n"[..],
        b"GET /live HTTP/1.1\r\nContent-Length: abc\r\n\r\n",
        b"GET /live HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"\x00\x01\x02\r\n\r\n",
    ] {
        let mut c = s.connect();
        c.write_all(garbage).unwrap();
        let r = &read_responses(&mut c, 1)[0];
        assert_eq!(r.status, 400, "{:?}", String::from_utf8_lossy(garbage));
        assert!(r.json()["error"].is_string());
        // ...and the server closes that connection.
        let mut rest = Vec::new();
        assert_eq!(c.read_to_end(&mut rest).unwrap_or(0), 0);
    }
    assert_eq!(s.get("/live").0, 200, "server survives bad input");
}

#[test]
fn keep_alive_and_three_pipelined_requests_in_one_write() {
    let s = Server::start(&[]);
    let mut c = s.connect();
    c.write_all(b"GET /live HTTP/1.1\r\nHost: t\r\n\r\nGET /nope HTTP/1.1\r\nHost: t\r\n\r\nGET /ready HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let rs = read_responses(&mut c, 3);
    assert_eq!(rs[0].status, 200);
    assert_eq!(rs[0].body, r#"{"status":"ok"}"#);
    assert_eq!(rs[1].status, 404);
    assert_eq!(rs[2].status, 200);
    assert_eq!(rs[2].body, r#"{"status":"ready"}"#);
    // Same connection stays usable; HEAD has no body.
    c.write_all(b"HEAD /live HTTP/1.1\r\nHost: t\r\n\r\nGET /health HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&raw).contains("\"status\":\"ok\"") {
        let n = c.read(&mut buf).unwrap();
        assert!(n > 0);
        raw.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&raw);
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
    let second = text
        .find("HTTP/1.1 200 OK")
        .and_then(|_| text[1..].find("HTTP/1.1 200 OK"));
    assert!(second.is_some(), "HEAD response has no body: {text}");
    // A body split across writes is waited for.
    c.write_all(b"POST /nope HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n\r\nab")
        .unwrap();
    std::thread::sleep(Duration::from_millis(50));
    c.write_all(b"cd").unwrap();
    assert_eq!(read_responses(&mut c, 1)[0].status, 404);
    // Connection: close is honoured.
    c.write_all(b"GET /live HTTP/1.1\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut rest = Vec::new();
    c.read_to_end(&mut rest).unwrap();
    assert!(String::from_utf8_lossy(&rest).contains("Connection: close"));
}

#[test]
fn slowloris_is_dropped_while_others_are_served() {
    let s = Server::start(&["--http-head-timeout-ms", "500"]);
    let mut slow = s.connect();
    slow.write_all(b"GET /health HTTP/1.1\r\nHost: t\r\n")
        .unwrap();
    let started = Instant::now();
    // Others are served meanwhile.
    for _ in 0..5 {
        assert_eq!(s.get("/health").0, 200);
    }
    // Trickle one more header line: it does not extend the deadline.
    std::thread::sleep(Duration::from_millis(200));
    let _ = slow.write_all(b"X-A: b\r\n");
    let mut buf = [0u8; 64];
    let n = slow.read(&mut buf).unwrap_or(0);
    assert_eq!(
        n,
        0,
        "slow client got {:?}",
        String::from_utf8_lossy(&buf[..n])
    );
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(400),
        "dropped too early: {waited:?}"
    );
    assert!(
        waited < Duration::from_secs(5),
        "dropped too late: {waited:?}"
    );
    assert_eq!(s.get("/health").0, 200);
}

#[test]
fn expect_100_continue_gets_continue_before_the_body_and_other_expectations_417() {
    let s = Server::start(&[]);
    let read_some = |c: &mut std::net::TcpStream| {
        let mut buf = [0u8; 4096];
        let n = c.read(&mut buf).expect("an answer within the timeout");
        String::from_utf8_lossy(&buf[..n]).to_string()
    };
    // The client waits for 100 Continue before it sends the body (curl, libcurl, .NET do).
    let mut c = s.connect();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let body = br#"{"board":"e4"}"#;
    write!(
        c,
        "PUT /api/rooms/expect-1/state HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nExpect: 100-continue\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .unwrap();
    let t0 = Instant::now();
    assert_eq!(read_some(&mut c), "HTTP/1.1 100 Continue\r\n\r\n");
    assert!(t0.elapsed() < Duration::from_secs(1), "{:?}", t0.elapsed());
    c.write_all(body).unwrap();
    let r = read_responses(&mut c, 1).remove(0);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["version"], 1);
    // Same connection, body sent with the head at once: no 100, just the answer.
    write!(
        c,
        "PUT /api/rooms/expect-1/state HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .unwrap();
    c.write_all(body).unwrap();
    let r = read_responses(&mut c, 1).remove(0);
    assert_eq!((r.status, r.json()["version"].as_u64()), (200, Some(2)));
    // A body over the limit is refused at once instead of continued.
    let mut c = s.connect();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    c.write_all(b"PUT /api/rooms/expect-2/state HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 99999999\r\n\r\n")
        .unwrap();
    assert!(read_some(&mut c).starts_with("HTTP/1.1 413 "));
    // Any other expectation: 417 with a JSON error.
    let mut c = s.connect();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    c.write_all(b"POST /api/auth/guest HTTP/1.1\r\nHost: t\r\nExpect: 200-ok\r\nContent-Length: 2\r\n\r\n{}")
        .unwrap();
    let r = read_responses(&mut c, 1).remove(0);
    assert_eq!(r.status, 417);
    assert_eq!(r.json()["error"], "only Expect: 100-continue is supported");
}

#[test]
fn absolute_form_request_targets_are_served() {
    let s = Server::start(&[]);
    let mut c = s.connect();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    c.write_all(
        b"GET http://roomcore.example:8080/health HTTP/1.1\r\nHost: roomcore.example\r\n\r\nGET https://roomcore.example/nope HTTP/1.1\r\nHost: roomcore.example\r\n\r\n",
    )
    .unwrap();
    let r = read_responses(&mut c, 2);
    assert_eq!(r[0].status, 200);
    assert_eq!(r[0].json()["status"], "ok");
    assert_eq!(r[1].status, 404);
}

#[test]
fn http_1_0_keep_alive_is_confirmed_and_plain_1_0_is_closed() {
    let s = Server::start(&[]);
    // keep-alive asked for: confirmed, and the connection serves a second request
    let mut c = s.connect();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let req = b"GET /health HTTP/1.0\r\nConnection: keep-alive\r\n\r\n";
    c.write_all(req).unwrap();
    let r = read_responses(&mut c, 1).remove(0);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Connection"), Some("keep-alive"));
    c.write_all(req).unwrap();
    assert_eq!(read_responses(&mut c, 1)[0].status, 200);
    // plain HTTP/1.0: answered, then closed
    let mut c = s.connect();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    c.write_all(b"GET /health HTTP/1.0\r\n\r\n").unwrap();
    let mut all = Vec::new();
    c.read_to_end(&mut all).unwrap();
    let text = String::from_utf8_lossy(&all);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.contains("Connection: close"), "{text}");
}
