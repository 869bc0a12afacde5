//! Seeded random and mutated input against the real server: HTTP requests, WebSocket frames on
//! relay rooms, and typed messages on `/ws`. Whatever arrives, the connection gets a clear
//! answer (an HTTP status below 500, a documented close code, an `error` message) or is closed,
//! never a hang, and the server keeps serving everyone else.

use std::io::{Read, Write};
use std::net::Shutdown;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tungstenite::Message;

use crate::common::{recv_data, upgrade_request, Server};

/// xorshift64*: a fixed seed gives the same inputs on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

/// Bytes that matter to HTTP and JSON parsers, mixed into random insertions.
const SPECIAL: &[&[u8]] = &[
    b"\r\n",
    b"\r\n\r\n",
    b":",
    b" ",
    b"\0",
    b"\xff",
    b"\"",
    b"{",
    b"}",
    b"\\",
    b"%00",
    b"9999999999999999999",
    b"-1",
    b"Content-Length: 5\r\n",
    b"Transfer-Encoding: chunked\r\n",
    b"\t",
];

/// One to four random edits of `base`: overwrite, delete, duplicate or insert.
fn mutate(rng: &mut Rng, base: &[u8]) -> Vec<u8> {
    let mut v = base.to_vec();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(v.len() + 1);
        match rng.below(5) {
            0 if at < v.len() => v[at] = rng.next() as u8,
            1 => {
                let end = (at + 1 + rng.below(16)).min(v.len());
                v.drain(at.min(end)..end);
            }
            2 => {
                let end = (at + 1 + rng.below(32)).min(v.len());
                let piece = v[at.min(end)..end].to_vec();
                v.splice(at..at, piece);
            }
            3 => {
                let s = SPECIAL[rng.below(SPECIAL.len())];
                v.splice(at..at, s.iter().copied());
            }
            _ => {
                let n = 1 + rng.below(8);
                let junk = rng.bytes(n);
                v.splice(at..at, junk);
            }
        }
    }
    v
}

/// Writes `input`, half-closes, and reads until the server closes (at most `limit`).
fn exchange(server: &Server, input: &[u8], limit: Duration) -> Result<Vec<u8>, String> {
    let mut s = server.connect();
    s.set_read_timeout(Some(limit)).unwrap();
    // The server may answer and close before reading everything: a failed write is fine.
    let _ = s.write_all(input);
    let _ = s.shutdown(Shutdown::Write);
    let mut out = Vec::new();
    let mut buf = [0u8; 16384];
    let t0 = Instant::now();
    loop {
        match s.read(&mut buf) {
            Ok(0) => return Ok(out),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return Ok(out),
            Err(e) => return Err(format!("no close after {:?}: {e}", t0.elapsed())),
        }
    }
}

#[test]
fn mutated_and_random_http_requests_get_a_status_or_a_close() {
    let server = Server::start(&[]);
    let [health, guest, board] = crate::common::PLAIN_REQUESTS;
    let bases: [&[u8]; 4] = [
        health,
        guest,
        board,
        b"GET /ws/relay/fz HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
    ];
    let mut rng = Rng(0x5eed_0001);
    let mut answered = 0;
    for i in 0..300 {
        let input = if i % 5 == 4 {
            let n = 1 + rng.below(2000);
            rng.bytes(n)
        } else {
            mutate(&mut rng, bases[i % bases.len()])
        };
        let out = exchange(&server, &input, Duration::from_secs(15))
            .unwrap_or_else(|e| panic!("input {i} {:?}: {e}", String::from_utf8_lossy(&input)));
        // Every answer on the connection is a well-formed status line below 500.
        let text = String::from_utf8_lossy(&out);
        for line in text.split("\r\n").filter(|l| l.starts_with("HTTP/1.1 ")) {
            let status: u16 = line[9..12].parse().unwrap_or(0);
            assert!(
                (100..500).contains(&status),
                "input {i} {:?} got {line:?}",
                String::from_utf8_lossy(&input)
            );
            answered += 1;
        }
        if !out.is_empty() && !out.starts_with(b"HTTP/1.1 ") {
            panic!(
                "input {i} {:?}: answer does not start with a status line: {text:?}",
                String::from_utf8_lossy(&input)
            );
        }
        if i % 50 == 49 {
            assert_eq!(server.health()["status"], "ok");
        }
    }
    // Most mutations still parse as a request or fail with a 4xx: the server answers, it does
    // not just drop connections.
    assert!(answered > 150, "only {answered} answers to 300 inputs");
    assert_eq!(server.health()["status"], "ok");
}

