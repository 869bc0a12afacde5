//! Relay rooms across shards and fan-out correctness.

use std::time::Duration;

use tungstenite::Message;

use crate::common::{recv_data, Server, Ws};

/// Connect to `room` until one socket was accepted by each of the 2 shards.
fn one_per_shard(s: &Server, room: &str) -> (Ws, Ws) {
    let mut by_shard: [Option<Ws>; 2] = [None, None];
    for _ in 0..200 {
        let (ws, resp) = tungstenite::connect(s.ws_url(&format!("/ws/relay/{room}"))).unwrap();
        let shard: usize = resp.headers()["x-roomcore-shard"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        if by_shard[shard].is_none() {
            by_shard[shard] = Some(ws);
        }
        if by_shard.iter().all(Option::is_some) {
            let [a, b] = by_shard;
            return (a.unwrap(), b.unwrap());
        }
    }
    panic!("200 connections all landed on one shard");
}

#[test]
fn clients_accepted_by_different_shards_talk_both_ways() {
    let s = Server::start(&[]);
    let (mut a, mut b) = one_per_shard(&s, "cross-shard");
    // Let both joins settle (the socket accepted by the non-owner shard moves).
    std::thread::sleep(Duration::from_millis(100));
    a.send(Message::text("from a")).unwrap();
    assert_eq!(recv_data(&mut b), Message::text("from a"));
    b.send(Message::binary(vec![1u8, 2, 3])).unwrap();
    assert_eq!(recv_data(&mut a), Message::binary(vec![1u8, 2, 3]));
    let h = s.health();
    assert!(h["rooms"].as_u64().unwrap() >= 1, "{h}");
    assert!(h["websockets"].as_u64().unwrap() >= 2, "{h}");
}

#[test]
fn room_of_100_gets_every_broadcast_exactly_once() {
    let s = Server::start(&[]);
    let mut members: Vec<Ws> = (0..100).map(|_| s.ws("/ws/relay/big-room")).collect();
    // Wait until all 100 joined (sockets may still be moving to the owner).
    for _ in 0..100 {
        if s.health()["websockets"].as_u64() == Some(100) {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(s.health()["websockets"].as_u64(), Some(100));
    let senders = [0usize, 37, 99];
    for &i in &senders {
        for k in 0..5 {
            members[i].send(Message::text(format!("{i}:{k}"))).unwrap();
        }
    }
    for (i, m) in members.iter_mut().enumerate() {
        let mut got: Vec<String> = Vec::new();
        let expected = senders.iter().filter(|&&x| x != i).count() * 5;
        for _ in 0..expected {
            match recv_data(m) {
                Message::Text(t) => got.push(t.to_string()),
                other => panic!("member {i}: unexpected {other:?}"),
            }
        }
        // Per sender, order is kept and nothing is duplicated.
        for &from in senders.iter().filter(|&&x| x != i) {
            let seq: Vec<&String> = got
                .iter()
                .filter(|t| t.starts_with(&format!("{from}:")))
                .collect();
            let want: Vec<String> = (0..5).map(|k| format!("{from}:{k}")).collect();
            assert_eq!(
                seq,
                want.iter().collect::<Vec<_>>(),
                "member {i} from {from}"
            );
        }
        assert!(
            !got.iter().any(|t| t.starts_with(&format!("{i}:"))),
            "member {i} got its own message"
        );
    }
    // Nobody gets anything extra.
    let m = &mut members[5];
    if let tungstenite::stream::MaybeTlsStream::Plain(t) = m.get_ref() {
        t.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
    }
    match m.read() {
        Err(tungstenite::Error::Io(e)) if e.kind() == std::io::ErrorKind::WouldBlock => {}
        Err(tungstenite::Error::Io(e)) if e.kind() == std::io::ErrorKind::TimedOut => {}
        other => panic!("extra message: {other:?}"),
    }
    let h = s.health();
    assert_eq!(h["ws_messages_in_total"].as_u64(), Some(15), "{h}");
    assert_eq!(h["ws_messages_out_total"].as_u64(), Some(15 * 99), "{h}");
}

#[test]
fn bad_room_ids_and_non_upgrades_are_refused() {
    let s = Server::start(&[]);
    let long = "a".repeat(65);
    for bad in [
        "/ws/relay/",
        "/ws/relay/a%20b",
        "/ws/relay/<x>",
        &format!("/ws/relay/{long}")[..],
    ] {
        let r = s.request(
            "GET",
            bad,
            &[
                ("Connection", "Upgrade"),
                ("Upgrade", "websocket"),
                ("Sec-WebSocket-Version", "13"),
                ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
            ],
            b"",
        );
        assert_eq!(r.status, 400, "{bad}: {}", r.body);
        assert!(
            r.json()["error"].as_str().unwrap().contains("room id"),
            "{}",
            r.body
        );
    }
    let r = s.request("GET", "/ws/relay/ok", &[], b"");
    assert_eq!(r.status, 426);
    let r = s.request(
        "GET",
        "/ws/relay/ok",
        &[
            ("Connection", "Upgrade"),
            ("Upgrade", "websocket"),
            ("Sec-WebSocket-Version", "8"),
            ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
        ],
        b"",
    );
    assert_eq!(r.status, 426);
    assert_eq!(r.header("Sec-WebSocket-Version"), Some("13"));
    let r = s.request(
        "GET",
        "/ws/relay/ok",
        &[
            ("Connection", "Upgrade"),
            ("Upgrade", "websocket"),
            ("Sec-WebSocket-Version", "13"),
        ],
        b"",
    );
    assert_eq!(r.status, 400);
    // The server is still fine.
    assert_eq!(s.get("/live").0, 200);
}

/// Payload `seq` of `sender`: 8 bytes of header (sender, seq) then bytes derived from both; text
/// payloads stay ASCII. About one in ten is 10–60 KB (several reads and partial writes).
fn payload(sender: u32, seq: u32) -> Message {
    let mix = sender.wrapping_mul(2_654_435_761) ^ seq.wrapping_mul(40_503);
    let len = if mix.is_multiple_of(10) {
        10_000 + (mix % 50_000) as usize
    } else {
        8 + (mix % 500) as usize
    };
    let text = mix.is_multiple_of(3);
    let mut b = format!("{sender:04}{seq:04}").into_bytes();
    b.extend((8..len).map(|i| {
        let v = (i as u32).wrapping_mul(31).wrapping_add(mix);
        if text {
            b'a' + (v % 26) as u8
        } else {
            v as u8
        }
    }));
    if text {
        Message::text(String::from_utf8(b).unwrap())
    } else {
        Message::binary(b)
    }
}

#[test]
fn concurrent_senders_arrive_complete_in_order_and_intact() {
    const SENDERS: u32 = 8;
    const EACH: u32 = 300;
    const RECEIVERS: usize = 4;
    // Integrity, not the slow-consumer policy: senders never read what others send.
    let s = Server::start_in(
        &crate::common::temp_dir("integrity"),
        &[],
        &[("WS_MAX_BUFFERED_BYTES", "134217728")],
    );
    let receivers: Vec<Ws> = (0..RECEIVERS)
        .map(|_| s.ws("/ws/relay/integrity"))
        .collect();
    let senders: Vec<Ws> = (0..SENDERS).map(|_| s.ws("/ws/relay/integrity")).collect();
    let total = RECEIVERS + SENDERS as usize;
    for _ in 0..200 {
        if s.health()["websockets"].as_u64() == Some(total as u64) {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(s.health()["websockets"].as_u64(), Some(total as u64));
    let readers: Vec<_> = receivers
        .into_iter()
        .enumerate()
        .map(|(r, mut ws)| {
            std::thread::spawn(move || {
                let mut next = vec![0u32; SENDERS as usize];
                for _ in 0..SENDERS * EACH {
                    let m = recv_data(&mut ws);
                    let data = m.clone().into_data();
                    let head = std::str::from_utf8(&data[..8]).expect("header");
                    let (from, seq): (u32, u32) =
                        (head[..4].parse().unwrap(), head[4..].parse().unwrap());
                    assert_eq!(seq, next[from as usize], "receiver {r}: order from {from}");
                    assert!(
                        m == payload(from, seq),
                        "receiver {r}: {from}:{seq} corrupted"
                    );
                    next[from as usize] += 1;
                }
                next
            })
        })
        .collect();
    let writers: Vec<_> = senders
        .into_iter()
        .enumerate()
        .map(|(i, mut ws)| {
            std::thread::spawn(move || {
                for seq in 0..EACH {
                    ws.send(payload(i as u32, seq)).unwrap();
                }
                ws // keep the socket open until every reader is done
            })
        })
        .collect();
    let _open: Vec<Ws> = writers.into_iter().map(|w| w.join().unwrap()).collect();
    for r in readers {
        assert_eq!(r.join().unwrap(), vec![EACH; SENDERS as usize]);
    }
    let h = s.health();
    assert_eq!(
        h["ws_messages_in_total"].as_u64(),
        Some(u64::from(SENDERS * EACH)),
        "{h}"
    );
    assert_eq!(h["slow_consumers_total"].as_u64(), Some(0), "{h}");
}

#[test]
fn a_client_that_has_its_101_gets_every_later_message() {
    let s = Server::start(&[]);
    let mut a = s.ws("/ws/relay/joined-at-101");
    for i in 0..150 {
        // Half of the newcomers are accepted by the shard that does not own the room and are
        // handed over: their 101 must still mean "in the room".
        let mut b = s.ws("/ws/relay/joined-at-101");
        a.send(Message::text(format!("hello {i}"))).unwrap();
        assert_eq!(
            recv_data(&mut b),
            Message::text(format!("hello {i}")),
            "newcomer {i}"
        );
        drop(b);
    }
}
