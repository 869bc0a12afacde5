//! Game rooms in a cluster: one owner node per room, players and spectators on any node.

use serde_json::json;

use crate::common::player::Player;
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

/// Reconnect `p` (its socket was closed) through `s` with its seat's token; returns the
/// `reconnected` answer.
fn reconnect(
    p: &mut Player,
    s: &crate::common::Server,
    token: &str,
    last_seq: u64,
) -> serde_json::Value {
    *p = Player::connect(s, &p.token.clone(), p.id);
    p.req(json!({"type": "reconnect", "token": token, "last_seq": last_seq}))
}

#[test]
fn the_owner_killed_mid_game_the_game_resumes_on_another_node_from_the_last_acknowledged_move() {
    let mut c = Cluster::start(3, true);
    let mut watch0 = Player::guest_on(&c.nodes[0]);
    let room = room_on(&c, 0, &mut watch0);
    let mut white = Player::guest_on(&c.nodes[1]);
    let mut black = Player::guest_on(&c.nodes[2]);
    let wt = white.req(json!({"type": "join_room", "room": room}))["reconnect_token"]
        .as_str()
        .unwrap()
        .to_string();
    let bt = black.req(json!({"type": "join_room", "room": room}))["reconnect_token"]
        .as_str()
        .unwrap()
        .to_string();
    white.ok(json!({"type": "move", "move": "f2f3"}));
    let last = black.ok(json!({"type": "move", "move": "e7e5"}))["room_seq"]
        .as_u64()
        .unwrap();
    // kill -9 of the owner: the acknowledged moves are in its last durable snapshot.
    let _ = c.nodes[0].child.kill();
    let _ = c.nodes[0].child.wait();
    // The players' nodes see the owner's lease expire and tell them to reconnect.
    for p in [&mut white, &mut black] {
        let end = loop {
            match p.try_read() {
                Ok(_) => continue,
                Err(e) => break e,
            }
        };
        assert!(end.contains("Restart"), "told to reconnect: {end}");
    }
    let r = reconnect(&mut white, &c.nodes[1], &wt, last);
    assert_eq!(r["type"], "reconnected", "{r}");
    assert_eq!(r["state"]["game"]["moves"], json!(["f3", "e5"]), "{r}");
    let owner_url = r["owner_url"].as_str().unwrap().to_string();
    assert_ne!(
        owner_url,
        format!("http://{}", c.nodes[0].addr),
        "a live node owns it now"
    );
    let r = reconnect(&mut black, &c.nodes[2], &bt, last);
    assert_eq!(r["type"], "reconnected", "{r}");
    assert_eq!(r["owner_url"], json!(owner_url), "one owner for both: {r}");
    white.ok(json!({"type": "move", "move": "g2g4"}));
    black.ok(json!({"type": "move", "move": "Qh4#"}));
    for p in [&mut white, &mut black] {
        let over = p.wait("game_over");
        assert_eq!(over["result"], "0-1", "{over}");
    }
}

#[test]
fn an_owner_paused_past_its_lease_comes_back_as_no_second_owner() {
    let c = Cluster::start(3, true);
    // White plays on the owner's own node; black through another node.
    let mut white = Player::guest_on(&c.nodes[0]);
    let j = white.req(json!({"type": "create_room", "kind": "chess", "name": "fenced"}));
    let room = j["room"].as_str().unwrap().to_string();
    let wt = j["reconnect_token"].as_str().unwrap().to_string();
    let mut black = Player::guest_on(&c.nodes[1]);
    let bt = black.req(json!({"type": "join_room", "room": room}))["reconnect_token"]
        .as_str()
        .unwrap()
        .to_string();
    white.ok(json!({"type": "move", "move": "e2e4"}));
    let last = black.ok(json!({"type": "move", "move": "e7e5"}))["room_seq"]
        .as_u64()
        .unwrap();
    // The owner stops (no heartbeat) for twice its lease.
    c.nodes[0].signal(libc::SIGSTOP);
    let end = loop {
        match black.try_read() {
            Ok(_) => continue,
            Err(e) => break e,
        }
    };
    assert!(end.contains("Restart"), "told to reconnect: {end}");
    // Black gets back in: another node takes the room over from its snapshot.
    let r = reconnect(&mut black, &c.nodes[2], &bt, last);
    assert_eq!(r["type"], "reconnected", "{r}");
    let new_owner = r["owner_url"].as_str().unwrap().to_string();
    assert_ne!(new_owner, format!("http://{}", c.nodes[0].addr));
    std::thread::sleep(std::time::Duration::from_millis(1500));
    c.nodes[0].signal(libc::SIGCONT);
    // Woken up, the old owner must not act for the room: white's move there is refused
    // (or its socket closed), never applied.
    let stale = white.send(json!({"type": "move", "move": "g1f3"}));
    let refused = loop {
        match white.try_read() {
            Ok(m) if m["seq"] == json!(stale) => {
                assert_eq!(m["type"], "error", "a stale owner acknowledged a move: {m}");
                break m["code"].as_str().unwrap().to_string();
            }
            Ok(_) => continue,
            Err(e) => break e,
        }
    };
    assert!(
        ["room_moved", "not_in_room"].contains(&refused.as_str()) || refused.contains("Restart"),
        "{refused}"
    );
    // White ends up on the new owner, where the stale move never happened.
    let r = reconnect(&mut white, &c.nodes[1], &wt, last);
    assert_eq!(r["type"], "reconnected", "{r}");
    assert_eq!(r["owner_url"], json!(new_owner), "{r}");
    assert_eq!(r["state"]["game"]["moves"], json!(["e4", "e5"]), "{r}");
    white.ok(json!({"type": "move", "move": "g1f3"}));
    assert_eq!(black.wait("move")["san"], "Nf3");
}

