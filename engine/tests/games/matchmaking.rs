//! 200 players in two modes matched by the matchmaker with bounded rating gaps.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use serde_json::json;

use super::common::player::Player;
use super::common::{self, poll, Server};

#[test]
fn two_hundred_players_in_two_modes_are_matched_with_bounded_gaps() {
    let s = Server::start_in(
        &common::temp_dir("rc-mm"),
        &[],
        &[
            ("ROOMCORE_TEST_HOOKS", "1"),
            ("MM_WINDOW_BASE", "50"),
            ("MM_WINDOW_PER_SEC", "200"),
            ("MM_WINDOW_MAX", "300"),
        ],
    );
    let mut c = s.client();
    let mut rating: HashMap<i64, f64> = HashMap::new();
    let mut tickets: Vec<(String, String)> = Vec::new(); // (ticket, token)
    let mut i = 0u32;
    let mut next_rating = || {
        i += 1;
        1000.0 + f64::from((i * 37) % 300)
    };
    // 100 chess players (solo), 100 party players: 50 solo + 25 parties of 2.
    for k in 0..175 {
        let mode = if k < 100 { "chess" } else { "party" };
        let (t, id) = c.guest();
        let r = next_rating();
        let mut body = json!({"mode": mode, "region": "eu", "rating": r});
        rating.insert(id, r);
        if k >= 150 {
            let (t2, id2) = c.guest();
            rating.insert(id2, r);
            body["party"] = json!([t2]);
        }
        let resp = c
            .post_json("/api/matchmaking/tickets", Some(&t), &body)
            .unwrap();
        assert_eq!(resp.status, 201, "{}", resp.body);
        tickets.push((resp.json()["ticket"].as_str().unwrap().to_string(), t));
    }
    assert_eq!(rating.len(), 200);
    let mut rooms: HashMap<String, HashSet<i64>> = HashMap::new();
    let mut kinds: HashMap<String, String> = HashMap::new();
    for (ticket, token) in &tickets {
        let m = poll(Duration::from_secs(20), || {
            let v = c
                .get_auth(&format!("/api/matchmaking/tickets/{ticket}"), Some(token))
                .unwrap()
                .json();
            (v["status"] == "matched").then(|| v["match"].clone())
        });
        let room = m["room"].as_str().unwrap().to_string();
        kinds.insert(room.clone(), m["kind"].as_str().unwrap().to_string());
        let ids: HashSet<i64> = m["players"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["user_id"].as_i64().unwrap())
            .collect();
        rooms.entry(room).or_default().extend(ids);
    }
    let chess = kinds.values().filter(|k| *k == "chess").count();
    let party = kinds.values().filter(|k| *k == "party").count();
    assert_eq!((chess, party), (50, 25));
    let mut seen = HashSet::new();
    for (room, ids) in &rooms {
        let want = if kinds[room] == "chess" { 2 } else { 4 };
        assert_eq!(ids.len(), want, "{room}");
        let rs: Vec<f64> = ids.iter().map(|i| rating[i]).collect();
        let spread = rs.iter().cloned().fold(f64::MIN, f64::max)
            - rs.iter().cloned().fold(f64::MAX, f64::min);
        assert!(spread <= 300.0, "{room}: spread {spread}");
        for id in ids {
            assert!(seen.insert(*id), "player {id} matched twice");
        }
    }
    assert_eq!(seen.len(), 200);
    // A matched room exists on its owner shard with the seats reserved.
    let (room, _) = rooms.iter().next().unwrap();
    let live = c.get_auth(&format!("/api/games/{room}"), None).unwrap();
    assert_eq!(live.status, 200);

    // The WebSocket path: two players queue, are told, and play.
    let mut p = Player::on_shard(&s, &mut c, None, None);
    let mut q = Player::on_shard(&s, &mut c, None, Some(p.shard));
    let r = p.req(json!({"type": "queue", "mode": "chess", "region": "ws"}));
    assert_eq!(r["type"], "queued", "{r}");
    p.expect_error(
        json!({"type": "queue", "mode": "chess", "region": "ws"}),
        "already_queued",
    );
    q.expect_error(json!({"type": "queue", "mode": "golf"}), "unknown_mode");
    q.req(json!({"type": "queue", "mode": "chess", "region": "ws"}));
    let mp = p.wait("match_found");
    let mq = q.wait("match_found");
    assert_eq!(mp["room"], mq["room"]);
    let room = mp["room"].as_str().unwrap().to_string();
    let jp = p.req(json!({"type": "join_room", "room": room}));
    let jq = q.req(json!({"type": "join_room", "room": room}));
    assert_eq!(jp["role"], "player", "{jp}");
    assert_eq!(jq["role"], "player", "{jq}");
    p.wait("game_started");
    // Matched: the session may queue again (after leaving the room).
    q.ok(json!({"type": "leave_room"}));
    let again = q.req(json!({"type": "queue", "mode": "chess", "region": "ws2"}));
    assert_eq!(again["type"], "queued", "{again}");
    let c2 = q.req(json!({"type": "cancel_queue"}));
    assert_eq!(c2["removed"], true);
    // An outsider cannot take a reserved seat.
    let mut x = Player::on_shard(&s, &mut c, None, None);
    x.expect_error(json!({"type": "join_room", "room": room}), "room_full");
}
