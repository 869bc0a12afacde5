//! Typed WebSocket (`/ws`) error answers through the real binary (2 shards) and real sockets:
//! `hello` with a bad, oversized or other account's token, `join_room`/`leave_room`/`state`
//! outside and inside rooms (already in a room, already seated from another socket, malformed
//! room ids), `create_room` while in a room, with bad names and over the per-IP creation rate,
//! `reconnect` with malformed tokens or the room one is in, a binary frame; matchmaking
//! (`queue`, `cancel_queue`), chess draws and resignation, and party-game state errors in the
//! sibling modules. Every refusal asserts its documented `code` (and the `seq` echo) and that
//! the socket keeps working afterwards.
#[path = "../common/mod.rs"]
mod common;

mod chess;
mod party;
mod queue;
mod session;

use serde_json::{json, Value};
use tungstenite::Message;

use common::player::Player;
use common::{Server, Ws};

/// [`Player::expect_error`], also asserting the error echoes the request's `seq`.
pub fn refused(p: &mut Player, v: Value, code: &str) -> Value {
    let r = p.expect_error(v, code);
    assert_eq!(r["seq"], json!(p.seq), "{r}");
    r
}

/// The socket still answers: a `ping` gets its `pong` (with the seq).
pub fn alive(p: &mut Player) {
    let r = p.req(json!({"type": "ping"}));
    assert_eq!(r["type"], "pong", "{r}");
}

/// A raw (not said hello) `/ws` socket: send `v`, read the next text message.
pub fn raw_req(ws: &mut Ws, v: Value) -> Value {
    ws.send(Message::text(v.to_string())).unwrap();
    let m = common::recv_data(ws);
    serde_json::from_str(m.to_text().unwrap()).unwrap()
}

/// The error `r` is: `code`, a message, and the echoed `seq`.
pub fn assert_error(r: &Value, code: &str, seq: u64) {
    assert_eq!(r["type"], "error", "{r}");
    assert_eq!(r["code"], code, "{r}");
    assert_eq!(r["seq"], seq, "{r}");
    assert!(r["message"].as_str().is_some_and(|m| !m.is_empty()), "{r}");
}

/// The `game` part of `p`'s room state (`state`).
pub fn game(p: &mut Player) -> Value {
    let st = p.req(json!({"type": "state"}));
    assert_eq!(st["type"], "room_state", "{st}");
    st["game"].clone()
}

/// Create a chess room as `p` (white): (room, reconnect token).
pub fn create_chess(p: &mut Player) -> (String, String) {
    let j = p.req(json!({"type": "create_room", "kind": "chess", "name": "duel"}));
    assert_eq!(j["type"], "joined", "{j}");
    (
        j["room"].as_str().unwrap().to_string(),
        j["reconnect_token"].as_str().unwrap().to_string(),
    )
}

/// A second socket said hello as `p`'s account, accepted by shard `shard`.
fn same_account_on(s: &Server, p: &Player, shard: usize) -> Player {
    for _ in 0..40 {
        let q = Player::connect(s, &p.token, p.id);
        if q.shard == shard {
            return q;
        }
    }
    panic!("could not land on shard {shard}");
}

#[test]
fn join_leave_and_state_refusals_outside_and_inside_rooms() {
    let s = Server::start(&[]);
    let mut c = s.client();
    let mut a = Player::on_shard(&s, &mut c, None, None);
    // Outside a room.
    refused(&mut a, json!({"type": "leave_room"}), "not_in_room");
    refused(&mut a, json!({"type": "state"}), "not_in_room");
    refused(&mut a, json!({"type": "resign"}), "not_in_room");
    // Malformed room ids: bad characters are `not_found`, empty or over 64 bytes are
    // refused by the protocol (`invalid_message`).
    for bad in ["a b", "<script>", "é", "room/1"] {
        refused(
            &mut a,
            json!({"type": "join_room", "room": bad}),
            "not_found",
        );
    }
    refused(
        &mut a,
        json!({"type": "join_room", "room": ""}),
        "invalid_message",
    );
    refused(
        &mut a,
        json!({"type": "join_room", "room": "r".repeat(65)}),
        "invalid_message",
    );
    refused(
        &mut a,
        json!({"type": "join_room", "room": "c-1", "role": "referee"}),
        "invalid_message",
    );
    alive(&mut a);

    // Inside a room: joining any other (or the same) room is `already_in_room`.
    let (room, _) = create_chess(&mut a);
    refused(
        &mut a,
        json!({"type": "join_room", "room": room}),
        "already_in_room",
    );
    refused(
        &mut a,
        json!({"type": "join_room", "room": "no-such-room"}),
        "already_in_room",
    );
    refused(
        &mut a,
        json!({"type": "join_room", "room": room, "role": "spectator"}),
        "already_in_room",
    );
    let st = a.req(json!({"type": "state"}));
    assert_eq!(st["type"], "room_state", "{st}");

    // The same account from a second socket (on each shard) cannot take its live seat.
    for shard in 0..2 {
        let mut twin = same_account_on(&s, &a, shard);
        refused(
            &mut twin,
            json!({"type": "join_room", "room": room}),
            "already_seated",
        );
        // ... but may watch.
        let j = twin.req(json!({"type": "join_room", "room": room, "role": "spectator"}));
        assert_eq!(
            (j["type"].as_str(), j["role"].as_str()),
            (Some("joined"), Some("spectator")),
            "{j}"
        );
        refused(
            &mut twin,
            json!({"type": "join_room", "room": room}),
            "already_in_room",
        );
        twin.ok(json!({"type": "leave_room"}));
        refused(&mut twin, json!({"type": "leave_room"}), "not_in_room");
        alive(&mut twin);
    }
    // The seat holder is unaffected and can still play once an opponent comes.
    let mut b = Player::on_shard(&s, &mut c, None, None);
    let jb = b.req(json!({"type": "join_room", "room": room}));
    assert_eq!(jb["seat"], 1, "{jb}");
    a.wait("game_started");
    a.ok(json!({"type": "move", "move": "e2e4"}));
    // Leaving works, and afterwards the room actions are `not_in_room` again.
    a.ok(json!({"type": "leave_room"}));
    refused(&mut a, json!({"type": "state"}), "not_in_room");
    refused(&mut a, json!({"type": "leave_room"}), "not_in_room");
    alive(&mut a);
}

