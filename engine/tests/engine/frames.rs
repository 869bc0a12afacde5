//! RFC 6455 conformance on raw sockets: close codes for protocol errors,
//! fragmentation, ping/pong.

use std::io::{Read, Write};
use std::net::TcpStream;

use tungstenite::Message;

use crate::common::{recv_data, upgrade_request, Server};

/// A WebSocket spoken by hand on a raw TCP socket.
struct Raw {
    s: TcpStream,
    buf: Vec<u8>,
}

impl Raw {
    fn open(server: &Server, room: &str) -> Raw {
        let mut s = server.connect();
        s.write_all(&upgrade_request(&format!("/ws/relay/{room}")))
            .unwrap();
        let mut raw = Raw { s, buf: Vec::new() };
        let end = loop {
            if let Some(p) = raw.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break p + 4;
            }
            raw.fill();
        };
        let head = String::from_utf8_lossy(&raw.buf[..end]).to_string();
        assert!(head.starts_with("HTTP/1.1 101"), "{head}");
        assert!(
            head.contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo="),
            "{head}"
        );
        raw.buf.drain(..end);
        raw
    }

    fn fill(&mut self) -> usize {
        let mut b = [0u8; 65536];
        let n = self.s.read(&mut b).expect("read");
        self.buf.extend_from_slice(&b[..n]);
        n
    }

    fn send_frame(&mut self, fin: bool, opcode: u8, payload: &[u8], masked: bool) {
        let mut f = vec![(if fin { 0x80 } else { 0 }) | opcode];
        let m = if masked { 0x80 } else { 0 };
        if payload.len() < 126 {
            f.push(m | payload.len() as u8);
        } else if payload.len() <= 0xffff {
            f.push(m | 126);
            f.extend_from_slice(&(payload.len() as u16).to_be_bytes());
        } else {
            f.push(m | 127);
            f.extend_from_slice(&(payload.len() as u64).to_be_bytes());
        }
        let key = [0xa1, 0xb2, 0xc3, 0xd4];
        if masked {
            f.extend_from_slice(&key);
            f.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
        } else {
            f.extend_from_slice(payload);
        }
        // Large frames may be refused mid-write once the server closes.
        let _ = self.s.write_all(&f);
    }

    /// Next frame from the server: (opcode, payload); None on EOF.
    fn recv_frame(&mut self) -> Option<(u8, Vec<u8>)> {
        loop {
            if self.buf.len() >= 2 {
                let op = self.buf[0] & 0x0f;
                assert_eq!(self.buf[1] & 0x80, 0, "server frames are not masked");
                let (len, hl) = match self.buf[1] & 0x7f {
                    126 if self.buf.len() >= 4 => {
                        (u16::from_be_bytes([self.buf[2], self.buf[3]]) as usize, 4)
                    }
                    127 if self.buf.len() >= 10 => (
                        u64::from_be_bytes(self.buf[2..10].try_into().unwrap()) as usize,
                        10,
                    ),
                    n if n < 126 => (n as usize, 2),
                    _ => (usize::MAX, 0),
                };
                if len != usize::MAX && self.buf.len() >= hl + len {
                    let payload = self.buf[hl..hl + len].to_vec();
                    self.buf.drain(..hl + len);
                    return Some((op, payload));
                }
            }
            let mut b = [0u8; 65536];
            match self.s.read(&mut b) {
                Ok(0) | Err(_) => return None,
                Ok(n) => self.buf.extend_from_slice(&b[..n]),
            }
        }
    }

    /// Skip pings until the close frame; return its code.
    fn expect_close(&mut self) -> u16 {
        loop {
            match self.recv_frame() {
                Some((0x8, p)) => {
                    assert!(p.len() >= 2, "close without code");
                    return u16::from_be_bytes([p[0], p[1]]);
                }
                Some((0x9, _)) => {}
                Some((op, _)) => panic!("unexpected frame opcode {op} before close"),
                None => panic!("connection closed without a close frame"),
            }
        }
    }
}

#[test]
fn unmasked_frame_is_closed_with_1002() {
    let s = Server::start(&[]);
    let mut r = Raw::open(&s, "frames-a");
    r.send_frame(true, 0x1, b"hello", false);
    assert_eq!(r.expect_close(), 1002);
    assert_eq!(
        r.recv_frame(),
        None,
        "server closes the socket after the close frame"
    );
    assert_eq!(s.get("/live").0, 200);
}

#[test]
fn invalid_utf8_text_is_closed_with_1007() {
    let s = Server::start(&[]);
    let mut r = Raw::open(&s, "frames-b");
    r.send_frame(true, 0x1, &[0x68, 0xff, 0xfe], true);
    assert_eq!(r.expect_close(), 1007);
    // Also across fragments.
    let mut r = Raw::open(&s, "frames-b");
    r.send_frame(false, 0x1, &[0xe2, 0x82], true);
    r.send_frame(true, 0x0, &[0x28], true);
    assert_eq!(r.expect_close(), 1007);
}

