//! Persistence through the real binary and real sockets: accounts and
//! tokens, scores and leaderboards, durability across kill -9, backpressure
//! from a stalled persistence thread, and room snapshots across restarts.

mod common;

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use common::{temp_dir, Client, HttpResponse, Server};
use serde_json::{json, Value};

const SECRET: &str = "persistence-tests-secret-0123456789abcdef";

/// Cheap argon2 parameters (tests run unoptimised) and a known token secret.
fn env<'a>(extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut e = vec![
        ("PASSWORD_HASH_MEMORY_KIB", "1024"),
        ("PASSWORD_HASH_ITERATIONS", "1"),
        ("ROOMCORE_TOKEN_SECRET", SECRET),
    ];
    e.extend_from_slice(extra);
    e
}

fn start(tag: &str, extra: &[(&str, &str)]) -> Server {
    Server::start_in(&temp_dir(tag), &[], &env(extra))
}

fn error_of(r: &HttpResponse) -> String {
    r.json()["error"].as_str().unwrap_or_default().to_string()
}

fn post_score(
    c: &mut Client,
    token: &str,
    game: &str,
    score: i64,
) -> std::io::Result<HttpResponse> {
    c.post_json(
        "/api/scores",
        Some(token),
        &json!({"game": game, "score": score}),
    )
}

