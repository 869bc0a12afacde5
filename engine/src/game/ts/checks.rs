//! The hand-written client wire enum checked against the real parser, and the `#[ts(as)]`
//! annotated strings against what the server writes.

use serde_json::{json, Map, Value};

use super::{ClientBody, GameResult};
use crate::game::chess::{Finish, Reason, Side};
use crate::game::events::RoomEvent;
use crate::game::protocol::{parse, ClientMsg, Kind};

/// Every client message with every optional field set.
fn samples() -> Vec<Value> {
    let token = "r-1.0123456789abcdef0123456789abcdef";
    vec![
        json!({"type": "hello", "token": "t"}),
        json!({"type": "ping"}),
        json!({"type": "list_rooms", "kind": "chess"}),
        json!({"type": "create_room", "kind": "chess", "name": "g",
               "settings": {"initial_secs": 60, "increment_secs": 1}}),
        json!({"type": "create_room", "kind": "party", "name": "g",
               "settings": {"slots": 3, "turn_secs": 5, "rounds": 2}}),
        json!({"type": "join_room", "room": "c-1", "role": "spectator"}),
        json!({"type": "leave_room"}),
        json!({"type": "state"}),
        json!({"type": "move", "move": "e2e4"}),
        json!({"type": "resign"}),
        json!({"type": "offer_draw"}),
        json!({"type": "accept_draw"}),
        json!({"type": "decline_draw"}),
        json!({"type": "claim_slot", "slot": 1, "name": "Ann"}),
        json!({"type": "update_settings", "settings": {"slots": 3, "turn_secs": 5, "rounds": 1}}),
        json!({"type": "start"}),
        json!({"type": "switch"}),
        json!({"type": "pause"}),
        json!({"type": "resume"}),
        json!({"type": "reset"}),
        json!({"type": "eliminate", "slot": 0}),
        json!({"type": "reconnect", "token": token, "last_seq": 3}),
        json!({"type": "queue", "mode": "chess", "region": "eu", "party": ["t"]}),
        json!({"type": "cancel_queue"}),
    ]
}

/// The wire name of a parsed message. Exhaustive: a new `ClientMsg` variant does not
/// compile here until it has a name (then add it to `ClientBody` and `samples`).
fn name(m: &ClientMsg) -> &'static str {
    match m {
        ClientMsg::Hello { .. } => "hello",
        ClientMsg::Ping => "ping",
        ClientMsg::ListRooms { .. } => "list_rooms",
        ClientMsg::CreateRoom { .. } => "create_room",
        ClientMsg::JoinRoom { .. } => "join_room",
        ClientMsg::LeaveRoom => "leave_room",
        ClientMsg::State => "state",
        ClientMsg::Move { .. } => "move",
        ClientMsg::Resign => "resign",
        ClientMsg::OfferDraw => "offer_draw",
        ClientMsg::AcceptDraw => "accept_draw",
        ClientMsg::DeclineDraw => "decline_draw",
        ClientMsg::ClaimSlot { .. } => "claim_slot",
        ClientMsg::UpdateSettings { .. } => "update_settings",
        ClientMsg::Start => "start",
        ClientMsg::Switch => "switch",
        ClientMsg::Pause => "pause",
        ClientMsg::Resume => "resume",
        ClientMsg::Reset => "reset",
        ClientMsg::Eliminate { .. } => "eliminate",
        ClientMsg::Reconnect { .. } => "reconnect",
        ClientMsg::Queue { .. } => "queue",
        ClientMsg::CancelQueue => "cancel_queue",
    }
}

/// Whether the real parser accepts `v` (with a `seq`, which the wire enum does not carry).
fn real(v: &Value) -> Result<&'static str, String> {
    let mut o = v.as_object().unwrap().clone();
    o.insert("seq".into(), json!(9));
    let (seq, m) = parse(Value::Object(o).to_string().as_bytes());
    assert_eq!(seq, Some(9), "seq is echoed for {v}");
    m.map(|m| name(&m))
        .map_err(|e| format!("{}: {}", e.code, e.message))
}

