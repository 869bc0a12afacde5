//! Matchmaking across nodes: tickets in Redis, each queue served by one node under a lease.

use std::time::Duration;

use serde_json::{json, Value};

use crate::common::player::{guest, Player};
use crate::support::{wait_for, Cluster};

/// The nodes whose `/health` says they serve `queue`.
fn servers_of(c: &Cluster, alive: &[usize], queue: &str) -> Vec<usize> {
    alive
        .iter()
        .copied()
        .filter(|&i| {
            let h = c.nodes[i].health();
            h["cluster"]["queues"]
                .as_array()
                .is_some_and(|q| q.iter().any(|k| k == queue))
        })
        .collect()
}

#[test]
fn two_players_queued_on_different_nodes_are_matched_and_play_through_their_own_nodes() {
    let c = Cluster::start(3, true);
    let mut a = Player::guest_on(&c.nodes[1]);
    let mut b = Player::guest_on(&c.nodes[2]);
    let qa = a.req(json!({"type": "queue", "mode": "chess", "region": "eu"}));
    assert_eq!(qa["type"], "queued", "{qa}");
    let qb = b.req(json!({"type": "queue", "mode": "chess", "region": "eu"}));
    assert_eq!(qb["type"], "queued", "{qb}");
    // The same user cannot wait twice, whichever node it asks.
    let mut a2 = Player::connect(&c.nodes[0], &a.token.clone(), a.id);
    let again = a2.req(json!({"type": "queue", "mode": "chess", "region": "eu"}));
    assert_eq!(again["code"], "already_queued", "{again}");
    let fa = a.wait("match_found");
    let fb = b.wait("match_found");
    assert_eq!(fa["room"], fb["room"], "{fa} {fb}");
    assert_eq!(fa["ticket"], qa["ticket"], "{fa}");
    assert_eq!(fb["ticket"], qb["ticket"], "{fb}");
    let mut seats = [fa["seats"][0].as_u64(), fb["seats"][0].as_u64()];
    seats.sort();
    assert_eq!(seats, [Some(0), Some(1)], "{fa} {fb}");
    let owner = fa["owner_url"].as_str().unwrap().to_string();
    assert_eq!(fb["owner_url"], json!(owner), "{fb}");
    assert!(
        c.nodes
            .iter()
            .any(|n| owner == format!("http://{}", n.addr)),
        "owner_url names a node: {owner}"
    );
    // Both join their match room through their own nodes and play it.
    let room = fa["room"].as_str().unwrap().to_string();
    let (mut white, mut black) = if fa["seats"][0] == 0 { (a, b) } else { (b, a) };
    for p in [&mut white, &mut black] {
        let j = p.req(json!({"type": "join_room", "room": room}));
        assert_eq!(j["type"], "joined", "{j}");
        assert_eq!(j["owner_url"], json!(owner), "{j}");
    }
    white.wait("game_started");
    white.ok(json!({"type": "move", "move": "e2e4"}));
    assert_eq!(black.wait("move")["san"], "e4");
    // The tickets' status, polled from a third node, is the match.
    let tok = white.token.clone();
    let tid = if fa["seats"][0] == 0 { &qa } else { &qb }["ticket"]
        .as_str()
        .unwrap()
        .to_string();
    let mut http = c.nodes[0].client();
    let r = http
        .get_auth(&format!("/api/matchmaking/tickets/{tid}"), Some(&tok))
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    let v: Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(v["status"], "matched", "{v}");
    assert_eq!(v["match"]["room"], json!(room), "{v}");
    // Exactly one node served the queue.
    assert_eq!(servers_of(&c, &[0, 1, 2], "mm:chess:eu").len(), 1);
}

