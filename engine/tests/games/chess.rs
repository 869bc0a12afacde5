//! Chess across shards: checkmate with a spectator and the leaderboard, reconnect within and
//! after the grace period, a restart mid-game, a late spectator, and the move round-trip
//! measurement (ignored); [`start_chess`] sets up a started game between two shards.

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tungstenite::Message;

use super::common::player::Player;
use super::common::{self, poll, Client, Server};

#[test]
fn chess_across_shards_to_checkmate_with_spectator_and_leaderboard() {
    let s = Server::start(&[]);
    let mut c = s.client();
    let (mut a, mut b, room, _, _) = start_chess(&s, &mut c);
    assert_ne!(
        a.shard, b.shard,
        "players were accepted on different shards"
    );
    let mut spec = Player::on_shard(&s, &mut c, None, None);
    {
        let (mut raw, _) = tungstenite::connect(s.ws_url("/ws")).unwrap();
        raw.send(Message::text(r#"{"type":"join_room","room":"x","seq":5}"#))
            .unwrap();
        let m = common::recv_data(&mut raw);
        let v: Value = serde_json::from_str(m.to_text().unwrap()).unwrap();
        assert_eq!(
            (v["code"].as_str(), v["seq"].as_u64()),
            (Some("unauthenticated"), Some(5))
        );
        raw.send(Message::text("not json")).unwrap();
        let v: Value =
            serde_json::from_str(common::recv_data(&mut raw).to_text().unwrap()).unwrap();
        assert_eq!(v["code"], "invalid_message");
    }
    let js = spec.req(json!({"type": "join_room", "room": room, "role": "spectator"}));
    assert_eq!(js["role"], "spectator", "{js}");

    // Invalid input: typed errors, nothing changes, nobody is disconnected.
    a.expect_error(json!({"type": "move", "move": "e2e5"}), "illegal_move");
    a.expect_error(json!({"type": "move", "move": "xx"}), "illegal_move");
    a.expect_error(
        json!({"type": "move", "move": "e2e4", "extra": 1}),
        "invalid_message",
    );
    a.expect_error(json!({"type": "teleport"}), "unknown_type");
    b.expect_error(json!({"type": "move", "move": "e7e5"}), "not_your_turn");
    spec.expect_error(json!({"type": "move", "move": "e2e4"}), "forbidden");
    spec.expect_error(json!({"type": "resign"}), "forbidden");
    let st = b.req(json!({"type": "state"}));
    assert_eq!(
        st["game"]["fen"],
        "rnbqkbnr/pppppppp/8/8/8/8/PPPPPPPP/RNBQKBNR w KQkq - 0 1"
    );

    // Fool's mate.
    a.ok(json!({"type": "move", "move": "f2f3"}));
    b.ok(json!({"type": "move", "move": "e7e5"}));
    a.ok(json!({"type": "move", "move": "g4"}));
    b.ok(json!({"type": "move", "move": "d8h4"}));
    let mut sans = Vec::new();
    for _ in 0..4 {
        let m = spec.wait("move");
        sans.push(m["san"].as_str().unwrap().to_string());
    }
    assert_eq!(sans, ["f3", "e5", "g4", "Qh4#"]);
    for p in [&mut a, &mut b, &mut spec] {
        let over = p.wait("game_over");
        assert_eq!(over["result"], "0-1");
        assert_eq!(over["reason"], "checkmate");
        assert!(over["pgn"]
            .as_str()
            .unwrap()
            .contains("1. f3 e5 2. g4 Qh4# 0-1"));
    }
    a.expect_error(json!({"type": "move", "move": "e2e4"}), "game_over");

    // Stored with its PGN and rated.
    let g = poll(Duration::from_secs(10), || {
        let r = c.get_auth(&format!("/api/games/{room}"), None).unwrap();
        let v = r.json();
        (r.status == 200 && v["status"] == "finished").then_some(v)
    });
    assert_eq!(g["result"], "0-1");
    assert_eq!(g["black"]["user_id"], b.id);
    assert_eq!(g["black"]["rating_after"], 1216);
    assert_eq!(g["white"]["rating_after"], 1184);
    assert!(g["pgn"].as_str().unwrap().contains("Qh4#"));
    // On the leaderboard of the mode.
    poll(Duration::from_secs(10), || {
        let v = c
            .get_auth("/api/leaderboard?game=chess", None)
            .unwrap()
            .json();
        let e = v["entries"].as_array()?;
        let score = |id: i64| {
            e.iter()
                .find(|x| x["user_id"] == id)
                .map(|x| x["score"].clone())
        };
        (score(b.id) == Some(json!(1216)) && score(a.id) == Some(json!(1184))).then_some(())
    });
    assert_eq!(c.get_auth("/api/games/nope", None).unwrap().status, 404);
}

#[test]
fn reconnect_within_grace_gets_missed_moves_and_after_grace_the_seat_is_freed() {
    let dir = common::temp_dir("rc-grace");
    let s = Server::start_in(&dir, &[], &[("RECONNECT_GRACE_SECS", "3")]);
    let mut c = s.client();
    let (mut a, mut b, _room, _, token) = start_chess(&s, &mut c);
    a.ok(json!({"type": "move", "move": "e2e4"}));
    let r = b.ok(json!({"type": "move", "move": "e7e5"}));
    let last = r["room_seq"].as_u64().unwrap();
    let (bt, bid) = (b.token.clone(), b.id);
    drop(b); // the socket drops without a close frame
    let d = a.wait("player_disconnected");
    assert_eq!(d["seat"], 1);
    a.ok(json!({"type": "move", "move": "g1f3"}));

    let mut b = Player::connect(&s, &bt, bid);
    let r = b.req(json!({"type": "reconnect", "token": token, "last_seq": last}));
    assert_eq!(r["type"], "reconnected", "{r}");
    assert_eq!(r["seat"], 1);
    let missed = r["missed"].as_array().unwrap();
    assert!(
        missed
            .iter()
            .any(|m| m["type"] == "move" && m["uci"] == "g1f3"),
        "{missed:?}"
    );
    assert!(missed
        .iter()
        .all(|m| m["room_seq"].as_u64().unwrap() > last));
    assert_eq!(r["state"]["game"]["uci"], json!(["e2e4", "e7e5", "g1f3"]));
    let new_token = r["reconnect_token"].as_str().unwrap().to_string();
    assert_ne!(new_token, token, "tokens are single use");
    b.ok(json!({"type": "move", "move": "b8c6"}));
    a.wait("player_reconnected");

    // The used token is dead; another account cannot use the new one.
    let mut other = Player::on_shard(&s, &mut c, None, None);
    other.expect_error(
        json!({"type": "reconnect", "token": token}),
        "invalid_token",
    );
    other.expect_error(
        json!({"type": "reconnect", "token": new_token}),
        "forbidden",
    );

    // Drop again and stay away past the grace period.
    drop(b);
    a.wait("player_disconnected");
    let freed = a.wait("seat_freed");
    assert_eq!(freed["seat"], 1);
    let over = a.wait("game_over");
    assert_eq!(over["reason"], "abandoned");
    assert_eq!(over["result"], "1-0");
    let mut b = Player::connect(&s, &bt, bid);
    b.expect_error(
        json!({"type": "reconnect", "token": new_token, "last_seq": 0}),
        "invalid_token",
    );
}

#[test]
fn restart_mid_game_resumes_position_and_clocks() {
    let dir = common::temp_dir("rc-restart");
    let mut s = Server::start_in(&dir, &[], &[]);
    let mut c = s.client();
    let (mut a, mut b, room, ta, tb) = start_chess(&s, &mut c);
    a.ok(json!({"type": "move", "move": "e2e4"}));
    b.ok(json!({"type": "move", "move": "c7c5"}));
    a.ok(json!({"type": "move", "move": "g1f3"}));
    let last = b.wait("move");
    let last = if last["uci"] == "g1f3" {
        last
    } else {
        loop {
            let m = b.wait("move");
            if m["uci"] == "g1f3" {
                break m;
            }
        }
    };
    let before = last["clocks"].clone();
    let fen = last["fen"].clone();
    let (at, aid, bt, bid) = (a.token.clone(), a.id, b.token.clone(), b.id);
    drop((a, b, c));
    // The hardest stop: every acknowledged move must already be on disk.
    s.signal(libc::SIGKILL);
    s.wait_exit(Duration::from_secs(10));
    drop(s);

    let s = Server::start_in(&dir, &[], &[]);
    let mut a = Player::connect(&s, &at, aid);
    let mut b = Player::connect(&s, &bt, bid);
    let ra = a.req(json!({"type": "reconnect", "token": ta}));
    assert_eq!(ra["type"], "reconnected", "{ra}");
    let rb = b.req(json!({"type": "reconnect", "token": tb}));
    assert_eq!(rb["type"], "reconnected", "{rb}");
    let g = &rb["state"]["game"];
    assert_eq!(g["fen"], fen);
    assert_eq!(g["uci"], json!(["e2e4", "c7c5", "g1f3"]));
    assert_eq!(g["turn"], "black");
    // White's clock is exactly as acknowledged; black's (running) resumes
    // where it was, without the downtime.
    assert_eq!(g["clocks"]["white"], before["white"]);
    let bb = before["black"].as_u64().unwrap();
    let now_b = g["clocks"]["black"].as_u64().unwrap();
    assert!(now_b <= bb && bb - now_b < 5_000, "{bb} -> {now_b}");
    b.ok(json!({"type": "move", "move": "d7d6"}));
    let m = a.wait("move");
    assert_eq!(m["uci"], "d7d6");
    let live = s
        .client()
        .get_auth(&format!("/api/games/{room}"), None)
        .unwrap();
    assert_eq!(live.status, 200);
    assert_eq!(live.json()["status"], "live");

    // A graceful stop saves too: the game survives a SIGTERM restart.
    let (at, aid) = (a.token.clone(), a.id);
    drop((a, b));
    let mut s = s;
    s.signal(libc::SIGTERM);
    assert_eq!(s.wait_exit(Duration::from_secs(20)), Some(0));
    drop(s);
    let s = Server::start_in(&dir, &[], &[]);
    let mut a = Player::connect(&s, &at, aid);
    let st = poll(Duration::from_secs(5), || {
        let v = s
            .client()
            .get_auth(&format!("/api/games/{room}"), None)
            .unwrap();
        (v.status == 200).then(|| v.json())
    });
    assert_eq!(st["game"]["uci"], json!(["e2e4", "c7c5", "g1f3", "d7d6"]));
    let r = a.req(json!({"type": "join_room", "room": room}));
    assert_eq!(
        r["type"], "joined",
        "the same account takes its held seat: {r}"
    );
    assert_eq!(r["seat"], 0);
    a.ok(json!({"type": "move", "move": "d2d4"}));

    // Bad game configuration is refused at start-up.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_roomcore"))
        .args(["--listen", "127.0.0.1:0", "--shards", "1", "--data-dir"])
        .arg(common::temp_dir("rc-badcfg"))
        .env("RECONNECT_GRACE_SECS", "soon")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("RECONNECT_GRACE_SECS"));
}

/// Percentile of sorted samples.
fn pct(sorted: &[Duration], q: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

/// Move round trip (move sent -> opponent receives the `move` event) with
/// GAMES concurrent chess games (default 500) driven by THREADS client threads
/// (default 8, closed loop: each thread has one move in flight); SYNC sets
/// STORAGE_SYNCHRONOUS (default `normal`). Prints p50/p99/p99.9/max. Run against a release build:
/// `cargo test --release -p roomcore --test games -- --ignored --nocapture measure_`
#[test]
#[ignore = "measurement, not a test; see the doc comment"]
fn measure_chess_move_round_trip() {
    let env_n = |k: &str, d: usize| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(d)
    };
    let games = env_n("GAMES", 500);
    let threads = env_n("THREADS", 8).min(games).max(1);
    let s = Server::start_in(
        &common::temp_dir("rc-measure"),
        &[],
        &[(
            "STORAGE_SYNCHRONOUS",
            &std::env::var("SYNC").unwrap_or_else(|_| "normal".into()),
        )],
    );
    // A legal 20-ply Italian game (no repetition, no capture).
    const LINE: [&str; 20] = [
        "e2e4", "e7e5", "g1f3", "b8c6", "f1c4", "f8c5", "c2c3", "g8f6", "d2d3", "d7d6", "b1d2",
        "a7a6", "a2a4", "h7h6", "h2h3", "c8e6", "e1g1", "e8g8", "f1e1", "f8e8",
    ];
    let started = Instant::now();
    let per = games.div_ceil(threads);
    let s = &s;
    let mut all: Vec<Duration> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                scope.spawn(move || {
                    let mut c = s.client();
                    let n = per.min(games.saturating_sub(t * per));
                    let mut pairs: Vec<(Player, Player)> = (0..n)
                        .map(|_| {
                            let (a, b, _, _, _) = start_chess(s, &mut c);
                            (a, b)
                        })
                        .collect();
                    let mut samples = Vec::with_capacity(n * LINE.len());
                    for (ply, mv) in LINE.iter().enumerate() {
                        for (a, b) in pairs.iter_mut() {
                            let (mover, other) = if ply % 2 == 0 { (a, b) } else { (b, a) };
                            let t0 = Instant::now();
                            mover.send(json!({"type": "move", "move": mv}));
                            let m = other.wait("move");
                            samples.push(t0.elapsed());
                            assert_eq!(m["uci"], *mv);
                            mover.wait("ok");
                            mover.backlog.clear();
                            other.backlog.clear();
                        }
                    }
                    samples
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    all.sort();
    println!(
        "games={games} threads={threads} moves={} wall={:?} p50={:?} p99={:?} p99.9={:?} max={:?}",
        all.len(),
        started.elapsed(),
        pct(&all, 0.5),
        pct(&all, 0.99),
        pct(&all, 0.999),
        all[all.len() - 1]
    );
}

#[test]
fn a_spectator_that_has_its_joined_gets_the_next_move() {
    let s = Server::start(&[]);
    let mut c = s.client();
    let (mut a, mut b, room, _, _) = start_chess(&s, &mut c);
    // quiet pawn moves: every ply legal, no position repeated
    let line = [
        "e2e3", "e7e6", "d2d3", "d7d6", "g2g3", "g7g6", "b2b3", "b7b6", "h2h3", "h7h6", "a2a3",
        "a7a6",
    ];
    for (ply, mv) in line.iter().enumerate() {
        // a newcomer on either shard (half of them are handed over to the room's owner)
        let mut spec = Player::on_shard(&s, &mut c, None, None);
        let js = spec.req(json!({"type": "join_room", "room": room, "role": "spectator"}));
        assert_eq!(js["role"], "spectator", "{js}");
        let mover = if ply % 2 == 0 { &mut a } else { &mut b };
        mover.ok(json!({"type": "move", "move": mv}));
        let m = spec.wait("move");
        assert_eq!(m["uci"], *mv, "spectator {ply}: {m}");
        assert_eq!(m["ply"], ply + 1, "{m}");
    }
}

/// Two players on different shards in a started chess game: (white, black,
/// room, white's reconnect token, black's reconnect token).
fn start_chess(s: &Server, c: &mut Client) -> (Player, Player, String, String, String) {
    let mut a = Player::on_shard(s, c, None, None);
    let mut b = Player::on_shard(s, c, None, Some(a.shard));
    let j = a.req(
        json!({"type": "create_room", "kind": "chess", "name": "<b>duel</b>",
        "settings": {"initial_secs": 120, "increment_secs": 1}}),
    );
    assert_eq!(j["type"], "joined", "{j}");
    assert_eq!(j["seat"], 0);
    assert_eq!(
        j["state"]["name"], "&lt;b&gt;duel&lt;&#x2F;b&gt;",
        "names are escaped"
    );
    let room = j["room"].as_str().unwrap().to_string();
    let jb = b.req(json!({"type": "join_room", "room": room}));
    assert_eq!(jb["type"], "joined", "{jb}");
    assert_eq!(jb["seat"], 1);
    a.wait("game_started");
    b.wait("game_started");
    let ta = j["reconnect_token"].as_str().unwrap().to_string();
    let tb = jb["reconnect_token"].as_str().unwrap().to_string();
    (a, b, room, ta, tb)
}
