//! `POST /api/matchmaking/tickets` and `GET|DELETE /api/matchmaking/tickets/{id}` refusals
//! (engine/src/api/games.rs, engine/src/api/auth.rs, engine/src/api/json.rs).

use serde_json::json;

use super::common::Client;
use super::{assert_405, assert_503, assert_error, start};

const TICKETS: &str = "/api/matchmaking/tickets";

fn enqueue(c: &mut Client, token: Option<&str>, body: &serde_json::Value) -> super::HttpResponse {
    c.post_json(TICKETS, token, body).unwrap()
}

/// POST a raw body with a bearer token.
fn post_raw(c: &mut Client, token: &str, body: &[u8]) -> super::HttpResponse {
    let auth = format!("Bearer {token}");
    c.send(
        "POST",
        TICKETS,
        &[
            ("Content-Type", "application/json"),
            ("Authorization", &auth),
        ],
        body,
    )
    .unwrap()
}

#[test]
fn enqueue_refuses_bad_tokens_bodies_modes_and_methods() {
    let s = start("rc-apie-mm", &[], &[]);
    let mut c = s.client();
    let (t, _) = c.guest();
    let ok = json!({"mode": "chess", "region": "eu"});

    // Authentication comes first: no token, a forged one, another scheme.
    let r = enqueue(&mut c, None, &ok);
    assert_error(&r, 401, "missing bearer token");
    assert_eq!(
        r.header("WWW-Authenticate"),
        Some("Bearer realm=\"roomcore\"")
    );
    let r = enqueue(&mut c, Some("rc1.forged.token"), &ok);
    assert_error(&r, 401, "invalid token");
    assert!(r.header("WWW-Authenticate").is_some(), "{:?}", r.headers);
    let r = c
        .send(
            "POST",
            TICKETS,
            &[("Authorization", "Basic dXNlcjpwdw==")],
            ok.to_string().as_bytes(),
        )
        .unwrap();
    assert_error(&r, 401, "Authorization must be 'Bearer <token>'");

    // Bodies: empty, not JSON, missing `mode`, an unknown field.
    assert_error(
        &post_raw(&mut c, &t, b""),
        400,
        "request body must be a JSON object",
    );
    assert_error(&post_raw(&mut c, &t, b"{"), 400, "invalid JSON body");
    assert_error(
        &post_raw(&mut c, &t, b"{}"),
        400,
        "invalid JSON body: missing field `mode`",
    );
    assert_error(
        &enqueue(&mut c, Some(&t), &json!({"mode": "chess", "admin": true})),
        400,
        "unknown field `admin`",
    );

    // Mode and region characters and lengths, then an unknown mode.
    let idents = "mode and region are 1 to 32 of [A-Za-z0-9_-]";
    for body in [
        json!({"mode": "ch ess"}),
        json!({"mode": ""}),
        json!({"mode": "chess", "region": "eu/west"}),
        json!({"mode": "chess", "region": ""}),
        json!({"mode": "chess", "region": "r".repeat(33)}),
        json!({"mode": "m".repeat(33)}),
    ] {
        assert_error(&enqueue(&mut c, Some(&t), &body), 400, idents);
    }
    assert_error(
        &enqueue(&mut c, Some(&t), &json!({"mode": "golf"})),
        400,
        "unknown mode `golf`",
    );

    // `rating` is honoured only with ROOMCORE_TEST_HOOKS=1.
    assert_error(
        &enqueue(
            &mut c,
            Some(&t),
            &json!({"mode": "chess", "region": "eu", "rating": 1500.0}),
        ),
        400,
        "rating overrides need ROOMCORE_TEST_HOOKS=1",
    );

    // Wrong methods on the collection.
    for m in ["GET", "PUT", "DELETE"] {
        let auth = format!("Bearer {t}");
        let r = c
            .send(m, TICKETS, &[("Authorization", &auth)], b"")
            .unwrap();
        assert_405(&r, "POST");
    }

    // None of the refusals queued anything: the user can still queue once.
    let r = enqueue(&mut c, Some(&t), &ok);
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.json()["status"], "queued");
}

