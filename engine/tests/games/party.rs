//! The party game: actions are authorized, settings lock at the start.

use serde_json::json;

use super::common::player::Player;
use super::common::{self, Server};

#[test]
fn party_actions_are_authorized_and_settings_lock_at_start() {
    // MAX_ROOMS=2 over 2 shards: one game room per shard.
    let s = Server::start_in(&common::temp_dir("rc-party"), &[], &[("MAX_ROOMS", "2")]);
    let mut c = s.client();
    let mut owner = Player::on_shard(&s, &mut c, None, None);
    let mut p2 = Player::on_shard(&s, &mut c, None, Some(owner.shard));
    let mut p3 = Player::on_shard(&s, &mut c, None, None);
    let j = owner.req(
        json!({"type": "create_room", "kind": "party", "name": "fun",
        "settings": {"slots": 3, "turn_secs": 1}}),
    );
    let room = j["room"].as_str().unwrap().to_string();
    let mut extra = Player::on_shard(&s, &mut c, Some(owner.shard), None);
    extra.expect_error(
        json!({"type": "create_room", "kind": "chess", "name": "x"}),
        "too_many_rooms",
    );
    let list = extra.req(json!({"type": "list_rooms", "kind": "party"}));
    assert!(list["rooms"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["room"] == room));
    extra.expect_error(
        json!({"type": "join_room", "room": "no-such-room"}),
        "not_found",
    );
    extra.expect_error(json!({"type": "start"}), "not_in_room");
    for p in [&mut p2, &mut p3] {
        let r = p.req(json!({"type": "join_room", "room": room}));
        assert_eq!(r["type"], "joined", "{r}");
    }
    let settings = json!({"slots": 3, "turn_secs": 2, "rounds": 0});
    p2.expect_error(
        json!({"type": "update_settings", "settings": settings}),
        "forbidden",
    );
    p2.expect_error(json!({"type": "start"}), "forbidden");
    owner.ok(json!({"type": "claim_slot", "slot": 0}));
    let c2 = p2.ok(json!({"type": "claim_slot", "slot": 1, "name": "<script>x</script>"}));
    assert!(c2["reconnect_token"].as_str().is_some());
    p3.expect_error(json!({"type": "claim_slot", "slot": 1}), "slot_taken");
    p3.ok(json!({"type": "claim_slot", "slot": 2}));
    let st = p3.req(json!({"type": "state"}));
    let name = st["game"]["slots"][1]["name"].as_str().unwrap();
    assert!(!name.contains('<'), "{name}");
    owner.ok(json!({"type": "update_settings", "settings": settings}));
    owner.ok(json!({"type": "start"}));
    owner.expect_error(
        json!({"type": "update_settings", "settings": settings}),
        "settings_locked",
    );
    for action in ["pause", "reset"] {
        p2.expect_error(json!({"type": action}), "forbidden");
    }
    p3.expect_error(json!({"type": "eliminate", "slot": 0}), "forbidden");
    // Only the active slot's player switches (slot 0 = owner is active).
    p2.expect_error(json!({"type": "switch"}), "forbidden");
    owner.ok(json!({"type": "switch"}));
    owner.expect_error(json!({"type": "switch"}), "forbidden");
    p2.ok(json!({"type": "switch"}));
    // The tick times the turn out (turn_secs = 2).
    let timeout = loop {
        let m = p3.wait("party");
        if m["action"] == "turn_timeout" {
            break m;
        }
    };
    assert_eq!(timeout["slot"], 2);
    owner.ok(json!({"type": "pause"}));
    owner.ok(json!({"type": "resume"}));
    owner.ok(json!({"type": "eliminate", "slot": 1}));
    owner.ok(json!({"type": "eliminate", "slot": 2}));
    let st = owner.req(json!({"type": "state"}));
    assert_eq!(st["game"]["phase"], "finished");
    assert_eq!(st["game"]["winner"], 0);
    owner.ok(json!({"type": "reset"}));
    owner.ok(json!({"type": "update_settings", "settings": settings}));
    p2.expect_error(json!({"type": "move", "move": "e2e4"}), "wrong_game");
}