#[test]
fn create_room_refuses_while_in_a_room_and_bad_names() {
    let s = Server::start(&[]);
    let mut p = Player::guest_on(&s);
    for name in [
        json!(""),
        json!("   "),
        json!("x".repeat(33)),
        json!("a\u{7}b"),
        json!("tab\there"),
    ] {
        for kind in ["chess", "party"] {
            refused(
                &mut p,
                json!({"type": "create_room", "kind": kind, "name": name}),
                "invalid_message",
            );
        }
    }
    // Wrong shapes are `invalid_message`, out-of-range settings `invalid_settings`.
    refused(
        &mut p,
        json!({"type": "create_room", "kind": "golf", "name": "g"}),
        "invalid_message",
    );
    refused(
        &mut p,
        json!({"type": "create_room", "kind": "chess", "name": 5}),
        "invalid_message",
    );
    refused(
        &mut p,
        json!({"type": "create_room", "kind": "chess", "name": "g",
            "settings": {"initial_secs": 10_801}}),
        "invalid_settings",
    );
    refused(
        &mut p,
        json!({"type": "create_room", "kind": "party", "name": "g",
            "settings": {"slots": 1, "turn_secs": 5}}),
        "invalid_settings",
    );
    refused(&mut p, json!({"type": "state"}), "not_in_room");
    // 32 characters is the limit (and is fine).
    let j = p.req(json!({"type": "create_room", "kind": "party", "name": "x".repeat(32)}));
    assert_eq!(j["type"], "joined", "{j}");
    for kind in ["chess", "party"] {
        refused(
            &mut p,
            json!({"type": "create_room", "kind": kind, "name": "again"}),
            "already_in_room",
        );
    }
    let st = p.req(json!({"type": "state"}));
    assert_eq!(st["room"], j["room"], "still in the first room: {st}");
    p.ok(json!({"type": "leave_room"}));
    create_chess(&mut p);
}

#[test]
fn room_creation_over_the_per_ip_rate_on_ws_is_rate_limited() {
    let s = Server::start_in(
        &common::temp_dir("rc-ge-rate"),
        &[],
        &[("MAX_ROOM_CREATES_PER_IP_PER_MIN", "2")],
    );
    let mut c = s.client();
    let mut a = Player::on_shard(&s, &mut c, None, None);
    let mut b = Player::on_shard(&s, &mut c, None, Some(a.shard));
    // Two creations from this address (across both shards) are allowed ...
    create_chess(&mut a);
    a.ok(json!({"type": "leave_room"}));
    let j = b.req(json!({"type": "create_room", "kind": "party", "name": "p"}));
    assert_eq!(j["type"], "joined", "{j}");
    // ... the third is refused on either shard, and nothing else is.
    let r = refused(
        &mut a,
        json!({"type": "create_room", "kind": "chess", "name": "c"}),
        "rate_limited",
    );
    assert!(r["message"].as_str().unwrap().contains("retry"), "{r}");
    let mut x = Player::on_shard(&s, &mut c, Some(b.shard), None);
    refused(
        &mut x,
        json!({"type": "create_room", "kind": "party", "name": "p"}),
        "rate_limited",
    );
    refused(&mut a, json!({"type": "state"}), "not_in_room");
    let list = a.req(json!({"type": "list_rooms"}));
    assert_eq!(list["type"], "rooms", "{list}");
    // Joining an existing room is not a creation.
    let room = j["room"].as_str().unwrap();
    for p in [&mut a, &mut x] {
        let jj = p.req(json!({"type": "join_room", "room": room}));
        assert_eq!(jj["type"], "joined", "{jj}");
        alive(p);
    }
    alive(&mut b);
}
