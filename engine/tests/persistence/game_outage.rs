//! PostgreSQL stopped under everything but scores (those are in `outage.rs`), through the real
//! binary (PostgreSQL only). While it is down: sign-up, guest and login answer 503 with
//! `Retry-After` and a JSON error, while tokens issued before still authenticate (`/me`,
//! `hello`: no database); queueing answers 503 / `unavailable` (the rating lookup) and the
//! socket goes on; `GET /api/games/{id}` answers 503 for finished and live games alike (the
//! storage lookup comes first); room documents are written and read from memory, their DELETE
//! is 503; a chess move stands with `"saved": false` and reaches both players. Once it is
//! back, all of it works again and the game goes on (`saved: true`).

use std::thread;
use std::time::{Duration, Instant};

use serde_json::json;

use super::common::player::Player;
use super::common::{Backend, Client, HttpResponse, Server, TestDb};
use super::games::{check_finished, game_when, play_fools_mate, start_chess};
use super::{env, error_of};

/// Auth calls are many here (the default auth rate is 10 a minute); documents snapshot every
/// second, so what was written during the outage is saved soon after it.
const EXTRA: [(&str, &str); 2] = [
    ("HTTP_AUTH_RATE_PER_MIN", "1000"),
    ("ROOM_SNAPSHOT_INTERVAL_SECS", "1"),
];

fn poll_until(limit: Duration, what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !f() {
        assert!(Instant::now() < deadline, "{what} not reached in {limit:?}");
        thread::sleep(Duration::from_millis(50));
    }
}

/// Stop the cluster and wait until the server says so on `/ready`.
fn outage(db: &mut TestDb, s: &Server) {
    db.pg_mut().stop();
    poll_until(Duration::from_secs(5), "/ready 503", || {
        s.get("/ready").0 == 503
    });
}

/// Start the cluster again and wait until the server reconnected.
fn recover(db: &mut TestDb, s: &Server) {
    db.pg_mut().restart();
    poll_until(Duration::from_secs(15), "/ready 200 again", || {
        s.get("/ready").0 == 200
    });
}

/// A 503 with `Retry-After: 1` and the JSON error `text`.
fn assert_503(r: &HttpResponse, text: &str) {
    assert_eq!(r.status, 503, "{}", r.body);
    assert_eq!(r.header("Retry-After"), Some("1"), "{}", r.body);
    assert_eq!(error_of(r), text, "{}", r.body);
}

const DOWN: &str = "storage is unavailable, retry later";

fn user_pass(name: &str) -> serde_json::Value {
    json!({"username": name, "password": "correct horse"})
}

fn room_doc(c: &mut Client, method: &str, id: &str, body: &str) -> HttpResponse {
    c.send(
        method,
        &format!("/api/rooms/{id}/state"),
        &[("Content-Type", "application/json")],
        body.as_bytes(),
    )
    .unwrap()
}

fn ticket(c: &mut Client, token: &str) -> HttpResponse {
    c.post_json(
        "/api/matchmaking/tickets",
        Some(token),
        &json!({"mode": "chess"}),
    )
    .unwrap()
}

/// Stored `state` room rows named `id` (0 or 1).
fn doc_rows(db: &TestDb, id: &str) -> String {
    db.pg.as_ref().unwrap().psql(
        "postgres",
        &format!("SELECT count(*) FROM rooms WHERE kind = 'state' AND id = '{id}'"),
    )
}

