//! Accounts and tokens: `POST /api/auth/register`, `POST /api/auth/login`,
//! `POST /api/auth/guest`, `GET /api/auth/me`, and [`authenticate`] for the
//! other handlers.
//!
//! Password hashing and verification run on the executor's blocking thread
//! pool (`spawn_blocking`), never on the shard's event loop, and at most
//! `AUTH_MAX_INFLIGHT_HASHES` at a time per shard. Tokens are checked from
//! the HMAC key alone: no database access to authenticate a request.

use std::rc::Rc;

use serde::Deserialize;
use storage::{Account, Claims, TokenError};

use super::json::{self, reply};
use super::ApiRequest;
use crate::app::Shard;
use crate::http::Response;
use crate::telemetry::spans;
use tracing::Instrument;

/// Username length bounds (bytes; ASCII only).
pub const USERNAME_MIN: usize = 3;
pub const USERNAME_MAX: usize = 24;
/// Password length bounds (bytes).
pub const PASSWORD_MIN: usize = 8;
pub const PASSWORD_MAX: usize = 128;
/// The same answer for an unknown user and a wrong password.
const BAD_CREDENTIALS: &str = "invalid username or password";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UserPass {
    username: String,
    password: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GuestBody {}

/// Why a username is refused, if it is.
pub fn check_username(name: &str) -> Result<(), String> {
    if name.len() < USERNAME_MIN || name.len() > USERNAME_MAX {
        return Err(format!(
            "username must be {USERNAME_MIN} to {USERNAME_MAX} characters"
        ));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err("username may contain only letters, digits, '_' and '-'".into());
    }
    if name.to_ascii_lowercase().starts_with("guest-") {
        return Err("usernames starting with 'guest-' are reserved".into());
    }
    Ok(())
}

/// Why a password is refused, if it is.
pub fn check_password(pw: &str) -> Result<(), String> {
    if pw.len() < PASSWORD_MIN || pw.len() > PASSWORD_MAX {
        return Err(format!(
            "password must be {PASSWORD_MIN} to {PASSWORD_MAX} bytes"
        ));
    }
    Ok(())
}

fn now_secs() -> i64 {
    storage::now_ms() / 1000
}

fn unauthorized(msg: &str) -> Response {
    Response::error(401, msg).with_header("WWW-Authenticate", "Bearer realm=\"roomcore\"")
}

/// The claims of a raw token, or a 401. WebSocket endpoints that need an
/// identity call this with the token from the `Authorization` header or the
/// `token` query parameter.
pub fn verify(shard: &Rc<Shard>, token: &str) -> Result<Claims, Response> {
    shard
        .app
        .services
        .tokens
        .verify(token, now_secs())
        .map_err(|e| match e {
            TokenError::Expired => unauthorized("token expired"),
            TokenError::Malformed | TokenError::BadSignature => unauthorized("invalid token"),
        })
}

/// The claims of the request's bearer token, or a 401.
pub fn authenticate(shard: &Rc<Shard>, req: &ApiRequest) -> Result<Claims, Response> {
    let Some(h) = req.authorization.as_deref() else {
        return Err(unauthorized("missing bearer token"));
    };
    match h.split_once(' ') {
        Some((scheme, t)) if scheme.eq_ignore_ascii_case("bearer") => {
            let claims = verify(shard, t.trim())?;
            spans::user(claims.sub);
            Ok(claims)
        }
        _ => Err(unauthorized("Authorization must be 'Bearer <token>'")),
    }
}

fn issue(shard: &Rc<Shard>, account: &Account, status: u16) -> Response {
    let now = now_secs();
    let claims = Claims {
        sub: account.id,
        name: account.username.clone(),
        guest: account.guest,
        iat: now,
        exp: now + shard.app.config.auth.token_ttl.as_secs() as i64,
    };
    let token = shard.app.services.tokens.sign(&claims);
    reply(
        status,
        &serde_json::json!({
            "token": token,
            "token_type": "Bearer",
            "expires_at": claims.exp,
            "user": {"id": account.id, "username": account.username, "guest": account.guest},
        }),
    )
}

/// Run `f` on the blocking pool, within the per-shard in-flight bound; traced as
/// `auth.password_hash` (`op`: `hash` or `verify`), a child of the current span.
async fn off_loop<R: Send + 'static>(
    shard: &Rc<Shard>,
    op: &'static str,
    f: impl FnOnce() -> R + Send + 'static,
) -> Result<R, Response> {
    let s = &shard.app.services;
    if s.hashing.get() >= s.config.auth.max_inflight_hashes {
        return Err(
            Response::error(503, "too many sign-ins in progress, retry later")
                .with_header("Retry-After", "1"),
        );
    }
    s.hashing.set(s.hashing.get() + 1);
    let span = spans::password_hash(op);
    let r = glommio::executor()
        .spawn_blocking(move || span.in_scope(f))
        .await;
    s.hashing.set(s.hashing.get() - 1);
    Ok(r)
}