#[test]
fn a_dying_nodes_queue_moves_to_another_node_within_the_lease_and_keeps_its_tickets() {
    let mut c = Cluster::start(3, true);
    // A ticket enqueued over HTTP on node 0: node 0 serves the new queue.
    let (ta, _) = guest(&c.nodes[0]);
    let mut http = c.nodes[0].client();
    let r = http
        .post_json(
            "/api/matchmaking/tickets",
            Some(&ta),
            &json!({"mode": "chess", "region": "moves"}),
        )
        .unwrap();
    assert_eq!(r.status, 201, "{}", r.body);
    let ticket: Value = serde_json::from_str(&r.body).unwrap();
    let ticket = ticket["ticket"].as_str().unwrap().to_string();
    let queue = "mm:chess:moves";
    wait_for(Duration::from_secs(5), || {
        (servers_of(&c, &[0, 1, 2], queue) == [0]).then_some(())
    })
    .expect("node 0 serves the queue it created");
    // kill -9 of the serving node.
    let _ = c.nodes[0].child.kill();
    let _ = c.nodes[0].child.wait();
    let killed = std::time::Instant::now();
    let moved = wait_for(Duration::from_secs(8), || {
        let s = servers_of(&c, &[1, 2], queue);
        (s.len() == 1).then(|| s[0])
    })
    .expect("a live node serves the queue");
    let took = killed.elapsed();
    assert!(
        took < Duration::from_millis(1500 + 2_000),
        "moved within the lease (1.5 s) and a heartbeat or so: {took:?}"
    );
    // The ticket queued on the dead node was not lost: a player on the new server's node
    // is matched with it.
    let mut b = Player::guest_on(&c.nodes[moved]);
    let q = b.req(json!({"type": "queue", "mode": "chess", "region": "moves"}));
    assert_eq!(q["type"], "queued", "{q}");
    let found = b.wait("match_found");
    let other = 3 - moved;
    let mut poll = c.nodes[other].client();
    let v = wait_for(Duration::from_secs(5), || {
        let r = poll
            .get_auth(&format!("/api/matchmaking/tickets/{ticket}"), Some(&ta))
            .ok()?;
        let v: Value = serde_json::from_str(&r.body).ok()?;
        (v["status"] == "matched").then_some(v)
    })
    .expect("the HTTP ticket is matched");
    assert_eq!(v["match"]["room"], found["room"], "{v} {found}");
    // Cancelling a matched ticket finds nothing queued.
    let r = poll
        .send(
            "DELETE",
            &format!("/api/matchmaking/tickets/{ticket}"),
            &[("Authorization", &format!("Bearer {ta}"))],
            b"",
        )
        .unwrap();
    assert_eq!(r.status, 404, "{}", r.body);
}

#[test]
fn cancel_from_another_node_and_matchmaking_without_redis_says_unavailable() {
    let mut c = Cluster::start(2, true);
    let mut a = Player::guest_on(&c.nodes[0]);
    let q = a.req(json!({"type": "queue", "mode": "chess", "region": "solo"}));
    assert_eq!(q["type"], "queued", "{q}");
    let ticket = q["ticket"].as_str().unwrap().to_string();
    let mut http = c.nodes[1].client();
    let auth = format!("Bearer {}", a.token);
    let r = http
        .send(
            "DELETE",
            &format!("/api/matchmaking/tickets/{ticket}"),
            &[("Authorization", &auth)],
            b"",
        )
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    let r = http
        .get_auth(
            &format!("/api/matchmaking/tickets/{ticket}"),
            Some(&a.token),
        )
        .unwrap();
    let v: Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(v["status"], "cancelled", "{v}");
    // Someone else's ticket is not yours to read.
    let (other, _) = guest(&c.nodes[1]);
    let r = http
        .get_auth(&format!("/api/matchmaking/tickets/{ticket}"), Some(&other))
        .unwrap();
    assert_eq!(r.status, 404, "{}", r.body);
    // Redis gone: queueing is refused with a clear error, the node keeps serving.
    c.redis.kill();
    wait_for(Duration::from_secs(5), || {
        (c.nodes[0].health()["redis"] == false).then_some(())
    })
    .expect("the node sees Redis down");
    let e = a.req(json!({"type": "queue", "mode": "chess", "region": "solo"}));
    assert_eq!(e["code"], "unavailable", "{e}");
    let st = a.req(json!({"type": "list_rooms"}));
    assert_eq!(st["type"], "rooms", "{st}");
}
