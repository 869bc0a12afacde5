//! Scores and leaderboards on both engines: validation of posts and reads, and 10,000
//! scores from 50 concurrent clients stored, ranked on every shard, group-committed.

use std::collections::HashSet;
use std::thread;

use serde_json::json;

use super::common::{Backend, Client};
use super::{error_of, post_score, start, stored_score_ids};

crate::on_both!(
    score_and_leaderboard_validation,
    ten_thousand_scores_from_fifty_clients_are_stored_and_ranked,
);

fn score_and_leaderboard_validation(b: Backend) {
    let s = start(b, &[("SCORE_MAX", "1000")]);
    let mut c = s.client();
    let (t, _) = c.guest();
    let r = c
        .post_json("/api/scores", None, &json!({"game": "g", "score": 1}))
        .unwrap();
    assert_eq!(r.status, 401);
    for (body, needle) in [
        (json!({"game": "", "score": 1}), "game must be"),
        (json!({"game": "Bad Game", "score": 1}), "game may contain"),
        (json!({"game": "g".repeat(33), "score": 1}), "game must be"),
        (
            json!({"game": "g", "score": -1}),
            "score must be between 0 and 1000",
        ),
        (json!({"game": "g", "score": 1001}), "score must be between"),
        (json!({"game": "g", "score": 1.5}), "invalid JSON"),
        (json!({"game": "g", "score": "7"}), "invalid JSON"),
        (
            json!({"game": "g", "score": 1, "cheat": true}),
            "unknown field",
        ),
        (json!({"game": "g"}), "missing field"),
    ] {
        let r = c.post_json("/api/scores", Some(&t), &body).unwrap();
        assert_eq!(r.status, 400, "{body}: {}", r.body);
        assert!(error_of(&r).contains(needle), "{body}: {}", r.body);
    }
    let r = post_score(&mut c, &t, "g", 1000).unwrap();
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.json()["personal_best"], true);
    assert_eq!(
        post_score(&mut c, &t, "g", 3).unwrap().json()["personal_best"],
        false
    );

    for (q, needle) in [
        ("", "'game' is required"),
        ("?game=BAD", "game may contain"),
        ("?game=g&limit=0", "limit must be"),
        ("?game=g&limit=101", "limit must be"),
        ("?game=g&limit=x", "limit must be"),
        ("?game=g&period=weekly", "period must be"),
    ] {
        let r = c
            .send("GET", &format!("/api/leaderboard{q}"), &[], b"")
            .unwrap();
        assert_eq!(r.status, 400, "{q}: {}", r.body);
        assert!(error_of(&r).contains(needle), "{q}: {}", r.body);
    }
    // A game nobody played: an empty board, not an error.
    let v = c
        .send("GET", "/api/leaderboard?game=empty", &[], b"")
        .unwrap()
        .json();
    assert_eq!(v["entries"], json!([]));
    let r = c.get_auth("/api/leaderboard/me?game=g", None).unwrap();
    assert_eq!(r.status, 401);
    let r = c.send("POST", "/api/leaderboard", &[], b"").unwrap();
    assert_eq!(r.status, 405);
    let r = c.send("GET", "/api/scores", &[], b"").unwrap();
    assert_eq!(r.status, 405);
    // Own standing, outside any cached board too (a player with no score).
    let v = c
        .get_auth("/api/leaderboard/me?game=g&period=daily", Some(&t))
        .unwrap()
        .json();
    assert_eq!(
        (v["rank"].as_u64(), v["score"].as_i64()),
        (Some(1), Some(1000))
    );
    let (t2, _) = c.guest();
    let v = c
        .get_auth("/api/leaderboard/me?game=g", Some(&t2))
        .unwrap()
        .json();
    assert!(v["rank"].is_null(), "{v}");
}

fn ten_thousand_scores_from_fifty_clients_are_stored_and_ranked(b: Backend) {
    const CLIENTS: i64 = 50;
    const PER_CLIENT: i64 = 200;
    let s = start(b, &[]);
    let addr = s.addr;
    let workers: Vec<_> = (0..CLIENTS)
        .map(|i| {
            thread::spawn(move || {
                let mut c = Client::connect(addr).unwrap();
                let (t, id) = c.guest();
                let best = 100_000 + i * 1_000;
                let mut ids = Vec::with_capacity(PER_CLIENT as usize);
                for j in 0..PER_CLIENT {
                    // One post carries the client's best; the others are lower.
                    let score = if j == PER_CLIENT / 2 {
                        best
                    } else {
                        (i * 7 + j * 13) % 90_000
                    };
                    let r = post_score(&mut c, &t, "tenk", score).unwrap();
                    assert_eq!(r.status, 201, "{}", r.body);
                    ids.push(r.json()["id"].as_i64().unwrap());
                }
                (id, best, ids)
            })
        })
        .collect();
    let mut acked = HashSet::new();
    let mut expected: Vec<(i64, i64)> = Vec::new();
    for w in workers {
        let (id, best, ids) = w.join().unwrap();
        expected.push((best, id));
        acked.extend(ids);
    }
    assert_eq!(
        acked.len(),
        (CLIENTS * PER_CLIENT) as usize,
        "every 201 has its own id"
    );
    expected.sort_by_key(|b| std::cmp::Reverse(b.0));

    // The board is right on every shard (several connections spread over both).
    for _ in 0..6 {
        let v = s
            .client()
            .send("GET", "/api/leaderboard?game=tenk&limit=50", &[], b"")
            .unwrap()
            .json();
        let got: Vec<(i64, i64)> = v["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| (e["score"].as_i64().unwrap(), e["user_id"].as_i64().unwrap()))
            .collect();
        assert_eq!(got, expected);
        let ranks: Vec<u64> = v["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["rank"].as_u64().unwrap())
            .collect();
        assert_eq!(ranks, (1..=50).collect::<Vec<u64>>());
        let daily = s
            .client()
            .send(
                "GET",
                "/api/leaderboard?game=tenk&limit=3&period=daily",
                &[],
                b"",
            )
            .unwrap()
            .json();
        assert_eq!(daily["entries"].as_array().unwrap().len(), 3);
        assert_eq!(daily["entries"][0]["score"].as_i64(), Some(expected[0].0));
    }

    // Group commit happened: far fewer transactions than commands.
    let h = s.health();
    let st = &h["storage"];
    assert_eq!(st["ok"], true, "{h}");
    assert!(st["max_batch"].as_u64().unwrap() > 1, "{st}");

    // Every acknowledged score is in the file, and nothing else.
    let stored: HashSet<i64> = stored_score_ids(&s, "tenk").into_iter().collect();
    assert_eq!(stored, acked);
}