#[test]
fn accounts_queue_and_room_docs_answer_503_while_postgres_is_down_then_work_again() {
    let mut db = TestDb::new(Backend::Postgres, "acct-outage");
    let s = db.start(&[], &env(&EXTRA));
    let mut c = s.client();
    let r = c
        .post_json("/api/auth/register", None, &user_pass("ann_1"))
        .unwrap();
    assert_eq!(r.status, 201, "{}", r.body);
    let (ann, ann_id) = (
        r.json()["token"].as_str().unwrap().to_string(),
        r.json()["user"]["id"].as_i64().unwrap(),
    );
    let mut p = Player::guest_on(&s);
    let (late_token, late_id) = c.guest();
    assert_eq!(
        room_doc(&mut c, "PUT", "doc-kept", r#"{"n":1}"#).status,
        200
    );
    assert_eq!(
        room_doc(&mut c, "PUT", "doc-gone", r#"{"n":2}"#).status,
        200
    );
    poll_until(Duration::from_secs(5), "documents saved", || {
        doc_rows(&db, "doc-kept") == "1" && doc_rows(&db, "doc-gone") == "1"
    });

    outage(&mut db, &s);
    // Accounts: every endpoint that needs the database refuses, typed and retryable.
    let r = c
        .post_json("/api/auth/register", None, &user_pass("bob_1"))
        .unwrap();
    assert_503(&r, DOWN);
    let r = c.send("POST", "/api/auth/guest", &[], b"").unwrap();
    assert_503(&r, DOWN);
    let r = c
        .post_json("/api/auth/login", None, &user_pass("ann_1"))
        .unwrap();
    assert_503(&r, DOWN);
    // A token issued before is checked from its HMAC alone: it still works.
    let r = c.get_auth("/api/auth/me", Some(&ann)).unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["id"], ann_id, "{}", r.body);
    assert_eq!(r.json()["username"], "ann_1", "{}", r.body);
    let mut late = Player::connect(&s, &late_token, late_id);

    // Matchmaking looks the rating up: 503 over HTTP, `unavailable` on the socket.
    let r = ticket(&mut c, &ann);
    assert_eq!(r.status, 503, "{}", r.body);
    assert_eq!(r.header("Retry-After"), Some("1"), "{}", r.body);
    assert!(
        error_of(&r).starts_with("storage: database unavailable: "),
        "{}",
        r.body
    );
    for q in [&mut p, &mut late] {
        let e = q.expect_error(json!({"type": "queue", "mode": "chess"}), "unavailable");
        assert!(
            e["message"].as_str().unwrap().starts_with("storage: "),
            "{e}"
        );
        // The socket goes on: the next requests are answered, and it is not queued.
        assert_eq!(q.req(json!({"type": "list_rooms"}))["type"], "rooms");
        q.expect_error(json!({"type": "state"}), "not_in_room");
        q.expect_error(json!({"type": "cancel_queue"}), "not_queued");
    }

    // Room documents live in memory: written and read; a DELETE needs the database.
    let r = room_doc(&mut c, "PUT", "doc-kept", r#"{"n":3}"#);
    assert_eq!(
        (r.status, r.json()["version"].as_i64()),
        (200, Some(2)),
        "{}",
        r.body
    );
    let r = room_doc(&mut c, "PUT", "doc-new", r#"{"n":4}"#);
    assert_eq!(
        (r.status, r.json()["version"].as_i64()),
        (200, Some(1)),
        "{}",
        r.body
    );
    let r = room_doc(&mut c, "GET", "doc-kept", "");
    assert_eq!(
        (r.status, &r.json()["state"]),
        (200, &json!({"n": 3})),
        "{}",
        r.body
    );
    assert_503(&room_doc(&mut c, "DELETE", "doc-gone", ""), DOWN);
    assert_eq!(s.get("/live").0, 200);

    recover(&mut db, &s);
    let r = c
        .post_json("/api/auth/register", None, &user_pass("bob_1"))
        .unwrap();
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.json()["user"]["username"], "bob_1", "{}", r.body);
    let r = c.send("POST", "/api/auth/guest", &[], b"").unwrap();
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.json()["user"]["guest"], true, "{}", r.body);
    let r = c
        .post_json("/api/auth/login", None, &user_pass("ann_1"))
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["user"]["id"], ann_id, "{}", r.body);
    let r = ticket(&mut c, &ann);
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.json()["status"], "queued", "{}", r.body);
    let q = p.req(json!({"type": "queue", "mode": "party"}));
    assert_eq!(q["type"], "queued", "{q}");
    assert_eq!(q["mode"], "party", "{q}");
    // What was written from memory during the outage reaches the database.
    poll_until(
        Duration::from_secs(5),
        "the outage's documents saved",
        || doc_rows(&db, "doc-new") == "1",
    );
    let state = db.pg.as_ref().unwrap().psql(
        "postgres",
        "SELECT convert_from(state, 'UTF8') FROM rooms WHERE id = 'doc-kept'",
    );
    assert_eq!(state, r#"{"n":3}"#);
}