fn wire(v: &Value) -> Result<(), String> {
    serde_json::from_value::<ClientBody>(v.clone())
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// The paths of every object in `v` (the root first).
fn objects(v: &Value, path: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    let Value::Object(o) = v else { return };
    out.push(path.clone());
    for (k, child) in o {
        path.push(k.clone());
        objects(child, path, out);
        path.pop();
    }
}

/// `v` with an unknown field added to one of its objects, or one field removed.
fn mutations(v: &Value) -> Vec<(String, Value)> {
    let mut paths = Vec::new();
    objects(v, &mut Vec::new(), &mut paths);
    let mut out = Vec::new();
    for p in paths {
        let at = if p.is_empty() {
            "the message".to_string()
        } else {
            p.join(".")
        };
        let mut extra = v.clone();
        object_at(&mut extra, &p).insert("zz_unknown".into(), json!(1));
        out.push((format!("an unknown field in {at}"), extra));
        let keys: Vec<String> = object_at(&mut v.clone(), &p).keys().cloned().collect();
        for k in keys {
            if p.is_empty() && k == "type" {
                continue;
            }
            let mut dropped = v.clone();
            object_at(&mut dropped, &p).remove(&k);
            out.push((format!("`{k}` left out of {at}"), dropped));
        }
    }
    out
}

fn object_at<'a>(v: &'a mut Value, path: &[String]) -> &'a mut Map<String, Value> {
    let mut cur = v;
    for k in path {
        cur = cur.get_mut(k).unwrap();
    }
    cur.as_object_mut().unwrap()
}

#[test]
fn client_wire_matches_the_parser() {
    let samples = samples();
    // Every variant of the wire enum has a sample (serde lists them on an unknown one).
    let err = serde_json::from_value::<ClientBody>(json!({"type": "zz"}))
        .unwrap_err()
        .to_string();
    let listed = err.split("expected one of ").nth(1).expect(&err);
    for ty in listed
        .split(", ")
        .map(|s| s.trim_matches(|c| c == '`' || c == ' '))
    {
        assert!(
            samples.iter().any(|s| s["type"] == ty),
            "no sample of `{ty}`"
        );
    }
    for s in &samples {
        let ty = s["type"].as_str().unwrap();
        assert_eq!(real(s), Ok(ty), "the parser accepts the sample {s}");
        assert_eq!(wire(s), Ok(()), "the wire enum accepts the sample {s}");
        for (what, v) in mutations(s) {
            assert_eq!(
                real(&v).is_ok(),
                wire(&v).is_ok(),
                "`{ty}` with {what}: the parser says {:?}, the wire enum {:?}",
                real(&v),
                wire(&v)
            );
        }
    }
}

#[test]
fn annotated_strings_are_what_the_server_writes() {
    // `#[ts(as = "Side")]` on the `&'static str` sides, `GameResult` on the results.
    for s in [Side::White, Side::Black] {
        assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
    }
    for (winner, r) in [
        (Some(Side::White), GameResult::WhiteWon),
        (Some(Side::Black), GameResult::BlackWon),
        (None, GameResult::Draw),
    ] {
        let f = Finish {
            winner,
            reason: Reason::Resignation,
        };
        assert_eq!(serde_json::to_value(r).unwrap(), f.result());
    }
    // `#[ts(as = "Kind")]` on `match_found.kind`.
    for k in [Kind::Chess, Kind::Party] {
        assert_eq!(serde_json::to_value(k).unwrap(), k.as_str());
    }
    // `RoomEventMessage`: an event's own fields plus `room` and `room_seq`.
    let ev = RoomEvent::DrawOffered { by: "white" };
    let alone = serde_json::to_value(&ev).unwrap();
    let (_, text) = ev.encode("c-1", 4);
    let mut sent: Value = serde_json::from_str(&text).unwrap();
    let o = sent.as_object_mut().unwrap();
    assert_eq!(o.remove("room"), Some(json!("c-1")));
    assert_eq!(o.remove("room_seq"), Some(json!(4)));
    assert_eq!(sent, alone);
}
