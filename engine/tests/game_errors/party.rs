//! Party-game refusals on `/ws` not covered by `games/party.rs`: slots out of range, a second
//! claim, bad names, phase errors (`invalid_state`), invalid settings, chess actions in a party
//! room, and a slot reserved for a matched player.

use serde_json::{json, Value};

use super::common::player::Player;
use super::common::Server;
use super::{alive, game, refused};

#[test]
fn party_slot_phase_and_settings_refusals() {
    let s = Server::start(&[]);
    let mut c = s.client();
    let mut owner = Player::on_shard(&s, &mut c, None, None);
    let mut p2 = Player::on_shard(&s, &mut c, None, Some(owner.shard));
    let j = owner.req(
        json!({"type": "create_room", "kind": "party", "name": "fun",
        "settings": {"slots": 3, "turn_secs": 600}}),
    );
    assert_eq!(j["type"], "joined", "{j}");
    let room = j["room"].as_str().unwrap().to_string();
    let jp = p2.req(json!({"type": "join_room", "room": room}));
    assert_eq!(jp["type"], "joined", "{jp}");

    // Lobby: nothing to start, switch, pause, resume, reset or eliminate.
    refused(&mut owner, json!({"type": "start"}), "invalid_state");
    for ty in ["switch", "pause", "resume", "reset"] {
        refused(&mut owner, json!({"type": ty}), "invalid_state");
    }
    refused(
        &mut owner,
        json!({"type": "eliminate", "slot": 0}),
        "invalid_state",
    );
    refused(&mut p2, json!({"type": "switch"}), "invalid_state");

    // Claims: out of range, bad names, a second claim.
    for slot in [3, 8, 1000] {
        refused(
            &mut owner,
            json!({"type": "claim_slot", "slot": slot}),
            "no_such_slot",
        );
    }
    refused(
        &mut owner,
        json!({"type": "claim_slot", "slot": -1}),
        "invalid_message",
    );
    for name in [
        json!(""),
        json!("  "),
        json!("n".repeat(33)),
        json!("a\u{1b}b"),
        json!(7),
    ] {
        refused(
            &mut owner,
            json!({"type": "claim_slot", "slot": 0, "name": name}),
            "invalid_message",
        );
    }
    let ok = owner.ok(json!({"type": "claim_slot", "slot": 0, "name": "Boss"}));
    assert_eq!(ok["seat"], 0, "{ok}");
    for slot in [0, 1, 2, 9] {
        // A claimed account's second claim (even out of range) is `already_seated`.
        refused(
            &mut owner,
            json!({"type": "claim_slot", "slot": slot}),
            "already_seated",
        );
    }
    assert_eq!(game(&mut owner)["slots"][0]["name"], "Boss");

    // One claimed slot is not enough to start.
    refused(&mut owner, json!({"type": "start"}), "invalid_state");

    // Settings: out of range is `invalid_settings`, the wrong shape `invalid_message`.
    for bad in [
        json!({"slots": 1, "turn_secs": 5}),
        json!({"slots": 9, "turn_secs": 5}),
        json!({"slots": 3, "turn_secs": 0}),
        json!({"slots": 3, "turn_secs": 3601}),
        json!({"slots": 3, "turn_secs": 5, "rounds": 101}),
    ] {
        refused(
            &mut owner,
            json!({"type": "update_settings", "settings": bad}),
            "invalid_settings",
        );
    }
    for bad in [
        json!({"slots": 300, "turn_secs": 5}),
        json!({"slots": 3}),
        json!({"slots": 3, "turn_secs": 5, "colour": "red"}),
        json!("many"),
    ] {
        refused(
            &mut owner,
            json!({"type": "update_settings", "settings": bad}),
            "invalid_message",
        );
    }
    p2.ok(json!({"type": "claim_slot", "slot": 2}));
    // Slot 2 is claimed: it may not be removed.
    refused(
        &mut owner,
        json!({"type": "update_settings", "settings": {"slots": 2, "turn_secs": 5}}),
        "invalid_settings",
    );
    let g = game(&mut owner);
    assert_eq!(
        (
            g["settings"]["slots"].as_u64(),
            g["slots"].as_array().map(Vec::len)
        ),
        (Some(3), Some(3)),
        "{g}"
    );

    // Chess actions in a party room.
    for ty in ["offer_draw", "accept_draw", "decline_draw", "resign"] {
        refused(&mut p2, json!({"type": ty}), "wrong_game");
    }
    refused(
        &mut owner,
        json!({"type": "move", "move": "e2e4"}),
        "wrong_game",
    );

    // Running: start again, resume, claims, bad slots.
    owner.ok(json!({"type": "start"}));
    refused(&mut owner, json!({"type": "start"}), "invalid_state");
    refused(&mut owner, json!({"type": "resume"}), "invalid_state");
    refused(
        &mut owner,
        json!({"type": "eliminate", "slot": 3}),
        "no_such_slot",
    );
    refused(
        &mut owner,
        json!({"type": "eliminate", "slot": 99}),
        "no_such_slot",
    );
    // Slot 1 was never claimed: it is not in the game.
    refused(
        &mut owner,
        json!({"type": "eliminate", "slot": 1}),
        "invalid_state",
    );
    let mut late = Player::on_shard(&s, &mut c, None, None);
    let jl = late.req(json!({"type": "join_room", "room": room}));
    assert_eq!(jl["type"], "joined", "{jl}");
    refused(
        &mut late,
        json!({"type": "claim_slot", "slot": 1}),
        "invalid_state",
    );

    // Paused: pause again and switch are `invalid_state`.
    owner.ok(json!({"type": "pause"}));
    refused(&mut owner, json!({"type": "pause"}), "invalid_state");
    refused(&mut owner, json!({"type": "switch"}), "invalid_state");
    refused(&mut owner, json!({"type": "start"}), "invalid_state");
    owner.ok(json!({"type": "resume"}));
    owner.ok(json!({"type": "switch"}));
    assert_eq!(game(&mut p2)["active"], 2);

    // Finished: nothing runs any more.
    owner.ok(json!({"type": "eliminate", "slot": 2}));
    let g = game(&mut owner);
    assert_eq!(
        (g["phase"].as_str(), g["winner"].as_u64()),
        (Some("finished"), Some(0)),
        "{g}"
    );
    for ty in ["switch", "pause", "resume", "start"] {
        refused(&mut owner, json!({"type": ty}), "invalid_state");
    }
    refused(
        &mut owner,
        json!({"type": "eliminate", "slot": 0}),
        "invalid_state",
    );
    owner.ok(json!({"type": "reset"}));
    refused(&mut owner, json!({"type": "reset"}), "invalid_state");
    for p in [&mut owner, &mut p2, &mut late] {
        alive(p);
    }
}