#[test]
fn room_delete_refused_during_outage_is_not_half_done() {
    let mut db = TestDb::new(Backend::Postgres, "del-outage");
    let mut s = db.start(&[], &env(&EXTRA));
    let mut c = s.client();
    assert_eq!(room_doc(&mut c, "PUT", "doc-del", r#"{"n":1}"#).status, 200);
    poll_until(Duration::from_secs(5), "document saved", || {
        doc_rows(&db, "doc-del") == "1"
    });

    outage(&mut db, &s);
    assert_503(&room_doc(&mut c, "DELETE", "doc-del", ""), DOWN);
    // A 503 says retry: nothing of the DELETE was done.
    let r = room_doc(&mut c, "GET", "doc-del", "");
    assert_eq!(r.status, 200, "{}", r.body);

    recover(&mut db, &s);
    let r = room_doc(&mut c, "DELETE", "doc-del", "");
    assert_eq!(r.status, 200, "the retried DELETE: {}", r.body);
    assert_eq!(r.json(), json!({"id": "doc-del", "deleted": true}));
    assert_eq!(doc_rows(&db, "doc-del"), "0");
    drop(c);
    s.signal(libc::SIGTERM);
    s.wait_exit(Duration::from_secs(10));
    drop(s);
    let s = db.start(&[], &env(&EXTRA));
    let r = room_doc(&mut s.client(), "GET", "doc-del", "");
    assert_eq!(
        r.status, 404,
        "deleted, yet back after a restart: {}",
        r.body
    );
}

#[test]
fn chess_moves_stand_unsaved_while_postgres_is_down_and_the_game_goes_on() {
    let mut db = TestDb::new(Backend::Postgres, "chess-outage");
    let s = db.start(&[], &env(&EXTRA));
    let mut c = s.client();
    let (done, white, black) = play_fools_mate(&s, &mut c);
    check_finished(&game_when(&mut c, &done, "finished"), white, black);
    let (mut a, mut b, live, _, _) = start_chess(&s, &mut c);
    let ok = a.ok(json!({"type": "move", "move": "f2f3"}));
    assert_eq!(ok["saved"], true, "{ok}");
    assert_eq!(b.moves(1), ["f3"]);

    outage(&mut db, &s);
    // A finished game is in the database only; the live one is served from memory.
    let r = c.get_auth(&format!("/api/games/{done}"), None).unwrap();
    assert_503(&r, DOWN);
    let r = c.get_auth(&format!("/api/games/{live}"), None).unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["status"], "live", "{}", r.body);
    // The moves stand, unsaved, and both players hear of them.
    let ok = b.ok(json!({"type": "move", "move": "e7e5"}));
    assert_eq!(ok["saved"], false, "{ok}");
    assert!(ok["room_seq"].as_u64().is_some(), "{ok}");
    assert_eq!(a.moves(2), ["f3", "e5"]);
    assert_eq!(b.moves(1), ["e5"]);
    let ok = a.ok(json!({"type": "move", "move": "g2g4"}));
    assert_eq!(ok["saved"], false, "{ok}");
    assert_eq!(a.moves(1), ["g4"]);
    assert_eq!(b.moves(1), ["g4"]);
    // The position is the one with the unsaved moves.
    let st = a.req(json!({"type": "state"}));
    assert_eq!(st["type"], "room_state", "{st}");
    assert_eq!(st["game"]["uci"], json!(["f2f3", "e7e5", "g2g4"]), "{st}");
    let e = b.expect_error(json!({"type": "move", "move": "e2e4"}), "illegal_move");
    assert!(e["seq"].as_u64().is_some(), "{e}");

    recover(&mut db, &s);
    let ok = b.ok(json!({"type": "move", "move": "d8h4"}));
    assert_eq!(ok["saved"], true, "{ok}");
    assert_eq!(a.moves(1), ["Qh4#"]);
    let over = a.wait("game_over");
    assert_eq!(over["result"], "0-1", "{over}");
    assert_eq!(b.wait("game_over")["reason"], "checkmate");
    check_finished(&game_when(&mut c, &done, "finished"), white, black);
    let g = game_when(&mut c, &live, "finished");
    assert_eq!(g["moves"], 4, "{g}");
    assert!(
        g["pgn"]
            .as_str()
            .unwrap()
            .contains("1. f3 e5 2. g4 Qh4# 0-1"),
        "{g}"
    );
}
