//! A member that never reads is closed as a slow consumer while the other
//! members keep receiving.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use tungstenite::Message;

use crate::common::{recv_data, Server};

#[test]
fn slow_consumer_is_closed_and_others_keep_receiving() {
    let s = Server::start(&["--ws-max-buffered-bytes", "262144"]);
    let room = "/ws/relay/slow-room";
    // The slow member: handshake on a raw socket with a tiny receive buffer, then never read.
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    sock.set_recv_buffer_size(4096).unwrap();
    sock.connect(&s.addr.into()).unwrap();
    let mut slow: std::net::TcpStream = sock.into();
    slow.write_all(format!("GET {room} HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n").as_bytes()).unwrap();
    let mut head = [0u8; 256];
    let n = slow.read(&mut head).unwrap();
    assert!(head[..n].starts_with(b"HTTP/1.1 101"));

    let mut good = s.ws(room);
    let mut sender = s.ws(room);
    std::thread::sleep(Duration::from_millis(100));

    let total = 800usize;
    let payload = vec![0x5au8; 16 * 1024];
    // The well-behaved member acknowledges what it read, so the sender keeps at
    // most 8 messages (128 KiB, under the 256 KiB bound) ahead of it: it is
    // never "slow" itself.
    let received = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = received.clone();
    let reader = std::thread::spawn(move || {
        for i in 0..total {
            seen.store(i, std::sync::atomic::Ordering::Release);
            match recv_data(&mut good) {
                Message::Binary(b) => assert_eq!(b.len(), 16 * 1024, "message {i}"),
                other => panic!("unexpected {other:?}"),
            }
        }
        good
    });
    for i in 0..total {
        while i > received.load(std::sync::atomic::Ordering::Acquire) + 8 && !reader.is_finished() {
            std::thread::sleep(Duration::from_micros(200));
        }
        sender.send(Message::binary(payload.clone())).unwrap();
    }
    let _good = reader
        .join()
        .expect("well-behaved member received everything");

    // The slow member was cut off: draining its socket ends in EOF/reset.
    slow.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let started = Instant::now();
    let mut buf = vec![0u8; 65536];
    loop {
        match slow.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(_) => assert!(
                started.elapsed() < Duration::from_secs(10),
                "slow consumer never closed"
            ),
        }
    }
    let h = s.health();
    assert!(h["slow_consumers_total"].as_u64().unwrap() >= 1, "{h}");
}
