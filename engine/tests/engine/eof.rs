//! A peer's end of stream is noticed at once, even when its FIN arrives together with its last
//! bytes (one readiness report for both): HTTP requests on half-closed connections are answered
//! and the connection is closed, and a relay member that sends and closes leaves its room
//! without waiting for a ping timeout. Connections reset in the middle of anything leave no
//! connection, session or crash behind.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};

use tungstenite::Message;

use crate::common::{recv_data, upgrade_request, Server};

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
    let requests = crate::common::PLAIN_REQUESTS;
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
    let upgrade = upgrade_request("/ws/relay/eof-room");
    for i in 0..40 {
        let msg = format!("bye {i}");
        let mut s = server.connect();
        if i % 2 == 0 {
            // handshake, frame and FIN back to back
            let mut all = upgrade.clone();
            all.extend(text_frame(msg.as_bytes()));
            s.write_all(&all).unwrap();
        } else {
            // the frame and the FIN after the handshake's answer
            s.write_all(&upgrade).unwrap();
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

/// A connection that sends `bytes` and then resets (RST: `SO_LINGER` 0 and close).
fn send_and_reset(server: &Server, bytes: &[u8]) {
    let s = server.connect();
    let sock = socket2::SockRef::from(&s);
    sock.set_linger(Some(Duration::ZERO)).unwrap();
    // The server may reset first; either way the connection ends here.
    let _ = (&s).write_all(bytes);
    drop(s);
}

/// A masked binary frame of `n` bytes.
fn binary_frame(n: usize) -> Vec<u8> {
    let mut f = vec![0x82];
    if n < 126 {
        f.push(0x80 | n as u8);
    } else {
        f.push(0x80 | 126);
        f.extend_from_slice(&(n as u16).to_be_bytes());
    }
    f.extend_from_slice(&[0, 0, 0, 0]);
    f.resize(f.len() + n, b'x');
    f
}

#[test]
fn connections_reset_mid_request_leave_nothing_behind() {
    let server = Server::start(&[]);
    for i in 0..400 {
        let bytes = match i % 5 {
            0 => b"GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n".repeat(4),
            1 => {
                b"POST /api/auth/guest HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\n{}".to_vec()
            }
            2 => b"GET /api/leaderboard?game=x HTTP/1.1\r\nHost: t\r\n\r\nGET /health HTTP/1.1\r\n"
                .to_vec(),
            3 => {
                let mut b = upgrade_request(&format!("/ws/relay/rst-{}", i % 3));
                for n in [10, 300, 2000] {
                    b.extend(binary_frame(n));
                }
                b
            }
            _ => b"POST /api/scores HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n{\"game\""
                .to_vec(),
        };
        send_and_reset(&server, &bytes);
        if i % 2 == 0 {
            std::thread::sleep(Duration::from_micros(300));
        }
    }
    // Everything reset is gone: only the /health probe itself is open, no session crashed.
    let t0 = Instant::now();
    loop {
        let h = server.health();
        if h["connections"] == 1 && h["websockets"] == 0 {
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(10), "left behind: {h}");
        std::thread::sleep(Duration::from_millis(50));
    }
    let (status, metrics) = server.get("/metrics");
    assert_eq!(status, 200);
    for l in metrics
        .lines()
        .filter(|l| l.starts_with("roomcore_crashes_total"))
    {
        assert!(l.ends_with(" 0"), "{l}");
    }
}
