//! Game ids (engine/src/api/games.rs), demo pages (engine/src/web.rs), the room state cap
//! (engine/src/api/rooms.rs), over-long logins and sign-ins past the hashing bound
//! (engine/src/api/auth.rs).

use serde_json::json;

use super::common::shard_of;
use super::{assert_405, assert_error, start};

#[test]
fn game_ids_are_validated_and_unknown_games_are_404() {
    let s = start("rc-apie-games", &[], &[]);
    let mut c = s.client();
    let long = "g".repeat(65);
    for bad in ["bad%21id", "a,b", long.as_str(), ""] {
        let r = c.get_auth(&format!("/api/games/{bad}"), None).unwrap();
        assert_error(&r, 400, "invalid game id");
    }
    let r = c.get_auth("/api/games/c-0000000000", None).unwrap();
    assert_error(&r, 404, "no such game");
    for m in ["POST", "PUT", "DELETE"] {
        let r = c.send(m, "/api/games/c-0000000000", &[], b"").unwrap();
        assert_405(&r, "GET, HEAD");
    }
    // Without the trailing slash it is no endpoint at all.
    let r = c.get_auth("/api/games", None).unwrap();
    assert_error(&r, 404, "no such endpoint");
}

#[test]
fn demo_pages_refuse_wrong_hashes_and_methods() {
    let s = start("rc-apie-web", &[], &[]);
    let mut c = s.client();
    // The page itself is served, so the paths below are the demo's.
    assert_eq!(c.get_auth("/", None).unwrap().status, 200);
    for bad in [
        "/assets/app.0000000000000000.js",
        "/assets/app.js",
        "/assets/app.0123456789abcdef.css",
        "/assets/nope.0000000000000000.svg",
        "/assets/",
    ] {
        let r = c.get_auth(bad, None).unwrap();
        assert_error(&r, 404, "no such asset");
    }
    for (m, p) in [
        ("POST", "/"),
        ("PUT", "/index.html"),
        ("DELETE", "/assets/app.0000000000000000.js"),
    ] {
        let r = c.send(m, p, &[], b"").unwrap();
        assert_405(&r, "GET, HEAD");
    }
}

/// `n` room ids owned by shard `shard` of 2.
fn rooms_on(shard: usize, n: usize, tag: &str) -> Vec<String> {
    (0..)
        .map(|i| format!("{tag}-{i}"))
        .filter(|r| shard_of(r, 2) == shard)
        .take(n)
        .collect()
}

#[test]
fn a_shard_at_its_room_cap_refuses_new_rooms_with_409() {
    let s = start("rc-apie-rooms", &[], &[("ROOM_STATE_MAX_ROOMS", "1")]);
    let mut c = s.client();
    let zero = rooms_on(0, 2, "cap");
    let one = rooms_on(1, 1, "cap");
    let put = |c: &mut super::common::Client, id: &str, v: u32| {
        c.send(
            "PUT",
            &format!("/api/rooms/{id}/state"),
            &[("Content-Type", "application/json")],
            json!({"v": v}).to_string().as_bytes(),
        )
        .unwrap()
    };
    let r = put(&mut c, &zero[0], 1);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["version"], 1);
    // A second room on the same shard: over the cap.
    let full = "this shard holds the most rooms it may; delete one first";
    assert_error(&put(&mut c, &zero[1], 1), 409, full);
    // Updating the room it holds is not a new room; the other shard has its own cap.
    let r = put(&mut c, &zero[0], 2);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["version"], 2);
    assert_eq!(put(&mut c, &one[0], 1).status, 200);
    let r = c
        .get_auth(&format!("/api/rooms/{}/state", zero[1]), None)
        .unwrap();
    assert_error(&r, 404, "no such room");
    // Deleting frees the slot.
    let r = c
        .send("DELETE", &format!("/api/rooms/{}/state", zero[0]), &[], b"")
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(put(&mut c, &zero[1], 1).status, 200);
    assert_error(&put(&mut c, &zero[0], 3), 409, full);
}

#[test]
fn over_long_credentials_at_login_are_401_like_a_wrong_password() {
    let s = start("rc-apie-login", &[], &[]);
    let mut c = s.client();
    let login = |c: &mut super::common::Client, u: &str, p: &str| {
        c.post_json(
            "/api/auth/login",
            None,
            &json!({"username": u, "password": p}),
        )
        .unwrap()
    };
    let bad = "invalid username or password";
    // 25 bytes: longer than any username can be; a 129-byte password likewise.
    assert_error(&login(&mut c, &"u".repeat(25), "password123"), 401, bad);
    assert_error(&login(&mut c, &"u".repeat(4096), "password123"), 401, bad);
    assert_error(&login(&mut c, "someone", &"p".repeat(129)), 401, bad);
    // The same answer as an unknown user of a valid length.
    assert_error(&login(&mut c, "nobody_here", "password123"), 401, bad);
    assert_error(
        &login(&mut c, "", "password123"),
        400,
        "username and password are required",
    );
}

#[test]
fn sign_ins_past_the_hashing_bound_are_503_with_retry_after() {
    // One password hash in flight per shard, each slow enough (8 MiB, 2 passes, unoptimised
    // build) that twelve simultaneous registrations overlap on both shards.
    let s = start(
        "rc-apie-hashes",
        &[],
        &[
            ("AUTH_MAX_INFLIGHT_HASHES", "1"),
            ("PASSWORD_HASH_MEMORY_KIB", "8192"),
            ("PASSWORD_HASH_ITERATIONS", "2"),
            ("HTTP_AUTH_RATE_PER_MIN", "1000"),
        ],
    );
    let mut clients: Vec<_> = (0..12).map(|_| s.client()).collect();
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(clients.len()));
    let answers: Vec<_> = std::thread::scope(|scope| {
        let threads: Vec<_> = clients
            .iter_mut()
            .enumerate()
            .map(|(i, c)| {
                let barrier = barrier.clone();
                scope.spawn(move || {
                    barrier.wait();
                    c.post_json(
                        "/api/auth/register",
                        None,
                        &json!({"username": format!("hasher{i}"), "password": "password123"}),
                    )
                    .unwrap()
                })
            })
            .collect();
        threads.into_iter().map(|t| t.join().unwrap()).collect()
    });
    let refused: Vec<_> = answers.iter().filter(|r| r.status == 503).collect();
    let created = answers.iter().filter(|r| r.status == 201).count();
    assert_eq!(
        refused.len() + created,
        answers.len(),
        "only 201 or 503: {:?}",
        answers
            .iter()
            .map(|r| (r.status, &r.body))
            .collect::<Vec<_>>()
    );
    assert!(created >= 1, "some registration went through");
    assert!(
        !refused.is_empty(),
        "no registration was refused past the bound"
    );
    for r in refused {
        assert_error(r, 503, "too many sign-ins in progress, retry later");
        assert_eq!(r.header("Retry-After"), Some("1"), "{}", r.body);
    }
    // The bound frees as hashes finish: a sign-in on its own goes through.
    let mut c = s.client();
    let r = c
        .post_json(
            "/api/auth/register",
            None,
            &json!({"username": "hasher_after", "password": "password123"}),
        )
        .unwrap();
    assert_eq!(r.status, 201, "{}", r.body);
}
