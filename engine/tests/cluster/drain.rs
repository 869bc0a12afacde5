//! A node drained (SIGTERM): its clients are sent to the other nodes, its game rooms move
//! there with every acknowledged move, and the node leaves the cluster at once.

use std::time::Duration;

use serde_json::{json, Value};

use crate::common::player::Player;
use crate::support::{wait_for, Cluster};

/// Read until the socket closes; the messages seen and the close.
fn until_closed(p: &mut Player) -> (Vec<Value>, String) {
    let mut seen = Vec::new();
    loop {
        match p.try_read() {
            Ok(m) => seen.push(m),
            Err(e) => return (seen, e),
        }
    }
}

#[test]
fn a_drained_node_sends_its_clients_elsewhere_and_its_game_rooms_move_with_every_acknowledged_move()
{
    let mut c = Cluster::start(3, true);
    let urls: Vec<String> = c
        .nodes
        .iter()
        .map(|n| format!("http://{}", n.addr))
        .collect();
    // White plays on the owner node 0; black and a spectator through node 1.
    let mut white = Player::guest_on(&c.nodes[0]);
    let j = white.req(json!({"type": "create_room", "kind": "chess", "name": "drained"}));
    assert_eq!(j["owner_url"], json!(urls[0]), "{j}");
    let room = j["room"].as_str().unwrap().to_string();
    let wt = j["reconnect_token"].as_str().unwrap().to_string();
    let mut black = Player::guest_on(&c.nodes[1]);
    let bt = black.req(json!({"type": "join_room", "room": room}))["reconnect_token"]
        .as_str()
        .unwrap()
        .to_string();
    let mut watch = Player::guest_on(&c.nodes[1]);
    watch.req(json!({"type": "join_room", "room": room, "role": "spectator"}));
    white.ok(json!({"type": "move", "move": "e2e4"}));
    black.ok(json!({"type": "move", "move": "e7e5"}));
    let last = white.ok(json!({"type": "move", "move": "g1f3"}))["room_seq"]
        .as_u64()
        .unwrap();
    // A relay member on the drained node is pointed elsewhere too.
    let (mut relay, _) = tungstenite::connect(c.nodes[0].ws_url("/ws/relay/drain-r")).unwrap();
    c.nodes[0].signal(libc::SIGTERM);
    // White, on the drained node: server_shutdown naming another node, then 1001.
    let (seen, end) = until_closed(&mut white);
    let notice = seen
        .iter()
        .find(|m| m["type"] == "server_shutdown")
        .unwrap_or_else(|| panic!("no server_shutdown: {seen:?} {end}"));
    let to = notice["reconnect_url"].as_str().unwrap().to_string();
    assert!(to == urls[1] || to == urls[2], "another node: {notice}");
    assert!(end.contains("Away"), "1001: {end}");
    let relay_notice = loop {
        match relay.read().unwrap() {
            tungstenite::Message::Text(t) => break serde_json::from_str::<Value>(&t).unwrap(),
            _ => continue,
        }
    };
    assert_eq!(relay_notice["type"], "server_shutdown", "{relay_notice}");
    assert!(relay_notice["reconnect_url"].is_string(), "{relay_notice}");
    // Black and the spectator, whose room was on the drained node: told to reconnect.
    for p in [&mut black, &mut watch] {
        let (_, end) = until_closed(p);
        assert!(end.contains("Restart"), "1012: {end}");
    }
    // The drained node exits cleanly and the others drop it at once (no lease to wait out).
    assert_eq!(c.nodes[0].wait_exit(Duration::from_secs(20)), Some(0));
    for s in &c.nodes[1..] {
        wait_for(Duration::from_secs(3), || {
            (s.health()["cluster"]["nodes"].as_array().map(Vec::len) == Some(2)).then_some(())
        })
        .expect("the drained node left the view");
    }
    // White reconnects where it was told: the game is there with every acknowledged move.
    let node = if to == urls[1] { 1 } else { 2 };
    white = Player::connect(&c.nodes[node], &white.token.clone(), white.id);
    let r = white.req(json!({"type": "reconnect", "token": wt, "last_seq": last}));
    assert_eq!(r["type"], "reconnected", "{r}");
    assert_eq!(
        r["state"]["game"]["moves"],
        json!(["e4", "e5", "Nf3"]),
        "{r}"
    );
    let owner = r["owner_url"].as_str().unwrap().to_string();
    assert_ne!(owner, urls[0], "{r}");
    black = Player::connect(&c.nodes[1], &black.token.clone(), black.id);
    let r = black.req(json!({"type": "reconnect", "token": bt, "last_seq": last}));
    assert_eq!(r["type"], "reconnected", "{r}");
    assert_eq!(r["owner_url"], json!(owner), "one owner: {r}");
    black.ok(json!({"type": "move", "move": "b8c6"}));
    assert_eq!(white.wait("move")["san"], "Nc6");
    c.nodes.remove(0);
}
