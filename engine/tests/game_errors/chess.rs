//! Chess draws and resignation on `/ws`: an offer declined then another accepted ends the game
//! as a draw for everyone in the room; the refusals before the start, after the end, without an
//! offer, answering one's own offer, from a spectator, and party actions in a chess room.

use serde_json::{json, Value};

use super::common::player::Player;
use super::common::Server;
use super::{alive, create_chess, game, refused};

#[test]
fn a_declined_offer_clears_and_an_accepted_one_ends_the_game_as_a_draw() {
    let s = Server::start(&[]);
    let mut c = s.client();
    let mut a = Player::on_shard(&s, &mut c, None, None);
    let mut b = Player::on_shard(&s, &mut c, None, Some(a.shard));
    let (room, _) = create_chess(&mut a);

    // Before the game starts (white alone): offering and resigning are `not_started`; with
    // no offer there is nothing to answer.
    refused(&mut a, json!({"type": "offer_draw"}), "not_started");
    refused(&mut a, json!({"type": "resign"}), "not_started");
    refused(
        &mut a,
        json!({"type": "move", "move": "e2e4"}),
        "not_started",
    );
    refused(&mut a, json!({"type": "accept_draw"}), "no_draw_offer");
    refused(&mut a, json!({"type": "decline_draw"}), "no_draw_offer");
    refused(
        &mut a,
        json!({"type": "offer_draw", "why": 1}),
        "invalid_message",
    );
    assert_eq!(game(&mut a)["started"], false);

    let jb = b.req(json!({"type": "join_room", "room": room}));
    assert_eq!(jb["seat"], 1, "{jb}");
    a.wait("game_started");
    b.wait("game_started");
    let mut spec = Player::on_shard(&s, &mut c, None, None);
    let js = spec.req(json!({"type": "join_room", "room": room, "role": "spectator"}));
    assert_eq!(js["role"], "spectator", "{js}");

    // Started, no offer yet.
    for p in [&mut a, &mut b] {
        refused(p, json!({"type": "accept_draw"}), "no_draw_offer");
        refused(p, json!({"type": "decline_draw"}), "no_draw_offer");
    }
    // A spectator may do none of it.
    for ty in ["offer_draw", "accept_draw", "decline_draw", "resign"] {
        refused(&mut spec, json!({"type": ty}), "forbidden");
    }
    // Party actions in a chess room.
    refused(&mut a, json!({"type": "start"}), "wrong_game");
    refused(
        &mut a,
        json!({"type": "claim_slot", "slot": 0}),
        "wrong_game",
    );

    // White offers: everyone hears it; white cannot answer it.
    let ok = a.ok(json!({"type": "offer_draw"}));
    let offered_seq = ok["room_seq"].as_u64().unwrap();
    for p in [&mut a, &mut b, &mut spec] {
        let e = p.wait("draw_offered");
        assert_eq!(
            (e["by"].as_str(), e["room"].as_str()),
            (Some("white"), Some(room.as_str())),
            "{e}"
        );
        assert_eq!(e["room_seq"], offered_seq, "{e}");
    }
    assert_eq!(game(&mut b)["draw_offer"], "white");
    refused(&mut a, json!({"type": "accept_draw"}), "no_draw_offer");
    refused(&mut a, json!({"type": "decline_draw"}), "no_draw_offer");
    refused(&mut spec, json!({"type": "accept_draw"}), "forbidden");
    // Black declines: the offer is gone.
    b.ok(json!({"type": "decline_draw"}));
    for p in [&mut a, &mut b, &mut spec] {
        let e = p.wait("draw_declined");
        assert_eq!(e["by"], "black", "{e}");
    }
    assert_eq!(game(&mut a)["draw_offer"], Value::Null);
    refused(&mut b, json!({"type": "accept_draw"}), "no_draw_offer");
    refused(&mut b, json!({"type": "decline_draw"}), "no_draw_offer");
    // The game goes on.
    a.ok(json!({"type": "move", "move": "e2e4"}));
    b.ok(json!({"type": "move", "move": "e7e5"}));

    // Black offers, white accepts: a draw by agreement for the whole room.
    b.ok(json!({"type": "offer_draw"}));
    a.wait("draw_offered");
    refused(&mut b, json!({"type": "accept_draw"}), "no_draw_offer");
    a.ok(json!({"type": "accept_draw"}));
    for p in [&mut a, &mut b, &mut spec] {
        let over = p.wait("game_over");
        assert_eq!(over["result"], "1/2-1/2", "{over}");
        assert_eq!(over["reason"], "agreement", "{over}");
        assert_eq!(over["winner"], Value::Null, "{over}");
        assert!(over["pgn"].as_str().unwrap().contains("1/2-1/2"), "{over}");
    }
    let g = game(&mut spec);
    assert_eq!(
        (g["result"].as_str(), g["reason"].as_str()),
        (Some("1/2-1/2"), Some("agreement")),
        "{g}"
    );
    assert_eq!(g["draw_offer"], Value::Null, "{g}");

    // After the end every chess action is `game_over` for both players.
    for p in [&mut a, &mut b] {
        for ty in ["offer_draw", "accept_draw", "decline_draw", "resign"] {
            refused(p, json!({"type": ty}), "game_over");
        }
        refused(p, json!({"type": "move", "move": "g1f3"}), "game_over");
    }
    refused(&mut spec, json!({"type": "resign"}), "forbidden");
    for p in [&mut a, &mut b, &mut spec] {
        alive(p);
    }
    assert_eq!(game(&mut a)["result"], "1/2-1/2");
}

#[test]
fn resign_before_the_start_and_after_the_end() {
    let s = Server::start(&[]);
    let mut c = s.client();
    let mut a = Player::on_shard(&s, &mut c, None, None);
    let mut b = Player::on_shard(&s, &mut c, None, None);
    let (room, _) = create_chess(&mut a);
    refused(&mut a, json!({"type": "resign"}), "not_started");
    let jb = b.req(json!({"type": "join_room", "room": room}));
    assert_eq!(jb["seat"], 1, "{jb}");
    a.wait("game_started");
    b.ok(json!({"type": "resign"}));
    for p in [&mut a, &mut b] {
        let over = p.wait("game_over");
        assert_eq!(
            (over["result"].as_str(), over["reason"].as_str()),
            (Some("1-0"), Some("resignation")),
            "{over}"
        );
        assert_eq!(over["winner"], "white", "{over}");
    }
    for p in [&mut a, &mut b] {
        refused(p, json!({"type": "resign"}), "game_over");
        refused(p, json!({"type": "offer_draw"}), "game_over");
    }
    // Both players can still leave and start over.
    a.ok(json!({"type": "leave_room"}));
    create_chess(&mut a);
    alive(&mut b);
}