/// One random frame: any FIN/RSV/opcode bits, mostly masked, any length class (including
/// 64-bit lengths far beyond the limit), payload shorter or equal to the declared length.
fn random_frame(rng: &mut Rng) -> Vec<u8> {
    // half the time a plausible first byte (no RSV bits, a known opcode), so that the checks
    // behind the first one (masking, lengths, UTF-8, close codes) are reached too
    let first = if rng.below(2) == 0 {
        let op = [0x0, 0x1, 0x2, 0x8, 0x9, 0xa][rng.below(6)];
        (rng.next() as u8 & 0x80) | op
    } else {
        rng.next() as u8
    };
    let mut f = vec![first];
    let masked = rng.below(8) != 0;
    let m = if masked { 0x80 } else { 0 };
    let payload_len = rng.below(200);
    match rng.below(6) {
        0 => {
            f.push(m | 126);
            f.extend_from_slice(&(rng.next() as u16).to_be_bytes());
        }
        1 => {
            f.push(m | 127);
            f.extend_from_slice(&rng.next().to_be_bytes());
        }
        _ => f.push(m | payload_len.min(125) as u8),
    }
    if masked {
        f.extend_from_slice(&rng.bytes(4));
    }
    f.extend_from_slice(&rng.bytes(payload_len));
    f
}

/// A masked close frame with code 1000.
const CLOSE_1000: [u8; 8] = [0x88, 0x82, 1, 2, 3, 4, 0x03 ^ 1, 0xe8 ^ 2];

#[test]
fn random_frames_on_relay_rooms_get_a_documented_close_and_spare_the_room() {
    let server = Server::start(&[]);
    let mut a = server.ws("/ws/relay/fz-good");
    let mut b = server.ws("/ws/relay/fz-good");
    std::thread::sleep(Duration::from_millis(100));
    // the server's own codes, or the echo of a valid code the client's close carried
    let allowed = |c: u16| matches!(c, 1000..=1003 | 1007..=1011 | 3000..=4999);
    let mut rng = Rng(0x5eed_0002);
    let mut codes = std::collections::BTreeMap::new();
    for i in 0..150 {
        let mut input = upgrade_request(&format!("/ws/relay/fz-{}", i % 5));
        for _ in 0..1 + rng.below(5) {
            input.extend(random_frame(&mut rng));
        }
        input.extend_from_slice(&CLOSE_1000);
        let out = exchange(&server, &input, Duration::from_secs(15))
            .unwrap_or_else(|e| panic!("frames {i}: {e}"));
        let head_end = out
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .unwrap_or_else(|| panic!("frames {i}: no upgrade answer"))
            + 4;
        assert!(out.starts_with(b"HTTP/1.1 101"), "frames {i}");
        // Walk the server's frames: unmasked, and the close (if any) carries a documented code.
        let mut rest = &out[head_end..];
        while rest.len() >= 2 {
            assert_eq!(
                rest[1] & 0x80,
                0,
                "frames {i}: server frames are not masked"
            );
            let (len, hl) = match rest[1] & 0x7f {
                126 => (u16::from_be_bytes([rest[2], rest[3]]) as usize, 4),
                127 => (
                    u64::from_be_bytes(rest[2..10].try_into().unwrap()) as usize,
                    10,
                ),
                n => (n as usize, 2),
            };
            let Some(payload) = rest.get(hl..hl + len) else {
                panic!("frames {i}: truncated server frame");
            };
            if rest[0] & 0x0f == 0x8 {
                let code = u16::from_be_bytes([payload[0], payload[1]]);
                assert!(allowed(code), "frames {i}: close code {code}");
                *codes.entry(code).or_insert(0) += 1;
            }
            rest = &rest[hl + len..];
        }
        assert!(
            rest.is_empty(),
            "frames {i}: trailing bytes after the last frame"
        );
    }
    // Random headers mostly break the protocol (1002); some pass it and break the size limit.
    assert!(codes.get(&1002).copied().unwrap_or(0) > 20, "{codes:?}");
    assert!(codes.contains_key(&1009), "{codes:?}");
    // The room of the well-behaved pair still relays.
    a.send(Message::text("still here")).unwrap();
    assert_eq!(recv_data(&mut b), Message::text("still here"));
    assert_eq!(server.health()["status"], "ok");
}

