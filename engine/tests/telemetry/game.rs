//! Game messages: a chess move with its validation and durable save, linked to the commit
//! that made it durable, inside its session; a match formed between players on two shards.

use serde_json::json;

use crate::collector::{Collector, Mode};
use crate::common::player::Player;
use crate::{traced, traceparent};

const UPGRADE_TRACE: &str = "0af7651916cd43dd8448eb211c80319c";
const UPGRADE_PARENT: &str = "b7ad6b7169203331";
const MOVE_TRACE: &str = "5b8efff798038103d269b633813fc60c";
const MOVE_PARENT: &str = "eee19b7ec3c1b174";

#[test]
fn a_chess_move_traces_its_validation_and_save_linked_to_the_commit() {
    let col = Collector::start(Mode::Accept);
    let s = traced(&col, &[]);
    let mut c = s.client();
    let up = traceparent(UPGRADE_TRACE, UPGRADE_PARENT);
    let mut a = Player::on_shard_with(&s, &mut c, None, None, &[("traceparent", &up)]);
    let mut b = Player::on_shard(&s, &mut c, None, Some(a.shard));
    let j = a.req(
        json!({"type": "create_room", "kind": "chess", "name": "traced",
                         "settings": {"initial_secs": 120, "increment_secs": 1}}),
    );
    assert_eq!(j["type"], "joined", "{j}");
    let room = j["room"].as_str().unwrap().to_string();
    let jb = b.req(json!({"type": "join_room", "room": room}));
    assert_eq!(jb["type"], "joined", "{jb}");
    a.wait("game_started");
    b.wait("game_started");

    // White's move carries a traceparent of its own: the message span continues it.
    let tp = traceparent(MOVE_TRACE, MOVE_PARENT);
    let ok = a.req(json!({"type": "move", "move": "e2e4", "traceparent": tp}));
    assert_eq!(
        (ok["type"].as_str(), ok["saved"].as_bool()),
        (Some("ok"), Some(true)),
        "{ok}"
    );
    let msg = col.wait_span("game move", |s| s.trace_id == MOVE_TRACE);
    assert_eq!(msg.parent_span_id, MOVE_PARENT);
    assert_eq!(msg.attr("game.message.type"), Some("move"));
    assert_eq!(msg.attr("roomcore.room"), Some(room.as_str()));
    assert_eq!(msg.attr("user.id"), Some(a.id.to_string().as_str()));
    assert!(msg.attr("game.message.seq").is_some());

    // Its children: the rules check and the durable save.
    let validate = col.wait_span("game.validate", |s| s.child_of(&msg));
    assert_eq!(validate.attr("game.move"), Some("e2e4"));
    let save = col.wait_span("game.save", |s| s.child_of(&msg));
    assert_eq!(save.attr("roomcore.room"), Some(room.as_str()));
    // The save's storage command, linked to the group-commit transaction that carried it.
    let cmd = col.wait_span("save_rooms", |s| s.child_of(&save));
    assert_eq!(cmd.kind, 3, "a client span");
    assert_eq!(cmd.attr("db.system"), Some("sqlite"));
    assert_eq!(cmd.attr("db.operation.name"), Some("save_rooms"));
    let commit = col.wait_span("COMMIT", |c| cmd.links_to(c));
    assert!(
        commit.links_to(&cmd),
        "the commit links back to its command"
    );
    assert_eq!(commit.attr("db.system"), Some("sqlite"));
    let n: usize = commit
        .attr("db.operation.batch.size")
        .unwrap()
        .parse()
        .unwrap();
    assert!(n >= 1);

    // Black's move has no traceparent: it is a child of black's session span.
    let okb = b.req(json!({"type": "move", "move": "e7e5"}));
    assert_eq!(okb["type"], "ok", "{okb}");
    let bid = b.id.to_string();
    let bmsg = col.wait_span("game move", |s| s.attr("user.id") == Some(bid.as_str()));
    // A refused message records why.
    let e = a.req(json!({"type": "move", "move": "e9e9"}));
    assert_eq!(e["code"], "illegal_move");
    col.wait_span("game move", |s| {
        s.attr("error.type") == Some("illegal_move")
    });
    // A type the client made up does not name a span (span names stay a small set).
    let e = a.req(json!({"type": "teleport-<script>"}));
    assert_eq!(e["code"], "unknown_type");
    let bad = col.wait_span("game (invalid)", |s| {
        s.attr("error.type") == Some("unknown_type")
    });
    assert_eq!(bad.attr("game.message.type"), Some("(invalid)"));

    // The sessions end with their sockets: children of the upgrade, with their counts.
    a.close();
    b.close();
    let session = col.wait_span("WS /ws", |s| s.trace_id == UPGRADE_TRACE);
    let upgrade = col.wait_span("GET /ws", |s| s.trace_id == UPGRADE_TRACE);
    assert_eq!(upgrade.parent_span_id, UPGRADE_PARENT);
    assert_eq!(upgrade.attr("http.response.status_code"), Some("101"));
    assert_eq!(
        a.traceresponse
            .as_deref()
            .map(|t| t.contains(&upgrade.span_id)),
        Some(true)
    );
    assert!(
        session.child_of(&upgrade),
        "the session is a child of its upgrade"
    );
    assert!(
        msg.links_to(&session),
        "a message with its own trace links its session"
    );
    assert_eq!(session.attr("http.route"), Some("/ws"));
    assert_eq!(session.attr("user.id"), Some(a.id.to_string().as_str()));
    assert_eq!(session.attr("roomcore.room"), Some(room.as_str()));
    assert_eq!(session.attr("websocket.close.code"), Some("1000"));
    let n: u64 = session
        .attr("roomcore.ws.messages_in")
        .unwrap()
        .parse()
        .unwrap();
    assert!(n >= 4, "hello, create_room, 2 moves: {n}");
    let bsession = col.wait_span("WS /ws", |s| s.attr("user.id") == Some(bid.as_str()));
    assert!(
        bmsg.child_of(&bsession),
        "messages are children of their session"
    );
    assert!(
        bsession.attr("roomcore.ws.moved_to").is_some(),
        "black moved to the room's shard, and its span with it: {:?}",
        bsession.attrs
    );
}