#[test]
fn a_slot_reserved_for_a_matched_player_is_forbidden_to_others() {
    let s = Server::start(&[]);
    let mut c = s.client();
    // Two parties of two fill a `party` match (2 teams × 2): a party room with 4 reserved slots.
    let mut p = Player::on_shard(&s, &mut c, None, None);
    let mut r = Player::on_shard(&s, &mut c, None, Some(p.shard));
    let (pt, pid) = c.guest();
    let (rt, _) = c.guest();
    let qp = p.req(json!({"type": "queue", "mode": "party", "region": "ge-rsv", "party": [pt]}));
    assert_eq!(qp["type"], "queued", "{qp}");
    let qr = r.req(json!({"type": "queue", "mode": "party", "region": "ge-rsv", "party": [rt]}));
    assert_eq!(qr["type"], "queued", "{qr}");
    let mp = p.wait("match_found");
    let mr = r.wait("match_found");
    assert_eq!(mp["room"], mr["room"], "{mp} {mr}");
    let room = mp["room"].as_str().unwrap().to_string();

    // An outsider joins (as a spectator: nothing is reserved for it) and may claim nothing.
    let mut x = Player::on_shard(&s, &mut c, None, None);
    let jx = x.req(json!({"type": "join_room", "room": room}));
    assert_eq!(
        (jx["type"].as_str(), &jx["seat"]),
        (Some("joined"), &Value::Null),
        "{jx}"
    );
    for slot in 0..4 {
        refused(
            &mut x,
            json!({"type": "claim_slot", "slot": slot}),
            "forbidden",
        );
    }
    // Out of range is not reserved: `no_such_slot`.
    refused(
        &mut x,
        json!({"type": "claim_slot", "slot": 4}),
        "no_such_slot",
    );

    // A matched player gets its own slot on joining, and may not take another's.
    let jp = p.req(json!({"type": "join_room", "room": room}));
    assert_eq!(jp["role"], "player", "{jp}");
    let mine = jp["seat"].as_u64().unwrap();
    for slot in (0..4).filter(|s| *s != mine) {
        refused(
            &mut p,
            json!({"type": "claim_slot", "slot": slot}),
            "forbidden",
        );
    }
    refused(
        &mut p,
        json!({"type": "claim_slot", "slot": mine}),
        "already_seated",
    );
    // The party member (matched through p's ticket) takes its reserved slot with its own socket.
    let mut m = Player::connect(&s, &pt, pid);
    let jm = m.req(json!({"type": "join_room", "room": room}));
    assert_eq!(jm["role"], "player", "{jm}");
    assert_ne!(jm["seat"], jp["seat"], "{jm}");
    let st = game(&mut x);
    let taken = st["slots"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["user"].is_i64())
        .count();
    assert_eq!(taken, 2, "{st}");
    assert_eq!(st["phase"], "lobby", "{st}");
    for q in [&mut p, &mut r, &mut x, &mut m] {
        alive(q);
    }
}