#[test]
fn enqueue_refuses_bad_parties_and_a_second_ticket() {
    let s = start("rc-apie-party", &[], &[]);
    let mut c = s.client();
    let (t, _) = c.guest();
    let (m1, _) = c.guest();
    let (m2, _) = c.guest();

    // More than 8 party tokens: refused before any token is checked.
    let nine: Vec<String> = (0..9).map(|i| format!("junk-{i}")).collect();
    assert_error(
        &enqueue(&mut c, Some(&t), &json!({"mode": "party", "party": nine})),
        400,
        "a party has at most 8 members",
    );
    // A member's invalid token.
    let r = enqueue(
        &mut c,
        Some(&t),
        &json!({"mode": "party", "party": [m1, "rc1.not.a-token"]}),
    );
    assert_error(&r, 401, "a party member's token is invalid");
    // Larger than the mode's team size (chess: 1, party: 2).
    assert_error(
        &enqueue(
            &mut c,
            Some(&t),
            &json!({"mode": "chess", "region": "eu", "party": [m1]}),
        ),
        400,
        "mode chess takes parties of at most 1",
    );
    assert_error(
        &enqueue(
            &mut c,
            Some(&t),
            &json!({"mode": "party", "region": "eu", "party": [m1, m2]}),
        ),
        400,
        "mode party takes parties of at most 2",
    );

    // The same user twice in one queue; also as a party member of someone else's ticket.
    let first = enqueue(&mut c, Some(&t), &json!({"mode": "party", "region": "dup"}));
    assert_eq!(first.status, 201, "{}", first.body);
    let r = enqueue(&mut c, Some(&t), &json!({"mode": "party", "region": "dup"}));
    assert_error(&r, 409, "a member of this ticket is already queued");
    let r = enqueue(
        &mut c,
        Some(&m1),
        &json!({"mode": "party", "region": "dup", "party": [t]}),
    );
    assert_error(&r, 409, "a member of this ticket is already queued");
}

#[test]
fn a_full_queue_is_503_with_retry_after() {
    let s = start("rc-apie-full", &[], &[("MM_MAX_QUEUE", "1")]);
    let mut c = s.client();
    let (a, _) = c.guest();
    let (b, _) = c.guest();
    let body = json!({"mode": "chess", "region": "full"});
    let r = enqueue(&mut c, Some(&a), &body);
    assert_eq!(r.status, 201, "{}", r.body);
    // The queue holds one ticket: the second player is refused (never enters, so no match).
    let r = enqueue(&mut c, Some(&b), &body);
    assert_503(&r, "this queue is full; retry later", "1");
    // The cap is per (mode, region): another region still takes them.
    let r = enqueue(
        &mut c,
        Some(&b),
        &json!({"mode": "chess", "region": "other"}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
}

#[test]
fn ticket_polls_and_cancels_refuse_strangers_and_unknown_ids() {
    let s = start("rc-apie-ticket", &[], &[]);
    let mut c = s.client();
    let (owner, _) = c.guest();
    let (other, _) = c.guest();
    let r = enqueue(
        &mut c,
        Some(&owner),
        &json!({"mode": "chess", "region": "tk"}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let id = r.json()["ticket"].as_str().unwrap().to_string();
    let path = format!("{TICKETS}/{id}");
    let bearer = |t: &str| format!("Bearer {t}");

    // No token.
    for m in ["GET", "DELETE"] {
        let r = c.send(m, &path, &[], b"").unwrap();
        assert_error(&r, 401, "missing bearer token");
    }
    let r = c
        .send("GET", &path, &[("Authorization", "Bearer junk")], b"")
        .unwrap();
    assert_error(&r, 401, "invalid token");

    // Garbage ids (no `mode.region.` prefix, empty, over-long) and a well-formed unknown one.
    let long = format!("chess.tk.{}", "x".repeat(100));
    for bad in ["garbage", "", long.as_str(), "chess.tk.nope"] {
        let p = format!("{TICKETS}/{bad}");
        let r = c.get_auth(&p, Some(&owner)).unwrap();
        assert_error(&r, 404, "no such ticket");
    }
    let r = c
        .send(
            "DELETE",
            &format!("{TICKETS}/garbage"),
            &[("Authorization", &bearer(&owner))],
            b"",
        )
        .unwrap();
    assert_error(&r, 404, "no such ticket");
    let r = c
        .send(
            "DELETE",
            &format!("{TICKETS}/chess.tk.nope"),
            &[("Authorization", &bearer(&owner))],
            b"",
        )
        .unwrap();
    assert_error(&r, 404, "no such queued ticket");

    // Another user's ticket: not found for them, and their DELETE leaves it queued.
    let r = c.get_auth(&path, Some(&other)).unwrap();
    assert_error(&r, 404, "no such ticket");
    let r = c
        .send("DELETE", &path, &[("Authorization", &bearer(&other))], b"")
        .unwrap();
    assert_error(&r, 404, "no such queued ticket");
    let r = c.get_auth(&path, Some(&owner)).unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["status"], "queued", "{}", r.body);

    // Wrong methods.
    for m in ["POST", "PUT", "PATCH"] {
        let r = c
            .send(m, &path, &[("Authorization", &bearer(&owner))], b"")
            .unwrap();
        assert_405(&r, "GET, HEAD, DELETE");
    }

    // The owner cancels; a second cancel finds nothing queued.
    let r = c
        .send("DELETE", &path, &[("Authorization", &bearer(&owner))], b"")
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["status"], "cancelled");
    let r = c
        .send("DELETE", &path, &[("Authorization", &bearer(&owner))], b"")
        .unwrap();
    assert_error(&r, 404, "no such queued ticket");
}