#[test]
fn accounts_and_tokens_happy_paths_and_errors() {
    let s = start("auth", &[]);
    let mut c = s.client();
    let reg = |c: &mut Client, body: Value| c.post_json("/api/auth/register", None, &body).unwrap();

    // Register, then use the token on another connection (likely another shard).
    let r = reg(
        &mut c,
        json!({"username": "Ann_1", "password": "correct horse"}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let v = r.json();
    let token = v["token"].as_str().unwrap().to_string();
    assert_eq!(v["token_type"], "Bearer");
    assert_eq!(v["user"]["username"], "Ann_1");
    assert_eq!(v["user"]["guest"], false);
    for _ in 0..4 {
        let me = s.client().get_auth("/api/auth/me", Some(&token)).unwrap();
        assert_eq!(me.status, 200, "{}", me.body);
        assert_eq!(me.json()["username"], "Ann_1");
        assert_eq!(me.json()["id"], v["user"]["id"]);
    }

    // Login (case-insensitive username) gives a working token.
    let r = c
        .post_json(
            "/api/auth/login",
            None,
            &json!({"username": "ann_1", "password": "correct horse"}),
        )
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    let t2 = r.json()["token"].as_str().unwrap().to_string();
    assert_eq!(c.get_auth("/api/auth/me", Some(&t2)).unwrap().status, 200);

    // Wrong password and unknown user: same status and message, similar time.
    let t0 = Instant::now();
    let wrong = c
        .post_json(
            "/api/auth/login",
            None,
            &json!({"username": "ann_1", "password": "wrong horse"}),
        )
        .unwrap();
    let wrong_time = t0.elapsed();
    let t0 = Instant::now();
    let unknown = c
        .post_json(
            "/api/auth/login",
            None,
            &json!({"username": "nobody", "password": "wrong horse"}),
        )
        .unwrap();
    let unknown_time = t0.elapsed();
    assert_eq!((wrong.status, unknown.status), (401, 401));
    assert_eq!(error_of(&wrong), error_of(&unknown));
    assert_eq!(error_of(&wrong), "invalid username or password");
    // Both verify one argon2 hash: neither answers in a fraction of the other's time.
    let (a, b) = (wrong_time.as_secs_f64(), unknown_time.as_secs_f64());
    assert!(
        a.max(b) < 10.0 * a.min(b) + 0.2,
        "timing differs: {a} vs {b}"
    );

    // Registration errors.
    let dup = reg(
        &mut c,
        json!({"username": "ANN_1", "password": "another pw"}),
    );
    assert_eq!(dup.status, 409, "{}", dup.body);
    assert_eq!(error_of(&dup), "username is taken");
    for (body, needle) in [
        (
            json!({"username": "ab", "password": "long enough"}),
            "username must be",
        ),
        (
            json!({"username": "a b c", "password": "long enough"}),
            "username may contain",
        ),
        (
            json!({"username": "<script>", "password": "long enough"}),
            "username may contain",
        ),
        (
            json!({"username": "guest-x1", "password": "long enough"}),
            "reserved",
        ),
        (
            json!({"username": "bob", "password": "short"}),
            "password must be",
        ),
        (
            json!({"username": "bob", "password": "x".repeat(129)}),
            "password must be",
        ),
        (
            json!({"username": "bob", "password": "long enough", "admin": true}),
            "unknown field",
        ),
        (json!({"username": "bob"}), "missing field"),
        (json!("bob"), "invalid JSON"),
    ] {
        let r = reg(&mut c, body.clone());
        assert_eq!(r.status, 400, "{body}: {}", r.body);
        assert!(error_of(&r).contains(needle), "{body}: {}", r.body);
    }
    let r = c
        .send("POST", "/api/auth/register", &[], b"{not json")
        .unwrap();
    assert_eq!(r.status, 400);
    assert!(error_of(&r).contains("invalid JSON"), "{}", r.body);
    let r = c.send("POST", "/api/auth/register", &[], b"").unwrap();
    assert_eq!(r.status, 400);
    let r = c
        .post_json(
            "/api/auth/login",
            None,
            &json!({"username": "", "password": ""}),
        )
        .unwrap();
    assert_eq!(r.status, 400);

    // Guests: instant identity, cannot sign in with a password.
    let (gt, gid) = c.guest();
    let me = c.get_auth("/api/auth/me", Some(&gt)).unwrap().json();
    assert_eq!(me["guest"], true);
    assert_eq!(me["id"], gid);
    let name = me["username"].as_str().unwrap().to_string();
    assert!(name.starts_with("guest-"), "{name}");
    let r = c
        .post_json(
            "/api/auth/login",
            None,
            &json!({"username": name, "password": "anything at all"}),
        )
        .unwrap();
    assert_eq!(r.status, 401);
    let r = c
        .post_json("/api/auth/guest", None, &json!({"nickname": "x"}))
        .unwrap();
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(
        c.post_json("/api/auth/guest", None, &json!({}))
            .unwrap()
            .status,
        201
    );

    // Token errors on /me.
    let r = c.get_auth("/api/auth/me", None).unwrap();
    assert_eq!(r.status, 401);
    assert!(r.header("WWW-Authenticate").is_some());
    let r = c
        .send(
            "GET",
            "/api/auth/me",
            &[("Authorization", "Basic abc")],
            b"",
        )
        .unwrap();
    assert_eq!(r.status, 401);
    assert_eq!(
        c.get_auth("/api/auth/me", Some("garbage")).unwrap().status,
        401
    );
    let mut forged = token.clone();
    forged.pop();
    forged.push(if token.ends_with('A') { 'B' } else { 'A' });
    let r = c.get_auth("/api/auth/me", Some(&forged)).unwrap();
    assert_eq!((r.status, error_of(&r).as_str()), (401, "invalid token"));
    let key = storage::TokenKey::from_secret(SECRET.as_bytes()).unwrap();
    let now = storage::now_ms() / 1000;
    let expired = key.sign(&storage::Claims {
        sub: 1,
        name: "Ann_1".into(),
        guest: false,
        iat: now - 100,
        exp: now - 1,
    });
    let r = c.get_auth("/api/auth/me", Some(&expired)).unwrap();
    assert_eq!((r.status, error_of(&r).as_str()), (401, "token expired"));

    // Methods and unknown endpoints.
    let r = c.send("GET", "/api/auth/register", &[], b"").unwrap();
    assert_eq!(r.status, 405);
    assert_eq!(r.header("Allow"), Some("POST"));
    let r = c.send("DELETE", "/api/auth/me", &[], b"").unwrap();
    assert_eq!(r.status, 405);
    assert_eq!(c.send("GET", "/api/nope", &[], b"").unwrap().status, 404);
    // The test hook is off unless ROOMCORE_TEST_HOOKS=1.
    assert_eq!(
        c.send("POST", "/api/_test/storage/stall?ms=1", &[], b"")
            .unwrap()
            .status,
        404
    );
    // Over the HTTP body limit.
    let big = format!(
        r#"{{"username":"bob","password":"{}"}}"#,
        "x".repeat(20_000)
    );
    let r = s.request("POST", "/api/auth/register", &[], big.as_bytes());
    assert_eq!(r.status, 413);
}

#[test]
fn score_and_leaderboard_validation() {
    let s = start("scores-errors", &[("SCORE_MAX", "1000")]);
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

#[test]
fn ten_thousand_scores_from_fifty_clients_are_stored_and_ranked() {
    const CLIENTS: i64 = 50;
    const PER_CLIENT: i64 = 200;
    let s = start("scores-10k", &[]);
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
    let stored: HashSet<i64> = storage::inspect::score_ids(&s.db_path(), "tenk")
        .unwrap()
        .into_iter()
        .collect();
    assert_eq!(stored, acked);
}

#[test]
fn kill_9_keeps_every_acknowledged_score() {
    let dir = temp_dir("kill9");
    let mut s = Server::start_in(&dir, &[], &env(&[]));
    let addr = s.addr;
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..8)
        .map(|i| {
            let stop = stop.clone();
            thread::spawn(move || {
                let mut c = Client::connect(addr).unwrap();
                let (t, _) = c.guest();
                let mut acked = Vec::new();
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    match post_score(&mut c, &t, "crash", i * 1_000_000 + n) {
                        Ok(r) if r.status == 201 => acked.push(r.json()["id"].as_i64().unwrap()),
                        Ok(r) => panic!("unexpected answer {}: {}", r.status, r.body),
                        Err(_) => break, // the server died mid-request
                    }
                    n += 1;
                }
                acked
            })
        })
        .collect();
    thread::sleep(Duration::from_millis(1500));
    s.child.kill().unwrap(); // SIGKILL, mid-stream
    s.child.wait().unwrap();
    stop.store(true, Ordering::Relaxed);
    let acked: Vec<i64> = workers
        .into_iter()
        .flat_map(|w| w.join().unwrap())
        .collect();
    assert!(
        acked.len() > 50,
        "too few scores before the kill: {}",
        acked.len()
    );

    let s = Server::start_in(&dir, &[], &env(&[]));
    let stored: HashSet<i64> = storage::inspect::score_ids(&s.db_path(), "crash")
        .unwrap()
        .into_iter()
        .collect();
    let missing: Vec<&i64> = acked.iter().filter(|id| !stored.contains(id)).collect();
    assert!(
        missing.is_empty(),
        "{} of {} acknowledged scores lost: {:?}",
        missing.len(),
        acked.len(),
        &missing[..missing.len().min(10)]
    );
    eprintln!(
        "kill -9: {} acknowledged, {} stored (unacknowledged extras: {})",
        acked.len(),
        stored.len(),
        stored.len() - acked.len()
    );
    // The restarted server serves the board from what survived.
    let v = s
        .client()
        .send("GET", "/api/leaderboard?game=crash&limit=8", &[], b"")
        .unwrap()
        .json();
    assert_eq!(v["entries"].as_array().unwrap().len(), 8, "{v}");
}

#[test]
fn stalled_storage_answers_503_fast_and_health_still_answers() {
    let s = start(
        "stall",
        &[
            ("ROOMCORE_TEST_HOOKS", "1"),
            ("STORAGE_QUEUE_CAPACITY", "4"),
        ],
    );
    let mut c = s.client();
    let (t, _) = c.guest();
    let r = c
        .send("POST", "/api/_test/storage/stall?ms=3000", &[], b"")
        .unwrap();
    assert_eq!(r.status, 202, "{}", r.body);
    thread::sleep(Duration::from_millis(200)); // the thread is asleep in the stall
                                               // Four posts fill the queue; they wait and are answered after the stall.
    let addr = s.addr;
    let queued: Vec<_> = (0..4)
        .map(|_| {
            let t = t.clone();
            thread::spawn(move || {
                post_score(&mut Client::connect(addr).unwrap(), &t, "stall", 5)
                    .unwrap()
                    .status
            })
        })
        .collect();
    thread::sleep(Duration::from_millis(300));
    for _ in 0..5 {
        let t0 = Instant::now();
        let r = post_score(&mut c, &t, "stall", 7).unwrap();
        assert_eq!(r.status, 503, "{}", r.body);
        assert_eq!(r.header("Retry-After"), Some("1"));
        assert!(
            t0.elapsed() < Duration::from_millis(500),
            "503 took {:?}",
            t0.elapsed()
        );
    }
    let t0 = Instant::now();
    let (status, body) = s.get("/health");
    assert!(t0.elapsed() < Duration::from_millis(1500));
    assert_eq!(status, 503, "{body}");
    let h: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(h["status"], "degraded");
    assert_eq!(h["storage"]["ok"], false);
    assert_eq!(h["storage"]["queue_depth"], 4);
    assert_eq!(s.get("/live").0, 200);
    // Leaderboard reads never wait on SQLite.
    let t0 = Instant::now();
    assert_eq!(
        c.send("GET", "/api/leaderboard?game=stall", &[], b"")
            .unwrap()
            .status,
        200
    );
    assert!(t0.elapsed() < Duration::from_millis(500));
    // Nothing was dropped: the queued posts succeed once the thread wakes up.
    for q in queued {
        assert_eq!(q.join().unwrap(), 201);
    }
    assert_eq!(post_score(&mut c, &t, "stall", 9).unwrap().status, 201);
    let h = s.health();
    assert_eq!(h["storage"]["ok"], true);
    assert_eq!(
        storage::inspect::score_ids(&s.db_path(), "stall")
            .unwrap()
            .len(),
        5
    );
}

fn put_state(c: &mut Client, id: &str, body: &str) -> HttpResponse {
    c.send(
        "PUT",
        &format!("/api/rooms/{id}/state"),
        &[("Content-Type", "application/json")],
        body.as_bytes(),
    )
    .unwrap()
}

fn get_state(s: &Server, id: &str) -> HttpResponse {
    s.client()
        .send("GET", &format!("/api/rooms/{id}/state"), &[], b"")
        .unwrap()
}

#[test]
fn room_state_is_restored_after_restart() {
    let dir = temp_dir("rooms");
    let extra = [("ROOM_SNAPSHOT_INTERVAL_SECS", "1")];
    let mut s = Server::start_in(&dir, &[], &env(&extra));
    let mut c = s.client();
    let ids: Vec<String> = (0..8).map(|i| format!("room-{i}")).collect();
    // Rooms on both shards (the owner is a hash of the id).
    let owners: HashSet<usize> = ids.iter().map(|id| common::shard_of(id, 2)).collect();
    assert_eq!(owners.len(), 2);
    let mut want: HashMap<String, Value> = HashMap::new();
    for (i, id) in ids.iter().enumerate() {
        let doc = json!({"turn": i, "board": [i, i + 1], "note": "<b>x</b>"});
        let r = put_state(&mut c, id, &doc.to_string());
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.json()["version"], 1);
        want.insert(id.clone(), doc);
    }
    // Update one twice; read back from another connection.
    let doc = json!({"turn": 99});
    assert_eq!(
        put_state(&mut c, "room-0", &doc.to_string()).json()["version"],
        2
    );
    want.insert("room-0".into(), doc);
    assert_eq!(get_state(&s, "room-0").json()["state"], want["room-0"]);
    // Deleted rooms stay deleted.
    let r = c
        .send("DELETE", "/api/rooms/room-7/state", &[], b"")
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    want.remove("room-7");
    assert_eq!(
        c.send("DELETE", "/api/rooms/room-7/state", &[], b"")
            .unwrap()
            .status,
        404
    );

    // Errors.
    assert_eq!(get_state(&s, "nope").status, 404);
    assert_eq!(get_state(&s, "bad%20id").status, 400);
    assert_eq!(get_state(&s, &"x".repeat(65)).status, 400);
    let r = put_state(&mut c, "room-x", "{not json");
    assert_eq!(
        (r.status, error_of(&r).as_str()),
        (400, "room state must be a JSON document")
    );
    assert_eq!(put_state(&mut c, "room-x", "").status, 400);
    let big = format!("\"{}\"", "x".repeat(9000));
    assert_eq!(put_state(&mut c, "room-x", &big).status, 413);
    let r = c
        .send("PATCH", "/api/rooms/room-1/state", &[], b"{}")
        .unwrap();
    assert_eq!(r.status, 405);
    assert!(r.header("Allow").unwrap().contains("PUT"));

    // Graceful restart: the drain saves everything.
    s.signal(libc::SIGTERM);
    assert_eq!(s.wait_exit(Duration::from_secs(20)), Some(0));
    let mut s = Server::start_in(&dir, &[], &env(&extra));
    for id in &ids {
        let r = get_state(&s, id);
        match want.get(id) {
            Some(doc) => {
                assert_eq!(r.status, 200, "{id}: {}", r.body);
                assert_eq!(&r.json()["state"], doc, "{id}");
            }
            None => assert_eq!(r.status, 404, "{id}: {}", r.body),
        }
    }

    // Crash restart: what a periodic snapshot saved survives kill -9.
    let doc = json!({"after": "crash"});
    assert_eq!(
        put_state(&mut s.client(), "room-1", &doc.to_string()).status,
        200
    );
    thread::sleep(Duration::from_millis(2500)); // > one snapshot interval
    s.child.kill().unwrap();
    s.child.wait().unwrap();
    let s = Server::start_in(&dir, &[], &env(&extra));
    assert_eq!(get_state(&s, "room-1").json()["state"], doc);
    assert_eq!(get_state(&s, "room-2").json()["state"], want["room-2"]);
    assert!(Path::new(&s.db_path()).exists());
}

