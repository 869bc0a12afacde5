//! A peer's end of stream is noticed at once, even when its FIN arrives together with its last
//! bytes (one readiness report for both): HTTP requests on half-closed connections are answered
//! and the connection is closed, and a relay member that sends and closes leaves its room
//! without waiting for a ping timeout.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};

use tungstenite::Message;

use crate::common::{recv_data, Server};

/// Reads until the server closes; panics after `limit`.
fn read_to_close(s: &mut TcpStream, limit: Duration, what: &str) -> Vec<u8> {
    s.set_read_timeout(Some(limit)).unwrap();
    let t0 = Instant::now();
    let mut out = Vec::new();
    let mut buf = [0u8; 16384];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return out,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return out,
            Err(e) => panic!(
                "{what}: not closed after {:?} ({e}); got {:?}",
                t0.elapsed(),
                String::from_utf8_lossy(&out)
            ),
        }
    }
}

#[test]
fn half_closed_http_requests_are_answered_and_closed() {
    let server = Server::start(&[]);
    let requests: [&[u8]; 3] = [
        b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n",
        b"POST /api/auth/guest HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}",
        b"GET /api/leaderboard?game=chess&limit=5 HTTP/1.1\r\nHost: t\r\n\r\n",
    ];
    for i in 0..90 {
        let req = requests[i % requests.len()];
        let mut s = server.connect();
        s.write_all(req).unwrap();
        s.shutdown(Shutdown::Write).unwrap();
        let out = read_to_close(&mut s, Duration::from_secs(5), &format!("request {i}"));
        let text = String::from_utf8_lossy(&out);
        assert!(text.starts_with("HTTP/1.1 20"), "request {i}: {text}");
        assert_eq!(
            text.matches("HTTP/1.1 ").count(),
            1,
            "request {i}: one answer: {text}"
        );
    }
}

/// A masked text frame.
fn text_frame(payload: &[u8]) -> Vec<u8> {
    assert!(payload.len() < 126);
    let key = [7u8, 1, 8, 2];
    let mut f = vec![0x81, 0x80 | payload.len() as u8];
    f.extend_from_slice(&key);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    f
}

#[test]
fn relay_member_that_sends_and_closes_leaves_at_once() {
    let server = Server::start(&[]);
    let mut stay = server.ws("/ws/relay/eof-room");
    let upgrade = b"GET /ws/relay/eof-room HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";
    for i in 0..40 {
        let msg = format!("bye {i}");
        let mut s = server.connect();
        if i % 2 == 0 {
            // handshake, frame and FIN back to back
            let mut all = upgrade.to_vec();
            all.extend(text_frame(msg.as_bytes()));
            s.write_all(&all).unwrap();
        } else {
            // the frame and the FIN after the handshake's answer
            s.write_all(upgrade).unwrap();
            let mut head = Vec::new();
            let mut b = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") {
                assert_eq!(s.read(&mut b).unwrap(), 1, "member {i}: handshake");
                head.push(b[0]);
            }
            assert!(head.starts_with(b"HTTP/1.1 101"), "member {i}");
            s.write_all(&text_frame(msg.as_bytes())).unwrap();
        }
        s.shutdown(Shutdown::Write).unwrap();
        assert_eq!(recv_data(&mut stay), Message::text(msg));
        // The default ping interval is far longer than this: only the FIN can close it.
        read_to_close(&mut s, Duration::from_secs(5), &format!("member {i}"));
    }
    // Every leaver is gone from the server's count: only `stay` is left.
    let t0 = Instant::now();
    loop {
        let ws = server.health()["websockets"].as_u64().unwrap();
        if ws == 1 {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(5),
            "{ws} WebSockets open"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    stay.send(Message::text("still open")).unwrap();
}
