//! Game rooms on both engines: a finished chess game (PGN, Elo ratings, the mode's board)
//! and a game in progress both survive kill -9 of the server (every acknowledged move was
//! committed before its `ok`), played with the shared typed `/ws` client
//! (`common::player`); the transfer test plays its game with it too.

use std::time::{Duration, Instant};

use super::common::player::Player;
use super::common::{Backend, Client, Server, TestDb};
use super::env;
use serde_json::{json, Value};

crate::on_both!(finished_and_running_games_survive_kill_9);

/// A move, answered `ok` once its snapshot committed.
fn play(p: &mut Player, uci: &str) {
    p.ok(json!({"type": "move", "move": uci}));
}

/// Two new guests in a started chess game: (white, black, room, white id, black id).
pub fn start_chess(s: &Server, c: &mut Client) -> (Player, Player, String, i64, i64) {
    let (ta, ia) = c.guest();
    let (tb, ib) = c.guest();
    let (mut a, mut b) = (Player::connect(s, &ta, ia), Player::connect(s, &tb, ib));
    let j = a.req(
        json!({"type": "create_room", "kind": "chess", "name": "kept",
        "settings": {"initial_secs": 300, "increment_secs": 0}}),
    );
    assert_eq!(j["type"], "joined", "{j}");
    let room = j["room"].as_str().unwrap().to_string();
    let jb = b.req(json!({"type": "join_room", "room": room}));
    assert_eq!(jb["type"], "joined", "{jb}");
    a.wait("game_started");
    b.wait("game_started");
    (a, b, room, ia, ib)
}

/// Play fool's mate to the end: (room, white id, black id).
pub fn play_fools_mate(s: &Server, c: &mut Client) -> (String, i64, i64) {
    let (mut a, mut b, room, ia, ib) = start_chess(s, c);
    play(&mut a, "f2f3");
    play(&mut b, "e7e5");
    play(&mut a, "g2g4");
    play(&mut b, "d8h4");
    let over = a.wait("game_over");
    assert_eq!(
        (over["result"].as_str(), over["reason"].as_str()),
        (Some("0-1"), Some("checkmate"))
    );
    (room, ia, ib)
}

/// `GET /api/games/{room}` until its status is `status` (10 s at most).
pub fn game_when(c: &mut Client, room: &str, status: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = c.get_auth(&format!("/api/games/{room}"), None).unwrap();
        if r.status == 200 && r.json()["status"] == status {
            return r.json();
        }
        assert!(
            Instant::now() < deadline,
            "{room} never {status}: {} {}",
            r.status,
            r.body
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The finished fool's mate as `/api/games/{id}` shows it.
pub fn check_finished(g: &Value, white: i64, black: i64) {
    assert_eq!(g["result"], "0-1", "{g}");
    assert_eq!(g["white"]["user_id"], white, "{g}");
    assert_eq!(g["black"]["user_id"], black, "{g}");
    assert_eq!(g["black"]["rating_after"], 1216, "{g}");
    assert_eq!(g["white"]["rating_after"], 1184, "{g}");
    assert!(
        g["pgn"]
            .as_str()
            .unwrap()
            .contains("1. f3 e5 2. g4 Qh4# 0-1"),
        "{g}"
    );
}

fn finished_and_running_games_survive_kill_9(b: Backend) {
    let db = TestDb::new(b, "games");
    let mut s = db.start(&[], &env(&[]));
    let mut c = s.client();
    let (done, white, black) = play_fools_mate(&s, &mut c);
    check_finished(&game_when(&mut c, &done, "finished"), white, black);
    // A second game, two moves acknowledged.
    let (mut a, mut bl, live, _, _) = start_chess(&s, &mut c);
    play(&mut a, "e2e4");
    play(&mut bl, "c7c5");
    drop((a, bl, c));

    s.signal(libc::SIGKILL);
    s.wait_exit(Duration::from_secs(10));
    drop(s);
    let s = db.start(&[], &env(&[]));
    let mut c = s.client();
    check_finished(&game_when(&mut c, &done, "finished"), white, black);
    let g = game_when(&mut c, &live, "live");
    assert_eq!(g["game"]["uci"], json!(["e2e4", "c7c5"]), "{g}");
    // The ratings are on the mode's board.
    let v = c
        .get_auth("/api/leaderboard?game=chess", None)
        .unwrap()
        .json();
    let mut board: Vec<(i64, i64)> = v["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["user_id"].as_i64().unwrap(), e["score"].as_i64().unwrap()))
        .collect();
    board.sort();
    assert_eq!(board, vec![(white, 1184), (black, 1216)], "{v}");
}