#[test]
fn an_older_database_upgrades_in_place_at_start() {
    let dir = temp_dir("upgrade");
    let db = dir.join("roomcore.db");
    storage::inspect::create_at_version(&db, 1).unwrap();
    assert_eq!(storage::inspect::schema_version(&db).unwrap(), 1);
    let s = Server::start_in(&dir, &[], &env(&[]));
    assert_eq!(
        storage::inspect::schema_version(&db).unwrap(),
        storage::schema::VERSION
    );
    let mut c = s.client();
    let (t, _) = c.guest();
    assert_eq!(post_score(&mut c, &t, "up", 3).unwrap().status, 201);
}

#[test]
fn an_unopenable_database_stops_start_up_with_a_clear_error() {
    let dir = temp_dir("baddb");
    std::fs::create_dir_all(dir.join("roomcore.db")).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_roomcore"))
        .args(["--listen", "127.0.0.1:0", "--shards", "2", "--data-dir"])
        .arg(&dir)
        .env("LOG_LEVEL", "warn")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!stdout.contains("listening"), "{stdout}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("roomcore.db"), "{err}");
}

#[test]
fn storage_and_game_knobs_are_flags_too_and_the_flag_wins() {
    // SCORE_MAX=1000 in the environment, --score-max 10 on the command line.
    let s = Server::start_in(
        &temp_dir("service-flags"),
        &["--score-max", "10", "--leaderboard-size=5"],
        &env(&[("SCORE_MAX", "1000"), ("LEADERBOARD_SIZE", "50")]),
    );
    let mut c = s.client();
    let (t, _) = c.guest();
    let r = post_score(&mut c, &t, "g", 11).unwrap();
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(
        error_of(&r).contains("score must be between 0 and 10"),
        "{}",
        r.body
    );
    let r = post_score(&mut c, &t, "g", 10).unwrap();
    assert_eq!(r.status, 201, "{}", r.body);
    let r = c.get_auth("/api/leaderboard?game=g&limit=6", None).unwrap();
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(
        error_of(&r).contains("limit must be between 1 and 5"),
        "{}",
        r.body
    );
    let r = c.get_auth("/api/leaderboard?game=g&limit=5", None).unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["entries"][0]["score"], 10, "{}", r.body);
}

#[test]
fn a_bad_service_flag_stops_start_up_with_a_clear_error() {
    let dir = temp_dir("service-flags-bad");
    for (args, needle) in [
        (vec!["--score-max", "lots"], "SCORE_MAX"),
        (
            vec!["--storage-synchronous", "sometimes"],
            "STORAGE_SYNCHRONOUS",
        ),
        (vec!["--game-tick-ms", "fast"], "GAME_TICK_MS"),
        (vec!["--storage-batch-max"], "needs a value"),
        // secrets are environment-only: a flag would show them in `ps`
        (vec!["--roomcore-token-secret", SECRET], "unknown flag"),
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_roomcore"))
            .args(["--listen", "127.0.0.1:0", "--shards", "2", "--data-dir"])
            .arg(&dir)
            .args(&args)
            .env("LOG_LEVEL", "warn")
            .envs(env(&[]))
            .stdin(std::process::Stdio::null())
            .output()
            .expect("run roomcore");
        assert!(!out.status.success(), "{args:?} started");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle), "{args:?}: {err}");
        assert!(
            !String::from_utf8_lossy(&out.stdout).contains("listening"),
            "{args:?} listened"
        );
    }
}
