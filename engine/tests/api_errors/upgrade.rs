//! WebSocket upgrade refusals on the typed endpoint `/ws` (engine/src/ws/handshake.rs, origin
//! check in engine/src/router.rs and engine/src/security.rs), written by hand on raw sockets.

use super::{assert_error, raw_request, start};

const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

/// An upgrade request for `/ws` with `method` and the given header lines (each `Name: value`).
fn upgrade(method: &str, lines: &[&str]) -> Vec<u8> {
    let mut req = format!("{method} /ws HTTP/1.1\r\nHost: t\r\n");
    for l in lines {
        req.push_str(l);
        req.push_str("\r\n");
    }
    req.push_str("\r\n");
    req.into_bytes()
}

fn key_line() -> String {
    format!("Sec-WebSocket-Key: {KEY}")
}

#[test]
fn malformed_upgrades_on_ws_are_refused() {
    let s = start("rc-apie-ws", &[], &[]);
    let key = key_line();
    let full = [
        "Connection: Upgrade",
        "Upgrade: websocket",
        "Sec-WebSocket-Version: 13",
        key.as_str(),
    ];

    // Not GET.
    let mut post = full.to_vec();
    post.push("Content-Length: 0");
    let r = raw_request(&s, &upgrade("POST", &post));
    assert_error(&r, 405, "WebSocket upgrades use GET");
    assert_eq!(r.header("Allow"), Some("GET"));

    // A plain GET, or Upgrade without Connection: Upgrade.
    for lines in [
        &[][..],
        &["Upgrade: websocket", "Sec-WebSocket-Version: 13", &key][..],
    ] {
        let r = raw_request(&s, &upgrade("GET", lines));
        assert_error(&r, 426, "this endpoint needs a WebSocket upgrade");
        assert_eq!(r.header("Upgrade"), Some("websocket"));
    }

    // Missing or wrong version.
    for version in [None, Some("Sec-WebSocket-Version: 8")] {
        let mut lines = vec!["Connection: Upgrade", "Upgrade: websocket", key.as_str()];
        lines.extend(version);
        let r = raw_request(&s, &upgrade("GET", &lines));
        assert_error(&r, 426, "unsupported Sec-WebSocket-Version (use 13)");
        assert_eq!(r.header("Sec-WebSocket-Version"), Some("13"));
    }

    // Missing or invalid key.
    for k in [
        None,
        Some("Sec-WebSocket-Key: short=="),
        Some("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQxx"),
    ] {
        let mut lines = vec![
            "Connection: Upgrade",
            "Upgrade: websocket",
            "Sec-WebSocket-Version: 13",
        ];
        lines.extend(k);
        let r = raw_request(&s, &upgrade("GET", &lines));
        assert_error(&r, 400, "missing or invalid Sec-WebSocket-Key");
    }

    // The same request with everything right is accepted (the checks above are the cause).
    let r = raw_request(&s, &upgrade("GET", &full));
    assert_eq!(r.status, 101, "{:?}", r.headers);
}

#[test]
fn upgrades_from_foreign_origins_are_403() {
    let s = start(
        "rc-apie-origin",
        &[],
        &[("ALLOWED_ORIGINS", "https://good.example")],
    );
    let key = key_line();
    let with_origin = |origin: &str| {
        let o = format!("Origin: {origin}");
        let lines = [
            "Connection: Upgrade",
            "Upgrade: websocket",
            "Sec-WebSocket-Version: 13",
            key.as_str(),
            o.as_str(),
        ];
        raw_request(&s, &upgrade("GET", &lines))
    };
    for bad in ["https://evil.example", "http://good.example", "null"] {
        let r = with_origin(bad);
        assert_error(&r, 403, "origin not allowed");
    }
    // The listed origin (case-insensitive, trailing slash ignored) and the server's own.
    for good in ["https://good.example", "HTTPS://GOOD.EXAMPLE/", "http://t"] {
        let r = with_origin(good);
        assert_eq!(r.status, 101, "{good}: {}", r.body);
    }
}
