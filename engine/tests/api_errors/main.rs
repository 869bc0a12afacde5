//! HTTP error paths through the real binary (2 shards) and real sockets: matchmaking tickets
//! (auth, body, mode, party, rating, duplicate, full queue, foreign tickets, methods), game ids,
//! demo assets, the room state cap, over-long logins, WebSocket upgrade refusals on `/ws`
//! (method, upgrade, version, key, origin) and the answers during a SIGTERM drain. Every test
//! checks the status, the `{"error": ...}` text and the headers the code promises.
#[path = "../common/mod.rs"]
mod common;

mod drain;
mod http;
mod matchmaking;
mod upgrade;

use std::io::{Read, Write};
use std::net::TcpStream;

use common::{parse_response, temp_dir, HttpResponse, Server};

/// Cheap argon2 parameters (logins hash even when they fail).
pub const CHEAP_HASH: [(&str, &str); 2] = [
    ("PASSWORD_HASH_MEMORY_KIB", "1024"),
    ("PASSWORD_HASH_ITERATIONS", "1"),
];

/// A server with cheap password hashing plus `env`.
pub fn start(tag: &str, extra: &[&str], env: &[(&str, &str)]) -> Server {
    let mut all: Vec<(&str, &str)> = CHEAP_HASH.to_vec();
    all.extend_from_slice(env);
    Server::start_in(&temp_dir(tag), extra, &all)
}

/// `r` is `status` with a JSON body whose `error` contains `text`.
#[track_caller]
pub fn assert_error(r: &HttpResponse, status: u16, text: &str) {
    assert_eq!(r.status, status, "{}", r.body);
    let v = r.json();
    let err = v["error"]
        .as_str()
        .unwrap_or_else(|| panic!("no \"error\" string in {}", r.body));
    assert!(err.contains(text), "error {err:?} lacks {text:?}");
}

/// [`assert_error`] for a 503, which must also carry `Retry-After: retry_after`.
#[track_caller]
pub fn assert_503(r: &HttpResponse, text: &str, retry_after: &str) {
    assert_error(r, 503, text);
    assert_eq!(
        r.header("Retry-After"),
        Some(retry_after),
        "{:?}",
        r.headers
    );
}

/// [`assert_error`] for a 405 with its `Allow` header.
#[track_caller]
pub fn assert_405(r: &HttpResponse, allow: &str) {
    assert_error(r, 405, "method not allowed");
    assert_eq!(r.header("Allow"), Some(allow), "{:?}", r.headers);
}

/// Write `raw` on a fresh connection and read one complete response (the server may keep the
/// connection open, so this stops at the end of the first response).
pub fn raw_request(s: &Server, raw: &[u8]) -> HttpResponse {
    let mut t = s.connect();
    t.write_all(raw).unwrap();
    read_one(&mut t)
}

/// Read one complete response from `t`.
pub fn read_one(t: &mut TcpStream) -> HttpResponse {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        if let Some(r) = parse_response(&got) {
            return r;
        }
        let n = t.read(&mut buf).expect("read response");
        assert!(
            n > 0,
            "closed before a full response: {:?}",
            String::from_utf8_lossy(&got)
        );
        got.extend_from_slice(&buf[..n]);
    }
}