#[test]
fn a_fourth_node_joining_mid_game_moves_no_live_room() {
    use engine::cluster::members::{Membership, Node};
    let c = Cluster::start(3, true);
    // A room that rendezvous hashing would give to the fourth node, once it is there.
    let four = Membership {
        me: "n0".into(),
        nodes: (0..4)
            .map(|i| Node {
                id: format!("n{i}"),
                url: String::new(),
            })
            .collect(),
    };
    let mut watch0 = Player::guest_on(&c.nodes[0]);
    let mut room = room_on(&c, 0, &mut watch0);
    for _ in 0..60 {
        if four.owner(&room) == "n3" {
            break;
        }
        watch0.ok(json!({"type": "leave_room"}));
        room = room_on(&c, 0, &mut watch0);
    }
    assert_eq!(four.owner(&room), "n3", "no room hashed to the fourth node");
    let owner = format!("http://{}", c.nodes[0].addr);
    let mut white = Player::guest_on(&c.nodes[1]);
    let mut black = Player::guest_on(&c.nodes[2]);
    white.req(json!({"type": "join_room", "room": room}));
    black.req(json!({"type": "join_room", "room": room}));
    white.ok(json!({"type": "move", "move": "d2d4"}));
    // The fourth node joins; every node sees it.
    let fourth = c.node("n3", &[]);
    let mut all = c;
    all.nodes.push(fourth);
    all.wait_members(4);
    // The game goes on where it was: same owner, the players' sockets untouched.
    black.ok(json!({"type": "move", "move": "d7d5"}));
    white.ok(json!({"type": "move", "move": "c2c4"}));
    let mut late = Player::guest_on(&all.nodes[3]);
    let j = late.req(json!({"type": "join_room", "room": room, "role": "spectator"}));
    assert_eq!(j["owner_url"], json!(owner), "{j}");
    assert_eq!(
        j["state"]["game"]["moves"],
        json!(["d4", "d5", "c4"]),
        "{j}"
    );
    assert_eq!(white.moves(3), ["d4", "d5", "c4"]);
}

#[test]
fn rooms_of_every_node_are_listed_on_any_node_and_a_live_game_is_answered_by_its_owner() {
    let c = Cluster::start(3, true);
    let mut creators: Vec<Player> = Vec::new();
    let mut ids = Vec::new();
    for i in 0..3 {
        let mut p = Player::guest_on(&c.nodes[i]);
        let j =
            p.req(json!({"type": "create_room", "kind": "chess", "name": format!("lobby-{i}")}));
        assert_eq!(j["type"], "joined", "{j}");
        ids.push(j["room"].as_str().unwrap().to_string());
        creators.push(p);
    }
    // Within about a second every node lists the three rooms, once each.
    let mut look = Player::guest_on(&c.nodes[1]);
    let listed = crate::support::wait_for(std::time::Duration::from_secs(5), || {
        let r = look.req(json!({"type": "list_rooms", "kind": "chess"}));
        let rooms: Vec<String> = r["rooms"]
            .as_array()?
            .iter()
            .filter_map(|x| x["room"].as_str().map(String::from))
            .filter(|id| ids.contains(id))
            .collect();
        (rooms.len() == 3).then_some(rooms)
    })
    .expect("the rooms of all three nodes are listed");
    let mut unique = listed.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 3, "{listed:?}");
    // A live game asked of a node that does not own it: redirected to its owner.
    let r = c.nodes[1].request("GET", &format!("/api/games/{}", ids[0]), &[], b"");
    assert_eq!(r.status, 307, "{}", r.body);
    let loc = r
        .headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("location"))
        .map(|(_, v)| v.clone())
        .expect("Location");
    assert_eq!(
        loc,
        format!("http://{}/api/games/{}", c.nodes[0].addr, ids[0])
    );
    let r = c.nodes[0].request("GET", &format!("/api/games/{}", ids[0]), &[], b"");
    assert_eq!(r.status, 200, "{}", r.body);
    // An unknown game is still 404 everywhere.
    let r = c.nodes[2].request("GET", "/api/games/c-0000000000", &[], b"");
    assert_eq!(r.status, 404, "{}", r.body);
}