/// `POST /api/auth/register {"username","password"}` -> 201 with a token (span
/// `auth.register`).
pub async fn register(shard: &Rc<Shard>, req: &ApiRequest) -> Response {
    let body: UserPass = match json::body(req) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let span = spans::auth("register", &body.username);
    register_in(shard, body).instrument(span).await
}

async fn register_in(shard: &Rc<Shard>, body: UserPass) -> Response {
    if let Err(m) = check_username(&body.username).and_then(|_| check_password(&body.password)) {
        return Response::error(400, &m);
    }
    let passwords = shard.app.services.passwords.clone();
    let pw = body.password;
    let hash = match off_loop(shard, "hash", move || passwords.hash(&pw)).await {
        Ok(Ok(h)) => h,
        Ok(Err(e)) => return json::storage_error(&e, 1),
        Err(r) => return r,
    };
    match shard
        .app
        .services
        .storage
        .create_account(&body.username, hash)
        .await
    {
        Ok(acc) => {
            spans::user(acc.id);
            issue(shard, &acc, 201)
        }
        Err(e) => json::storage_error(&e, shard.app.config.storage.retry_after_secs),
    }
}

/// `POST /api/auth/login {"username","password"}` -> 200 with a token (span `auth.login`).
pub async fn login(shard: &Rc<Shard>, req: &ApiRequest) -> Response {
    let body: UserPass = match json::body(req) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let span = spans::auth("login", &body.username);
    login_in(shard, body).instrument(span).await
}

async fn login_in(shard: &Rc<Shard>, body: UserPass) -> Response {
    if body.username.is_empty() || body.password.is_empty() {
        return Response::error(400, "username and password are required");
    }
    if body.username.len() > USERNAME_MAX || body.password.len() > PASSWORD_MAX {
        // Too long to exist: still the same answer (and cost) as a wrong password.
        let passwords = shard.app.services.passwords.clone();
        let pw = body.password.chars().take(PASSWORD_MAX).collect::<String>();
        if let Err(r) = off_loop(shard, "verify", move || passwords.verify(&pw, None)).await {
            return r;
        }
        return Response::error(401, BAD_CREDENTIALS);
    }
    let found = match shard
        .app
        .services
        .storage
        .find_account(&body.username)
        .await
    {
        Ok(f) => f,
        Err(e) => return json::storage_error(&e, shard.app.config.storage.retry_after_secs),
    };
    let stored = found.as_ref().and_then(|c| c.password_hash.clone());
    let passwords = shard.app.services.passwords.clone();
    let pw = body.password;
    let ok = match off_loop(shard, "verify", move || {
        passwords.verify(&pw, stored.as_deref())
    })
    .await
    {
        Ok(ok) => ok,
        Err(r) => return r,
    };
    match found {
        Some(c) if ok => {
            spans::user(c.account.id);
            issue(shard, &c.account, 200)
        }
        _ => Response::error(401, BAD_CREDENTIALS),
    }
}

/// `POST /api/auth/guest` (empty body or `{}`) -> 201 with a guest token.
pub async fn guest(shard: &Rc<Shard>, req: &ApiRequest) -> Response {
    if !req.body.is_empty() {
        if let Err(r) = json::body::<GuestBody>(req) {
            return r;
        }
    }
    match shard.app.services.storage.create_guest().await {
        Ok(acc) => issue(shard, &acc, 201),
        Err(e) => json::storage_error(&e, shard.app.config.storage.retry_after_secs),
    }
}

/// `GET /api/auth/me` -> who the token says you are.
pub fn me(shard: &Rc<Shard>, req: &ApiRequest) -> Response {
    match authenticate(shard, req) {
        Ok(c) => reply(
            200,
            &serde_json::json!({
                "id": c.sub, "username": c.name, "guest": c.guest, "expires_at": c.exp,
            }),
        ),
        Err(r) => r,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn username_rules() {
        assert!(check_username("ann_01").is_ok());
        assert!(check_username("an").is_err());
        assert!(check_username(&"a".repeat(25)).is_err());
        assert!(check_username("a b c").is_err());
        assert!(check_username("Guest-1").is_err());
        assert!(check_username("<script>").is_err());
    }

    #[test]
    fn password_rules() {
        assert!(check_password("12345678").is_ok());
        assert!(check_password("1234567").is_err());
        assert!(check_password(&"x".repeat(129)).is_err());
    }
}
