//! Session-level refusals on `/ws`: `hello` with a bad, oversized or other account's token,
//! `reconnect` with malformed tokens or the token of the room one is in, and binary frames.

use serde_json::{json, Value};
use tungstenite::Message;

use super::common::player::{self, Player};
use super::common::Server;
use super::{alive, assert_error, create_chess, raw_req, refused};

#[test]
fn hello_refuses_bad_oversized_and_other_account_tokens() {
    let s = Server::start(&[]);
    let (token, id) = player::guest(&s);

    // Before any valid hello: a bad token is `unauthenticated`, and so is everything else.
    let mut raw = s.ws("/ws");
    let r = raw_req(
        &mut raw,
        json!({"type": "hello", "token": "not-a-token", "seq": 1}),
    );
    assert_error(&r, "unauthenticated", 1);
    let r = raw_req(&mut raw, json!({"type": "state", "seq": 2}));
    assert_error(&r, "unauthenticated", 2);
    let long = "a".repeat(513);
    let r = raw_req(&mut raw, json!({"type": "hello", "token": long, "seq": 3}));
    assert_error(&r, "invalid_message", 3);
    let r = raw_req(&mut raw, json!({"type": "hello", "token": "", "seq": 4}));
    assert_error(&r, "invalid_message", 4);
    // The socket still takes a good hello.
    let r = raw_req(&mut raw, json!({"type": "hello", "token": token, "seq": 5}));
    assert_eq!(
        (r["type"].as_str(), r["seq"].as_u64()),
        (Some("welcome"), Some(5))
    );
    assert_eq!(r["user"]["id"], id, "{r}");
    let r = raw_req(&mut raw, json!({"type": "leave_room", "seq": 6}));
    assert_error(&r, "not_in_room", 6);

    // Said hello: a bad or oversized token changes nothing.
    let mut p = Player::guest_on(&s);
    refused(
        &mut p,
        json!({"type": "hello", "token": "x.y.z"}),
        "unauthenticated",
    );
    refused(
        &mut p,
        json!({"type": "hello", "token": "t".repeat(600)}),
        "invalid_message",
    );
    let w = p.req(json!({"type": "hello", "token": p.token.clone()}));
    assert_eq!(
        (w["type"].as_str(), &w["user"]["id"]),
        (Some("welcome"), &json!(p.id))
    );

    // In a room: another account's token is refused, the same account's is fine.
    let (room, _) = create_chess(&mut p);
    refused(
        &mut p,
        json!({"type": "hello", "token": token}),
        "already_in_room",
    );
    let st = p.req(json!({"type": "state"}));
    assert_eq!(
        (st["type"].as_str(), st["room"].as_str()),
        (Some("room_state"), Some(room.as_str()))
    );
    assert_eq!(st["seats"][0]["user_id"], p.id, "identity unchanged: {st}");
    let w = p.req(json!({"type": "hello", "token": p.token.clone()}));
    assert_eq!(w["type"], "welcome", "{w}");
    // Out of the room, switching account is allowed.
    p.ok(json!({"type": "leave_room"}));
    let w = p.req(json!({"type": "hello", "token": token}));
    assert_eq!(
        (w["type"].as_str(), &w["user"]["id"]),
        (Some("welcome"), &json!(id))
    );
    alive(&mut p);
}

#[test]
fn reconnect_refuses_malformed_tokens_and_the_room_one_is_in() {
    let s = Server::start(&[]);
    let mut c = s.client();
    let mut a = Player::on_shard(&s, &mut c, None, None);
    let hex = "0123456789abcdef0123456789abcdef";
    // No '.': refused by the protocol.
    for t in ["nodot", "c-1_0123456789abcdef"] {
        refused(
            &mut a,
            json!({"type": "reconnect", "token": t}),
            "invalid_token",
        );
    }
    // A '.' but not `<room>.<32 hex>`, or a room that does not exist.
    for t in [
        "a.b".to_string(),
        format!(".{hex}"),
        format!("c-1.{}", &hex[..31]),
        format!("c-1.{}", hex.replace('a', "z")),
        format!("no-such-room.{hex}"),
    ] {
        refused(
            &mut a,
            json!({"type": "reconnect", "token": t}),
            "invalid_token",
        );
    }
    refused(
        &mut a,
        json!({"type": "reconnect", "token": format!("{}.{hex}", "r".repeat(100))}),
        "invalid_message",
    );
    alive(&mut a);

    // The token of the room this socket is in.
    let (room, token) = create_chess(&mut a);
    refused(
        &mut a,
        json!({"type": "reconnect", "token": token}),
        "already_in_room",
    );
    refused(
        &mut a,
        json!({"type": "reconnect", "token": token, "last_seq": 0}),
        "already_in_room",
    );
    let st = a.req(json!({"type": "state"}));
    assert_eq!(st["room"], room.as_str(), "{st}");
    // The token was not used up: after the socket drops, it takes the seat back.
    let (t, id) = (a.token.clone(), a.id);
    drop(a);
    let mut again = Player::connect(&s, &t, id);
    let r = again.req(json!({"type": "reconnect", "token": token}));
    assert_eq!(
        (r["type"].as_str(), r["seat"].as_u64()),
        (Some("reconnected"), Some(0)),
        "{r}"
    );
    alive(&mut again);
}

#[test]
fn a_binary_frame_is_refused_typed_and_the_socket_stays_usable() {
    let s = Server::start(&[]);
    let mut p = Player::guest_on(&s);
    for payload in [
        vec![],
        vec![0u8, 1, 2, 255],
        br#"{"type":"ping","seq":9}"#.to_vec(),
    ] {
        p.ws.send(Message::binary(payload)).unwrap();
        let r = p.read();
        assert_eq!(r["type"], "error", "{r}");
        assert_eq!(r["code"], "invalid_message", "{r}");
        assert_eq!(r["seq"], Value::Null, "a binary message has no seq: {r}");
        alive(&mut p);
    }
    // Also inside a room (the socket may have moved to the room's shard).
    let (room, _) = create_chess(&mut p);
    p.ws.send(Message::binary(vec![7u8; 100])).unwrap();
    let r = p.read();
    assert_eq!(
        (r["type"].as_str(), r["code"].as_str()),
        (Some("error"), Some("invalid_message")),
        "{r}"
    );
    let st = p.req(json!({"type": "state"}));
    assert_eq!(st["room"], room.as_str(), "{st}");
    // Text garbage is the same typed refusal.
    p.send_raw("\u{0}\u{1}");
    let r = p.read();
    assert_eq!(
        (r["code"].as_str(), &r["seq"]),
        (Some("invalid_message"), &Value::Null),
        "{r}"
    );
    alive(&mut p);
}