#[test]
fn invalid_utf8_is_refused_as_soon_as_it_arrives() {
    let s = Server::start(&[]);
    // A fragment that makes the message invalid, before the message ends (Autobahn 6.4.1).
    let mut r = Raw::open(&s, "frames-b2");
    r.send_frame(false, 0x1, "κόσμε".as_bytes(), true);
    r.send_frame(false, 0x0, b"\xf4\x90\x80\x80", true);
    assert_eq!(r.expect_close(), 1007);
    // The first bytes of a frame whose rest never comes (6.4.3).
    let mut r = Raw::open(&s, "frames-b3");
    let payload = b"ab\xc0\xafrest of a frame that never arrives";
    let mut f = vec![0x81, 0x80 | payload.len() as u8, 0, 0, 0, 0];
    f.extend_from_slice(&payload[..6]);
    r.s.write_all(&f).unwrap();
    assert_eq!(r.expect_close(), 1007);
}

#[test]
fn message_over_64k_is_closed_with_1009() {
    let s = Server::start(&[]);
    let mut r = Raw::open(&s, "frames-c");
    r.send_frame(true, 0x2, &vec![7u8; 65 * 1024], true);
    assert_eq!(r.expect_close(), 1009);
    // Exactly 64 KiB is fine and relayed.
    let mut rx = s.ws("/ws/relay/frames-c2");
    let mut r = Raw::open(&s, "frames-c2");
    std::thread::sleep(std::time::Duration::from_millis(50));
    r.send_frame(true, 0x2, &vec![9u8; 64 * 1024], true);
    assert_eq!(recv_data(&mut rx), Message::binary(vec![9u8; 64 * 1024]));
    // A fragmented message that grows past the limit is refused too.
    let mut r = Raw::open(&s, "frames-c3");
    r.send_frame(false, 0x2, &vec![1u8; 40 * 1024], true);
    r.send_frame(true, 0x0, &vec![1u8; 40 * 1024], true);
    assert_eq!(r.expect_close(), 1009);
}

#[test]
fn fragmented_message_is_reassembled() {
    let s = Server::start(&[]);
    let mut rx = s.ws("/ws/relay/frames-d");
    let mut r = Raw::open(&s, "frames-d");
    std::thread::sleep(std::time::Duration::from_millis(50));
    r.send_frame(false, 0x1, "héllo ".as_bytes(), true);
    r.send_frame(true, 0x9, b"mid", true); // control frames may interleave
    r.send_frame(false, 0x0, b"frag", true);
    r.send_frame(true, 0x0, "mented wörld".as_bytes(), true);
    assert_eq!(recv_data(&mut rx), Message::text("héllo fragmented wörld"));
    assert_eq!(r.recv_frame(), Some((0xA, b"mid".to_vec())));
}

#[test]
fn ping_is_answered_with_pong_carrying_the_payload() {
    let s = Server::start(&[]);
    let mut r = Raw::open(&s, "frames-e");
    r.send_frame(true, 0x9, b"are you there?", true);
    assert_eq!(r.recv_frame(), Some((0xA, b"are you there?".to_vec())));
    // Other protocol errors: a continuation without a start, a long ping.
    r.send_frame(true, 0x0, b"x", true);
    assert_eq!(r.expect_close(), 1002);
    let mut r = Raw::open(&s, "frames-e");
    r.send_frame(true, 0x9, &[0u8; 126], true);
    assert_eq!(r.expect_close(), 1002);
    let mut r = Raw::open(&s, "frames-e");
    r.send_frame(true, 0x3, b"x", true);
    assert_eq!(r.expect_close(), 1002);
}

#[test]
fn close_handshake_echoes_the_code() {
    let s = Server::start(&[]);
    let mut r = Raw::open(&s, "frames-f");
    let mut p = 1000u16.to_be_bytes().to_vec();
    p.extend_from_slice(b"bye");
    r.send_frame(true, 0x8, &p, true);
    assert_eq!(r.expect_close(), 1000);
    assert_eq!(r.recv_frame(), None);
}

#[test]
fn server_pings_and_drops_a_silent_peer() {
    let s = Server::start(&[
        "--ws-ping-interval-ms",
        "200",
        "--ws-ping-timeout-ms",
        "300",
    ]);
    let mut r = Raw::open(&s, "frames-g");
    // The server pings; we answer once, then go silent.
    loop {
        match r.recv_frame() {
            Some((0x9, p)) => {
                r.send_frame(true, 0xA, &p, true);
                break;
            }
            Some(_) => {}
            None => panic!("closed before the first ping"),
        }
    }
    let started = std::time::Instant::now();
    while r.recv_frame().is_some() {
        assert!(started.elapsed().as_secs() < 5, "silent peer never dropped");
    }
    assert!(
        started.elapsed().as_millis() >= 300,
        "dropped before the timeout"
    );
}