/// Error codes of the typed protocol (docs/games.md).
const GAME_ERRORS: &[&str] = &[
    "invalid_message",
    "unknown_type",
    "unauthenticated",
    "forbidden",
    "not_found",
    "not_in_room",
    "already_in_room",
    "already_seated",
    "room_full",
    "too_many_rooms",
    "rate_limited",
    "invalid_settings",
    "wrong_game",
    "illegal_move",
];

#[test]
fn mutated_game_messages_get_answers_and_the_session_survives() {
    let server = Server::start(&[]);
    let (token, _) = server.client().guest();
    let mut ws = server.ws("/ws");
    let bases: Vec<String> = [
        json!({"type": "hello", "token": token, "seq": 1}),
        json!({"type": "create_room", "kind": "chess", "name": "fz", "seq": 2}),
        json!({"type": "join_room", "room": "c-0123456789", "role": "spectator", "seq": 3}),
        json!({"type": "move", "move": "e2e4", "seq": 4}),
        json!({"type": "update_settings", "settings": {"initial_secs": 60, "increment_secs": 1}}),
        json!({"type": "list_rooms", "kind": "party"}),
        json!({"type": "queue", "mode": "chess", "region": "fz"}),
        json!({"type": "cancel_queue"}),
        json!({"type": "reconnect", "token": "c-0.x", "last_seq": 3}),
        json!({"type": "leave_room"}),
    ]
    .iter()
    .map(Value::to_string)
    .collect();
    let mut rng = Rng(0x5eed_0003);
    let mut errors = 0;
    for round in 0..20u64 {
        for _ in 0..15 {
            let msg = if rng.below(10) == 0 {
                let n = 1 + rng.below(64);
                Message::binary(rng.bytes(n))
            } else {
                let base = bases[rng.below(bases.len())].as_bytes();
                Message::text(String::from_utf8_lossy(&mutate(&mut rng, base)).to_string())
            };
            ws.send(msg).unwrap();
        }
        // A ping with a fresh seq marks the end of the round: everything before it has been
        // answered by then, and the session is still open.
        let seq = 1000 + round;
        ws.send(Message::text(
            json!({"type": "ping", "seq": seq}).to_string(),
        ))
        .unwrap();
        loop {
            let m = match ws.read().unwrap_or_else(|e| panic!("round {round}: {e}")) {
                Message::Text(t) => serde_json::from_str::<Value>(&t).unwrap(),
                Message::Ping(_) | Message::Pong(_) => continue,
                other => panic!("round {round}: unexpected {other:?}"),
            };
            if m["type"] == "error" {
                let code = m["code"].as_str().unwrap_or("");
                assert!(GAME_ERRORS.contains(&code), "round {round}: {m}");
                assert!(m["message"].as_str().is_some_and(|s| !s.is_empty()), "{m}");
                errors += 1;
            }
            if m["type"] == "pong" && m["seq"] == seq {
                break;
            }
        }
    }
    assert!(
        errors > 100,
        "only {errors} errors for 300 mutated messages"
    );
    // A well-formed session still works on a new socket.
    let mut fresh = server.ws("/ws");
    fresh
        .send(Message::text(
            json!({"type": "hello", "token": token, "seq": 7}).to_string(),
        ))
        .unwrap();
    loop {
        if let Message::Text(t) = fresh.read().unwrap() {
            let m: Value = serde_json::from_str(&t).unwrap();
            if m["seq"] == 7 {
                assert_eq!(m["type"], "welcome", "{m}");
                break;
            }
        }
    }
    assert_eq!(server.health()["status"], "ok");
}

/// Characters that matter in paths and query strings.
const URL_BITS: &[&str] = &[
    "%",
    "%00",
    "%2F",
    "%ff",
    "?",
    "&",
    "=",
    "/",
    "..",
    "//",
    "#",
    "+",
    "-1",
    "0",
    "999999999999",
    "game=",
    "limit=",
    "period=",
    "é",
    "\u{1f600}",
    ";",
];

