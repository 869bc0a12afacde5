//! Chaos faults marked on their spans; caught panics and 5xx answers as exception events and
//! error reports at a Sentry stand-in.

use serde_json::json;
use tungstenite::Message;

use crate::collector::{Collector, Mode};
use crate::common::player::Player;
use crate::sentry::Sentry;
use crate::traced;

const PANIC: &str = "__roomcore_test_panic__";

#[test]
fn chaos_faults_are_marked_on_their_spans() {
    let col = Collector::start(Mode::Accept);
    let s = traced(&col, &[("CHAOS_ERROR_RATE", "1")]);
    let r = s.request(
        "GET",
        "/api/leaderboard?game=x",
        &[("X-Request-Id", "chaos-1")],
        b"",
    );
    assert_eq!((r.status, r.header("X-Chaos")), (500, Some("error")));
    let span = col.wait_span("GET /api/leaderboard*", |s| {
        s.attr("http.request.header.x-request-id") == Some("chaos-1")
    });
    assert_eq!(span.attr("chaos.injected"), Some("true"));
    assert_eq!(span.attr("chaos.type"), Some("error"));
    assert_eq!(span.status, 2, "a 500 is an error span");
    let (_, ex) = span
        .events
        .iter()
        .find(|(n, _)| n == "exception")
        .expect("an exception event for the 500");
    assert_eq!(
        ex.get("exception.type").map(String::as_str),
        Some("HTTP 500")
    );
    assert_eq!(
        ex.get("exception.message").map(String::as_str),
        Some("chaos: injected failure")
    );
    let (_, ev) = span
        .events
        .iter()
        .find(|(n, _)| n == "chaos: injected error")
        .expect("the chaos event");
    assert_eq!(ev.get("chaos.type").map(String::as_str), Some("error"));
    // Probes are never failed on purpose, and their spans say nothing of chaos.
    assert_eq!(s.get("/health").0, 200);

    // A relay message dropped on purpose marks its session's span (half the upgrades and
    // messages fail here: retry until one of each went through and was dropped).
    let col3 = Collector::start(Mode::Accept);
    let s3 = traced(&col3, &[("CHAOS_ERROR_RATE", "0.5")]);
    let mut ws = loop {
        if let Ok((ws, _)) = tungstenite::connect(s3.ws_url("/ws/relay/chaos-room")) {
            break ws;
        }
    };
    if let tungstenite::stream::MaybeTlsStream::Plain(t) = ws.get_ref() {
        t.set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
    }
    // Alone in the room: a message that goes through reaches nobody, a dropped one is
    // answered with a notice (20 messages: all pass with probability 2^-20).
    for _ in 0..20 {
        ws.send(Message::text("hi")).unwrap();
    }
    loop {
        match ws.read().expect("a chaos notice") {
            Message::Text(t) if t.contains("chaos_injected") => break,
            _ => {}
        }
    }
    ws.close(None).unwrap();
    while ws.read().is_ok() {}
    let session = col3.wait_span("WS /ws/relay/{room}", |s| {
        s.attr("roomcore.room") == Some("chaos-room")
    });
    assert_eq!(session.attr("chaos.injected"), Some("true"));
    assert_eq!(session.attr("chaos.type"), Some("error"));

    // Injected latency.
    let col2 = Collector::start(Mode::Accept);
    let s2 = traced(&col2, &[("CHAOS_LATENCY_MS", "30")]);
    let r = s2.request(
        "GET",
        "/api/leaderboard?game=x",
        &[("X-Request-Id", "chaos-2")],
        b"",
    );
    assert_eq!(r.status, 200);
    let span = col2.wait_span("GET /api/leaderboard*", |s| {
        s.attr("http.request.header.x-request-id") == Some("chaos-2")
    });
    assert_eq!(span.attr("chaos.injected"), Some("true"));
    assert_eq!(span.attr("chaos.type"), Some("latency"));
}

fn exception(span: &crate::collector::Span) -> std::collections::HashMap<String, String> {
    span.events
        .iter()
        .find(|(n, _)| n == "exception")
        .map(|(_, a)| a.clone())
        .unwrap_or_else(|| panic!("no exception event on {}: {:?}", span.name, span.events))
}

