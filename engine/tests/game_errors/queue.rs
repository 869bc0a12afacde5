//! Matchmaking refusals on `/ws`: `cancel_queue` without a ticket, `queue` while in a room,
//! with an unknown mode, bad mode/region characters, more than 8 members, an invalid party
//! member token, a party larger than the mode's teams.

use serde_json::json;

use super::common::player::Player;
use super::common::Server;
use super::{alive, create_chess, refused};

#[test]
fn queue_and_cancel_queue_refusals() {
    let s = Server::start(&[]);
    let mut c = s.client();
    let mut p = Player::on_shard(&s, &mut c, None, None);
    let (mate, _) = c.guest();
    let (mate2, _) = c.guest();

    refused(&mut p, json!({"type": "cancel_queue"}), "not_queued");
    refused(
        &mut p,
        json!({"type": "queue", "mode": "golf"}),
        "unknown_mode",
    );
    refused(
        &mut p,
        json!({"type": "queue", "mode": "Chess"}),
        "unknown_mode",
    );
    // Mode and region are 1 to 32 of [A-Za-z0-9_-].
    for (mode, region) in [
        ("", "eu"),
        ("chess!", "eu"),
        ("ch ess", "eu"),
        ("chess", ""),
        ("chess", "eu/west"),
        ("chess", "é"),
    ] {
        refused(
            &mut p,
            json!({"type": "queue", "mode": mode, "region": region}),
            "invalid_message",
        );
    }
    refused(
        &mut p,
        json!({"type": "queue", "mode": "c".repeat(33)}),
        "invalid_message",
    );
    refused(
        &mut p,
        json!({"type": "queue", "mode": "chess", "region": "r".repeat(33)}),
        "invalid_message",
    );
    // At most 8 party members (checked before any token).
    let nine: Vec<String> = (0..9).map(|_| mate.clone()).collect();
    refused(
        &mut p,
        json!({"type": "queue", "mode": "party", "party": nine}),
        "invalid_message",
    );
    refused(
        &mut p,
        json!({"type": "queue", "mode": "party", "party": ["x".repeat(513)]}),
        "invalid_message",
    );
    refused(
        &mut p,
        json!({"type": "queue", "mode": "party", "party": "not-a-list"}),
        "invalid_message",
    );
    // Member tokens are verified.
    refused(
        &mut p,
        json!({"type": "queue", "mode": "party", "party": ["garbage"]}),
        "invalid_token",
    );
    refused(
        &mut p,
        json!({"type": "queue", "mode": "party", "party": [mate, "garbage"]}),
        "invalid_token",
    );
    // Chess takes parties of 1, party of 2.
    refused(
        &mut p,
        json!({"type": "queue", "mode": "chess", "party": [mate]}),
        "party_too_large",
    );
    refused(
        &mut p,
        json!({"type": "queue", "mode": "party", "party": [mate, mate2]}),
        "party_too_large",
    );
    // None of that queued anything.
    refused(&mut p, json!({"type": "cancel_queue"}), "not_queued");
    // One's own token in the party is the same member (a party of 1 for chess).
    let own = p.token.clone();
    let q = p.req(json!({"type": "queue", "mode": "chess", "region": "ge-own", "party": [own]}));
    assert_eq!(q["type"], "queued", "{q}");
    let r = p.req(json!({"type": "cancel_queue"}));
    assert_eq!(
        (r["type"].as_str(), &r["removed"]),
        (Some("queue_cancelled"), &json!(true)),
        "{r}"
    );
    refused(&mut p, json!({"type": "cancel_queue"}), "not_queued");
    let q = p.req(json!({"type": "queue", "mode": "party", "region": "ge-duo", "party": [mate]}));
    assert_eq!(q["type"], "queued", "{q}");
    p.req(json!({"type": "cancel_queue"}));

    // In a room: `queue` is refused; `cancel_queue` has nothing to cancel.
    create_chess(&mut p);
    for mode in ["chess", "party", "golf"] {
        refused(
            &mut p,
            json!({"type": "queue", "mode": mode}),
            "already_in_room",
        );
    }
    refused(&mut p, json!({"type": "cancel_queue"}), "not_queued");
    let st = p.req(json!({"type": "state"}));
    assert_eq!(st["type"], "room_state", "{st}");
    p.ok(json!({"type": "leave_room"}));
    let q = p.req(json!({"type": "queue", "mode": "chess", "region": "ge-after"}));
    assert_eq!(q["type"], "queued", "{q}");
    alive(&mut p);
}
