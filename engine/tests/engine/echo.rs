//! The test-only echo WebSocket `GET /ws/_test/echo` (the Autobahn gate's endpoint): absent
//! without test hooks, an echo of every data message with them.

use std::io::{Read, Write};

use tungstenite::Message;

use crate::common::{parse_response, recv_close, recv_data, temp_dir, upgrade_request, Server};

const PATH: &str = "/ws/_test/echo";

#[test]
fn echo_endpoint_is_404_without_test_hooks() {
    let s = Server::start(&[]);
    let mut c = s.connect();
    c.write_all(&upgrade_request(PATH)).unwrap();
    let mut raw = Vec::new();
    let _ = c.read_to_end(&mut raw);
    let r = parse_response(&raw).expect("an HTTP answer");
    assert_eq!(r.status, 404, "{}", r.body);
    assert_eq!(s.get(PATH).0, 404);
}

#[test]
fn echo_endpoint_echoes_text_and_binary_with_test_hooks() {
    let s = Server::start_in(&temp_dir("echo"), &["--test-hooks=1"], &[]);
    let mut ws = s.ws(PATH);
    ws.send(Message::text("héllo, echo")).unwrap();
    assert_eq!(recv_data(&mut ws), Message::text("héllo, echo"));
    let bytes: Vec<u8> = (0..=255u8).cycle().take(60_000).collect();
    ws.send(Message::binary(bytes.clone())).unwrap();
    assert_eq!(recv_data(&mut ws), Message::binary(bytes));
    ws.send(Message::Ping(b"p".to_vec().into())).unwrap();
    match ws.read().unwrap() {
        Message::Pong(p) => assert_eq!(&p[..], b"p"),
        m => panic!("expected the pong, got {m:?}"),
    }
    // Protocol limits are the relay's: a message over 64 KiB is closed with 1009.
    ws.send(Message::binary(vec![0u8; 64 * 1024 + 1])).unwrap();
    assert_eq!(recv_close(&mut ws), Some(1009));
    // The close handshake echoes the client's code.
    let mut ws = s.ws(PATH);
    ws.close(Some(tungstenite::protocol::CloseFrame {
        code: 4000u16.into(),
        reason: "done".into(),
    }))
    .unwrap();
    assert_eq!(recv_close(&mut ws), Some(4000));
}