fn mutate_path(rng: &mut Rng, path: &str) -> String {
    let mut v: Vec<char> = path.chars().collect();
    for _ in 0..1 + rng.below(3) {
        let at = 1 + rng.below(v.len());
        match rng.below(3) {
            0 if at < v.len() => {
                v.remove(at);
            }
            _ => {
                let bit = URL_BITS[rng.below(URL_BITS.len())];
                for (k, c) in bit.chars().enumerate() {
                    v.insert(at + k, c);
                }
            }
        }
    }
    v.into_iter().collect()
}

#[test]
fn mutated_api_requests_get_json_errors_below_500() {
    let server = Server::start(&[]);
    let mut c = server.client();
    let (token, _) = c.guest();
    let reg = c
        .post_json(
            "/api/auth/register",
            None,
            &json!({"username": "fz_user", "password": "correct horse"}),
        )
        .unwrap();
    assert_eq!(reg.status, 201, "{}", reg.body);
    let put = c
        .send("PUT", "/api/rooms/fz-room/state", &[], br#"{"a":[1,2,3]}"#)
        .unwrap();
    assert_eq!(put.status, 200, "{}", put.body);
    // (method, path, body, authenticated)
    let bases: &[(&str, &str, &str, bool)] = &[
        (
            "POST",
            "/api/auth/login",
            r#"{"username":"fz_user","password":"correct horse"}"#,
            false,
        ),
        ("POST", "/api/auth/guest", "{}", false),
        ("GET", "/api/auth/me", "", true),
        ("POST", "/api/scores", r#"{"game":"fz","score":42}"#, true),
        (
            "GET",
            "/api/leaderboard?game=fz&limit=10&period=daily",
            "",
            false,
        ),
        (
            "GET",
            "/api/leaderboard/me?game=fz&period=alltime",
            "",
            true,
        ),
        (
            "PUT",
            "/api/rooms/fz-room/state",
            r#"{"board":[[1,0],[0,1]],"turn":"w"}"#,
            false,
        ),
        ("GET", "/api/rooms/fz-room/state", "", false),
        ("DELETE", "/api/rooms/fz-gone/state", "", false),
    ];
    let mut rng = Rng(0x5eed_0004);
    let mut statuses = std::collections::BTreeMap::new();
    for i in 0..300 {
        let (method, path, body, auth) = bases[rng.below(bases.len())];
        let (mut path, mut body, mut tok) =
            (path.to_string(), body.as_bytes().to_vec(), token.clone());
        match rng.below(3) {
            0 => path = mutate_path(&mut rng, &path),
            1 if !body.is_empty() => body = mutate(&mut rng, &body),
            _ => {
                let t = mutate(&mut rng, tok.as_bytes());
                tok = String::from_utf8_lossy(&t)
                    .chars()
                    .filter(|c| c.is_ascii_graphic())
                    .collect();
            }
        }
        let bearer = format!("Bearer {tok}");
        let mut headers = vec![("Content-Type", "application/json")];
        if auth {
            headers.push(("Authorization", bearer.as_str()));
        }
        let r = c.send(method, &path, &headers, &body).unwrap_or_else(|e| {
            panic!(
                "{i} {method} {path:?} {:?}: {e}",
                String::from_utf8_lossy(&body)
            )
        });
        let what = format!(
            "{i} {method} {path:?} {:?}: {} {}",
            String::from_utf8_lossy(&body),
            r.status,
            r.body
        );
        assert!(
            r.status < 500 || (r.status == 503 && r.header("Retry-After").is_some()),
            "{what}"
        );
        if r.status >= 400 {
            let v: Value = serde_json::from_str(&r.body).unwrap_or_else(|e| panic!("{what}: {e}"));
            assert!(v["error"].as_str().is_some_and(|m| !m.is_empty()), "{what}");
        }
        *statuses.entry(r.status).or_insert(0) += 1;
        if r.header("Connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"))
        {
            c = server.client();
        }
    }
    // Mutations mostly fail validation (400/401/404/405) and some still succeed.
    assert!(
        statuses.keys().any(|s| (200..300).contains(s)),
        "{statuses:?}"
    );
    assert!(
        statuses.get(&400).copied().unwrap_or(0) > 30,
        "{statuses:?}"
    );
    assert!(
        statuses.get(&401).copied().unwrap_or(0) > 10,
        "{statuses:?}"
    );
    assert_eq!(server.health()["status"], "ok");
}