#[test]
fn a_match_between_players_on_two_shards_has_linked_spans() {
    let col = Collector::start(Mode::Accept);
    let s = traced(&col, &[]);
    let mut c = s.client();
    let mut p = Player::on_shard(&s, &mut c, None, None);
    let mut q = Player::on_shard(&s, &mut c, None, Some(p.shard));
    assert_ne!(p.shard, q.shard);
    for pl in [&mut p, &mut q] {
        let r = pl.req(json!({"type": "queue", "mode": "chess", "region": "trace"}));
        assert_eq!(r["type"], "queued", "{r}");
    }
    let fp = p.wait("match_found");
    let fq = q.wait("match_found");
    assert_eq!(fp["room"], fq["room"]);
    let room = fp["room"].as_str().unwrap().to_string();

    let enq = |t: &serde_json::Value| {
        let t = t.as_str().unwrap().to_string();
        col.wait_span("matchmaking.enqueue", move |s| {
            s.attr("matchmaking.ticket") == Some(t.as_str())
        })
    };
    let ep = enq(&fp["ticket"]);
    let eq = enq(&fq["ticket"]);
    assert_eq!(
        ep.attr("roomcore.shard"),
        Some(p.shard.to_string().as_str())
    );
    assert_eq!(
        eq.attr("roomcore.shard"),
        Some(q.shard.to_string().as_str())
    );
    assert_eq!(ep.attr("matchmaking.mode"), Some("chess"));
    // Each enqueue is a child of its player's queue message.
    col.wait_span("game queue", |s| ep.child_of(s));
    col.wait_span("game queue", |s| eq.child_of(s));
    // The match (on the queue's owner shard) links both tickets' spans...
    let m = col.wait_span("matchmaking.match", |s| {
        s.attr("roomcore.room") == Some(room.as_str())
    });
    assert!(m.links_to(&ep) && m.links_to(&eq), "{:?}", m.links);
    assert_eq!(m.attr("matchmaking.tickets"), Some("2"));
    // ...and the room's creation on its owner shard is the match's child.
    let created = col.wait_span("matchmaking.create_room", |s| s.child_of(&m));
    assert_eq!(created.attr("roomcore.room"), Some(room.as_str()));
    assert_eq!(created.attr("matchmaking.created"), Some("true"));
}
