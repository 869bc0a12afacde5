//! Two roomcore processes on ONE PostgreSQL database (PostgreSQL only): a score posted
//! through A is on B's board within 1 s and the other way round (LISTEN/NOTIFY), a
//! username taken through A is taken on B (409), tokens signed by one are accepted by the
//! other (shared `ROOMCORE_TOKEN_SECRET`), and the database password never reaches a log.

use std::fs::File;
use std::time::{Duration, Instant};

use serde_json::json;

use super::common::{self, Backend, Client, Server, TestDb};
use super::{env, error_of, post_score};

/// Milliseconds until `reader`'s board of `game` has `user` first with `score` (None: not
/// within 3 s).
fn ms_until_on_board(reader: &Server, game: &str, user: i64, score: i64) -> Option<u128> {
    let t0 = Instant::now();
    let mut c = reader.client();
    while t0.elapsed() < Duration::from_secs(3) {
        let v = c
            .send(
                "GET",
                &format!("/api/leaderboard?game={game}&limit=5"),
                &[],
                b"",
            )
            .unwrap()
            .json();
        let top = &v["entries"][0];
        if top["user_id"] == user && top["score"] == score {
            return Some(t0.elapsed().as_millis());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    None
}

fn register(c: &mut Client, name: &str) -> crate::common::HttpResponse {
    c.post_json(
        "/api/auth/register",
        None,
        &json!({"username": name, "password": "correct horse"}),
    )
    .unwrap()
}

#[test]
fn two_processes_share_boards_within_a_second_and_usernames() {
    let db = TestDb::new(Backend::Postgres, "shared");
    let a = db.start(&[], &env(&[]));
    // B: its own data directory, the same database, a URL with a password (the test
    // cluster trusts loopback, so it is never checked), and its log captured.
    let url = db
        .url()
        .unwrap()
        .replace("roomcore@", "roomcore:pw-never-logged@");
    let b_dir = common::temp_dir("shared-b");
    let log_path = b_dir.join("stderr.log");
    let log = File::create(&log_path).unwrap();
    let mut b_env = env(&[("LOG_LEVEL", "info")]);
    b_env.push(("DATABASE_URL", &url));
    let b = Server::launch(&b_dir, &[], &b_env, |cmd| {
        cmd.stderr(log);
    });
    for s in [&a, &b] {
        let h = s.health();
        assert_eq!(h["storage"]["engine"], "postgres", "{h}");
        assert_eq!(h["storage"]["ok"], true, "{h}");
    }

    // One username across both processes.
    let (mut ca, mut cb) = (a.client(), b.client());
    let r = register(&mut ca, "Ann");
    assert_eq!(r.status, 201, "{}", r.body);
    let ann = r.json()["user"]["id"].as_i64().unwrap();
    let token = r.json()["token"].as_str().unwrap().to_string();
    let dup = register(&mut cb, "ANN");
    assert_eq!(
        (dup.status, error_of(&dup).as_str()),
        (409, "username is taken")
    );
    let me = cb.get_auth("/api/auth/me", Some(&token)).unwrap();
    assert_eq!((me.status, me.json()["id"].as_i64()), (200, Some(ann)));
    let r = cb
        .post_json(
            "/api/auth/login",
            None,
            &json!({"username": "ann", "password": "correct horse"}),
        )
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.body);

    // Scores posted through one process reach the other's cached board within 1 s.
    let (tb, bob) = cb.guest();
    for round in 1..=3 {
        let s = 100 * round;
        assert_eq!(
            post_score(&mut ca, &token, "shared", s).unwrap().status,
            201
        );
        let ms = ms_until_on_board(&b, "shared", ann, s);
        assert!(
            ms.is_some_and(|ms| ms < 1000),
            "A -> B round {round}: {ms:?} ms"
        );
        assert_eq!(
            post_score(&mut cb, &tb, "shared", s + 50).unwrap().status,
            201
        );
        let ms = ms_until_on_board(&a, "shared", bob, s + 50);
        assert!(
            ms.is_some_and(|ms| ms < 1000),
            "B -> A round {round}: {ms:?} ms"
        );
    }
    // Ranks come from both processes' rows.
    let v = ca
        .send("GET", "/api/leaderboard?game=shared", &[], b"")
        .unwrap()
        .json();
    let top: Vec<(i64, i64, i64)> = v["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["rank"].as_i64().unwrap(),
                e["user_id"].as_i64().unwrap(),
                e["score"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(top, vec![(1, bob, 350), (2, ann, 300)]);

    drop(b);
    let logged = std::fs::read_to_string(&log_path).unwrap();
    assert!(logged.contains("storage open"), "{logged}");
    assert!(logged.contains("roomcore:***@127.0.0.1"), "{logged}");
    assert!(!logged.contains("pw-never-logged"), "{logged}");
}
