//! Persistence through the real binary and real sockets, on BOTH engines: every test body
//! marked with [`on_both!`] runs once on the SQLite file (`name::sqlite`) and once on a
//! throwaway PostgreSQL cluster (`name::postgres`, `DATABASE_URL`). Accounts and tokens,
//! scores and leaderboards, durability across kill -9, backpressure from a stalled
//! persistence thread, room snapshots and finished games across restarts, migrations and
//! start-up errors; then what only PostgreSQL has: two processes on one database, the
//! database restarted under write load, and the move from SQLite with `export`/`import`.

#[path = "../common/mod.rs"]
mod common;

mod auth;
mod disk;
mod durability;
mod game_outage;
mod games;
mod outage;
mod rooms;
mod scores;
mod shared;
mod startup;
mod transfer;

use common::{Backend, Client, HttpResponse, Server};
use serde_json::json;

const SECRET: &str = "persistence-tests-secret-0123456789abcdef";

/// Cheap argon2 parameters (tests run unoptimised) and a known token secret.
fn env<'a>(extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut e = vec![
        ("PASSWORD_HASH_MEMORY_KIB", "1024"),
        ("PASSWORD_HASH_ITERATIONS", "1"),
        ("ROOMCORE_TOKEN_SECRET", SECRET),
    ];
    e.extend_from_slice(extra);
    e
}

/// A server on a fresh database of `b` (owned by the server).
fn start(b: Backend, extra: &[(&str, &str)]) -> Server {
    Server::start_on(b, &[], &env(extra))
}

fn error_of(r: &HttpResponse) -> String {
    r.json()["error"].as_str().unwrap_or_default().to_string()
}

fn post_score(
    c: &mut Client,
    token: &str,
    game: &str,
    score: i64,
) -> std::io::Result<HttpResponse> {
    c.post_json(
        "/api/scores",
        Some(token),
        &json!({"game": game, "score": score}),
    )
}

/// Ids of the stored scores of `game` in the database `s` writes to.
fn stored_score_ids(s: &Server, game: &str) -> Vec<i64> {
    storage::inspect::score_ids_in(&s.storage_config(), game).unwrap()
}
