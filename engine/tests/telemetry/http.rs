//! HTTP requests: the span of a request continues the client's trace, and log lines written
//! inside it carry its trace id.

use crate::collector::{Collector, Mode};
use crate::common::Server;
use crate::{json_lines, traced, traced_with_log, traceparent};

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT: &str = "00f067aa0ba902b7";

#[test]
fn a_request_with_a_traceparent_continues_its_trace() {
    let col = Collector::start(Mode::Accept);
    let s = traced(
        &col,
        &[("OTEL_RESOURCE_ATTRIBUTES", "deployment.region=eu-1")],
    );
    let tp = traceparent(TRACE, PARENT);
    let r = s.request(
        "GET",
        "/api/leaderboard?game=chess&limit=5",
        &[
            ("traceparent", &tp),
            ("tracestate", "vendor=x"),
            ("X-Request-Id", "trace-test-1"),
        ],
        b"",
    );
    assert_eq!(r.status, 200, "{}", r.body);
    // The answer names the request's trace and span (W3C traceresponse).
    let tr = r.header("traceresponse").expect("traceresponse header");
    let parts: Vec<&str> = tr.split('-').collect();
    assert_eq!((parts[0], parts[1], parts[3]), ("00", TRACE, "01"), "{tr}");

    let span = col.wait_span("GET /api/leaderboard*", |s| {
        s.attr("http.request.header.x-request-id") == Some("trace-test-1")
    });
    assert_eq!(span.trace_id, TRACE, "same trace id");
    assert_eq!(
        span.parent_span_id, PARENT,
        "the client's span is its parent"
    );
    assert_eq!(span.span_id, parts[2], "traceresponse names this span");
    assert_eq!(span.kind, 2, "a server span");
    assert_eq!(span.attr("http.request.method"), Some("GET"));
    assert_eq!(span.attr("http.route"), Some("/api/leaderboard*"));
    assert_eq!(span.attr("url.path"), Some("/api/leaderboard"));
    assert_eq!(span.attr("http.response.status_code"), Some("200"));
    assert_eq!(span.attr("client.address"), Some("127.0.0.1"));
    assert!(span.attr("network.peer.address").is_some());
    assert_eq!(
        span.resource.get("service.name").map(String::as_str),
        Some("roomcore")
    );
    assert_eq!(
        span.resource.get("deployment.region").map(String::as_str),
        Some("eu-1")
    );
    assert!(col
        .content_types()
        .iter()
        .all(|c| c == "application/x-protobuf"));

    // Without a traceparent a request starts a trace of its own; a malformed one is ignored.
    for (i, tp) in [None, Some("00-nothex-00f067aa0ba902b7-01")]
        .iter()
        .enumerate()
    {
        let id = format!("trace-test-own-{i}");
        let mut h = vec![("X-Request-Id", id.as_str())];
        if let Some(t) = tp {
            h.push(("traceparent", t));
        }
        let r = s.request("GET", "/nowhere", &h, b"");
        assert_eq!(r.status, 404);
        let span = col.wait_span("GET (not found)", |s| {
            s.attr("http.request.header.x-request-id") == Some(id.as_str())
        });
        assert_ne!(span.trace_id, TRACE);
        assert_eq!(span.parent_span_id, "", "a root span");
        assert_eq!(span.attr("http.response.status_code"), Some("404"));
        assert_ne!(span.status, 2, "a 4xx is not a server error");
        let tr = r.header("traceresponse").unwrap();
        assert!(tr.contains(&span.trace_id), "{tr}");
    }
}

#[test]
fn without_an_endpoint_nothing_is_traced() {
    let s = Server::start(&[]);
    let tp = traceparent(TRACE, PARENT);
    let r = s.request("GET", "/health", &[("traceparent", &tp)], b"");
    assert_eq!(r.status, 200);
    assert!(r.header("traceresponse").is_none(), "{:?}", r.headers);
    let m = s.get("/metrics").1;
    assert!(m.contains("roomcore_trace_spans_exported_total 0"), "{m}");
}

#[test]
fn log_lines_inside_a_request_carry_its_trace_id() {
    let col = Collector::start(Mode::Accept);
    // Every non-probe request fails on purpose: the server logs inside the request.
    let (s, log) = traced_with_log(&col, &[("CHAOS_ERROR_RATE", "1")]);
    let tp = traceparent(TRACE, PARENT);
    let r = s.request(
        "GET",
        "/api/leaderboard?game=chess",
        &[("traceparent", &tp), ("X-Request-Id", "log-test-1")],
        b"",
    );
    assert_eq!(r.status, 500);
    let span = col.wait_span("GET /api/leaderboard*", |s| {
        s.attr("http.request.header.x-request-id") == Some("log-test-1")
    });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let mut lines = Vec::new();
    while lines.len() < 2 && std::time::Instant::now() < deadline {
        lines.extend(
            json_lines(&log)
                .into_iter()
                .filter(|l| l["request_id"] == "log-test-1"),
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let msgs: Vec<&str> = lines.iter().filter_map(|l| l["msg"].as_str()).collect();
    assert!(msgs.contains(&"chaos: injected error"), "{lines:?}");
    assert!(msgs.contains(&"request failed"), "{lines:?}");
    for l in &lines {
        assert_eq!(l["trace_id"], TRACE, "{l}");
        assert_eq!(l["span_id"], span.span_id.as_str(), "{l}");
        assert_eq!(l["service"], "roomcore", "{l}");
        assert_eq!(l["endpoint"], "/api/leaderboard*", "{l}");
        assert_eq!(l["message"], l["msg"], "{l}");
    }
    let failed = lines.iter().find(|l| l["msg"] == "request failed").unwrap();
    assert_eq!(
        failed["error"]["message"], "chaos: injected failure",
        "{failed}"
    );
    let chaos = lines
        .iter()
        .find(|l| l["msg"] == "chaos: injected error")
        .unwrap();
    assert_eq!(chaos["context"]["client"], "127.0.0.1", "{chaos}");
}

#[test]
fn register_and_login_trace_the_password_hash_on_the_blocking_pool() {
    let col = Collector::start(Mode::Accept);
    let s = traced(
        &col,
        &[
            ("PASSWORD_HASH_MEMORY_KIB", "1024"),
            ("PASSWORD_HASH_ITERATIONS", "1"),
        ],
    );
    let mut c = s.client();
    let body = serde_json::json!({"username": "traced_ann", "password": "correct horse"});
    let r = c.post_json("/api/auth/register", None, &body).unwrap();
    assert_eq!(r.status, 201, "{}", r.body);
    let r = c.post_json("/api/auth/login", None, &body).unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    let id = r.json()["user"]["id"].as_i64().unwrap().to_string();
    for (op, hash_op) in [("auth.register", "hash"), ("auth.login", "verify")] {
        let auth = col.wait_span(op, |s| s.attr("user.name") == Some("traced_ann"));
        assert_eq!(auth.attr("user.id"), Some(id.as_str()), "{op}");
        let req = col.wait_span("POST /api/auth/*", |s| auth.child_of(s));
        assert_eq!(
            req.attr("http.response.status_code").map(|c| &c[..1]),
            Some("2")
        );
        let hash = col.wait_span("auth.password_hash", |s| s.child_of(&auth));
        assert_eq!(hash.attr("roomcore.password.op"), Some(hash_op), "{op}");
    }
    // The account lookup of the login is a storage command under it.
    let login = col.wait_span("auth.login", |_| true);
    col.wait_span("find_account", |s| s.child_of(&login));
}
