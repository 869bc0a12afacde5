//! Accounts and tokens on both engines: register, login, guests, `/me`, and every error
//! (validation, duplicates, bad and expired tokens, methods, body limit).

use std::time::Instant;

use serde_json::{json, Value};

use super::common::{Backend, Client};
use super::{error_of, start, SECRET};

crate::on_both!(accounts_and_tokens_happy_paths_and_errors);

fn accounts_and_tokens_happy_paths_and_errors(b: Backend) {
    let s = start(b, &[]);
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
