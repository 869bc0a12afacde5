//! Game rooms in a cluster: one owner node per room, players and spectators on any node.

use serde_json::json;

use crate::player::Player;
use crate::support::Cluster;

/// Open a chess room on `owner` with `watcher` in it as a spectator (the creator leaves its
/// white seat: an empty room would be closed) and return its id.
fn room_on(c: &Cluster, owner: usize, watcher: &mut Player) -> String {
    let mut creator = Player::guest_on(&c.nodes[owner]);
    let j = creator.req(json!({"type": "create_room", "kind": "chess", "name": "span"}));
    assert_eq!(j["type"], "joined", "{j}");
    let url = j["owner_url"].as_str().unwrap().to_string();
    assert_eq!(url, format!("http://{}", c.nodes[owner].addr), "{j}");
    let room = j["room"].as_str().unwrap().to_string();
    let j = watcher.req(json!({"type": "join_room", "room": room, "role": "spectator"}));
    assert_eq!(j["role"], "spectator", "{j}");
    creator.ok(json!({"type": "leave_room"}));
    room
}

#[test]
fn chess_with_both_players_off_the_owner_node_plays_to_checkmate_and_a_third_node_watches() {
    let c = Cluster::start(3, true);
    let mut watch0 = Player::guest_on(&c.nodes[0]);
    let room = room_on(&c, 0, &mut watch0);
    let mut white = Player::guest_on(&c.nodes[1]);
    let mut black = Player::guest_on(&c.nodes[2]);
    let mut watch2 = Player::guest_on(&c.nodes[2]);
    let j = white.req(json!({"type": "join_room", "room": room}));
    assert_eq!(
        (j["type"].as_str(), j["seat"].as_u64()),
        (Some("joined"), Some(0)),
        "{j}"
    );
    assert_eq!(
        j["owner_url"],
        json!(format!("http://{}", c.nodes[0].addr)),
        "joined names the owner's URL: {j}"
    );
    let j = black.req(json!({"type": "join_room", "room": room}));
    assert_eq!(j["seat"], 1, "{j}");
    let j = watch2.req(json!({"type": "join_room", "room": room, "role": "spectator"}));
    assert_eq!(j["role"], "spectator", "{j}");
    white.wait("game_started");
    // Fool's mate.
    let r = white.ok(json!({"type": "move", "move": "f2f3"}));
    assert_eq!(r["saved"], true, "{r}");
    black.ok(json!({"type": "move", "move": "e7e5"}));
    white.ok(json!({"type": "move", "move": "g2g4"}));
    // An illegal move is refused by the owner, across the hop.
    let e = white.req(json!({"type": "move", "move": "e1e3"}));
    assert_eq!(e["code"], "not_your_turn", "{e}");
    black.ok(json!({"type": "move", "move": "Qh4#"}));
    for p in [&mut white, &mut black, &mut watch0, &mut watch2] {
        assert_eq!(p.moves(4), ["f3", "e5", "g4", "Qh4#"]);
        let over = p.wait("game_over");
        assert_eq!(over["result"], "0-1", "{over}");
        assert_eq!(over["reason"], "checkmate", "{over}");
        assert!(over["pgn"].as_str().unwrap().contains("Qh4#"), "{over}");
    }
    // The state asked through a non-owner node is the owner's.
    let st = watch2.req(json!({"type": "state"}));
    assert_eq!(st["game"]["result"], "0-1", "{st}");
}