#[test]
fn a_panic_in_a_room_is_an_exception_event_and_an_error_report() {
    let col = Collector::start(Mode::Accept);
    let sentry = Sentry::start();
    let dsn = sentry.dsn();
    let (s, log) = crate::traced_with_log(
        &col,
        &[
            ("SENTRY_DSN", &dsn),
            ("SENTRY_ENVIRONMENT", "ci"),
            ("SENTRY_RELEASE", "rc-test"),
        ],
    );
    let mut ws = s.ws("/ws/relay/boom");
    ws.send(Message::text(PANIC)).unwrap();
    assert_eq!(crate::common::recv_close(&mut ws), Some(1011));
    let session = col.wait_span("WS /ws/relay/{room}", |s| {
        s.attr("roomcore.room") == Some("boom")
    });
    let ex = exception(&session);
    assert_eq!(ex.get("exception.type").map(String::as_str), Some("panic"));
    assert!(ex["exception.message"].contains("test hook"), "{ex:?}");
    assert!(!ex["exception.stacktrace"].is_empty());
    assert_eq!(session.status, 2);
    assert_eq!(session.attr("roomcore.ws.close_reason"), Some("crash"));
    assert_eq!(session.attr("websocket.close.code"), Some("1011"));
    // The room's log lines name the session's trace.
    let lines = crate::json_lines(&log);
    let closed = lines
        .iter()
        .find(|l| l["msg"] == "panic in room handler: closing the room")
        .unwrap_or_else(|| panic!("{lines:?}"));
    assert_eq!(closed["trace_id"], session.trace_id.as_str(), "{closed}");
    assert_eq!(closed["span_id"], session.span_id.as_str(), "{closed}");

    let ev = sentry.wait_event("for the room panic", |e| e["tags"]["room"] == "boom");
    assert_eq!(ev["exception"]["values"][0]["type"], "panic");
    assert!(ev["exception"]["values"][0]["value"]
        .as_str()
        .unwrap()
        .contains("test hook"));
    let frames = ev["exception"]["values"][0]["stacktrace"]["frames"]
        .as_array()
        .expect("a stack trace");
    assert!(!frames.is_empty());
    assert_eq!(ev["tags"]["crash.scope"], "room");
    assert_eq!(ev["tags"]["trace_id"], session.trace_id.as_str());
    assert_eq!(
        ev["contexts"]["trace"]["trace_id"],
        session.trace_id.as_str()
    );
    assert_eq!(ev["release"], "rc-test");
    assert_eq!(ev["environment"], "ci");
    assert!(
        sentry.paths().iter().all(|p| p == "/api/42/envelope/"),
        "{:?}",
        sentry.paths()
    );
    // The shard goes on.
    assert_eq!(s.get("/health").0, 200);
    let m = s.get("/metrics").1;
    assert!(
        m.contains("roomcore_exceptions_total{kind=\"panic\"} 1"),
        "{m}"
    );
}

#[test]
fn a_panic_in_a_game_session_is_reported_with_its_user() {
    let col = Collector::start(Mode::Accept);
    let sentry = Sentry::start();
    let dsn = sentry.dsn();
    let s = traced(&col, &[("SENTRY_DSN", &dsn)]);
    let mut c = s.client();
    let mut p = Player::on_shard(&s, &mut c, None, None);
    p.send_raw(PANIC);
    // The connection's task ends (crash isolation closes it; the 1011 may not get out first).
    assert!(matches!(
        crate::common::recv_close(&mut p.ws),
        None | Some(1011)
    ));
    let uid = p.id.to_string();
    let msg = col.wait_span("game message", |s| s.attr("user.id") == Some(uid.as_str()));
    let ex = exception(&msg);
    assert_eq!(ex.get("exception.type").map(String::as_str), Some("panic"));
    let ev = sentry.wait_event("for the session panic", |e| e["user"]["id"] == uid.as_str());
    assert_eq!(ev["tags"]["crash.scope"], "connection");
    assert_eq!(ev["tags"]["trace_id"], msg.trace_id.as_str());
    assert_eq!(
        ev["release"],
        concat!("roomcore@", env!("CARGO_PKG_VERSION"))
    );
    assert_eq!(ev["environment"], "production");
    // Another session on the same server still plays.
    let mut q = Player::on_shard(&s, &mut c, None, None);
    assert_eq!(q.req(json!({"type": "ping"}))["type"], "pong");
}

#[test]
fn every_5xx_is_an_error_report() {
    let sentry = Sentry::start();
    let dsn = sentry.dsn();
    // Error reports without an OTLP endpoint: Sentry alone.
    let s = crate::common::Server::start_in(
        &crate::common::temp_dir("sentry"),
        &[],
        &[("SENTRY_DSN", &dsn), ("CHAOS_ERROR_RATE", "1")],
    );
    let r = s.request("POST", "/api/scores", &[("X-Request-Id", "five-1")], b"{}");
    assert_eq!(r.status, 500);
    let ev = sentry.wait_event("for the 500", |e| e["tags"]["request_id"] == "five-1");
    assert_eq!(ev["exception"]["values"][0]["type"], "HTTP 500");
    assert_eq!(
        ev["exception"]["values"][0]["value"],
        "chaos: injected failure"
    );
    assert_eq!(ev["tags"]["http.status_code"], "500");
    assert_eq!(ev["tags"]["endpoint"], "/api/scores*");
    assert_eq!(ev["tags"]["kind"], "server_error");
    assert!(
        ev["tags"].get("client").is_none(),
        "no client IP in reports: {ev}"
    );
    assert_eq!(
        ev["tags"]["trace_id"].as_str().map(str::len),
        Some(32),
        "reports name their trace even with no collector: {ev}"
    );
    assert!(r
        .header("traceresponse")
        .unwrap()
        .contains(ev["tags"]["trace_id"].as_str().unwrap()));
}
