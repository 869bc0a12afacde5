//! Scores and leaderboards: `POST /api/scores`, `GET /api/leaderboard`,
//! `GET /api/leaderboard/me`.
//!
//! A score is answered only after its transaction committed. Leaderboard
//! reads are served from this shard's [`storage::BoardView`], which the
//! persistence thread refreshes after every commit (before it answers the
//! write), so reads never wait on SQLite and a client that got its 201 sees
//! its score on any shard. Only `/me` for a player outside the cached top
//! asks the persistence thread.

use std::rc::Rc;

use serde::Deserialize;
use storage::{Board, Period};

use super::auth::authenticate;
use super::json::{self, reply};
use super::ApiRequest;
use crate::app::Shard;
use crate::http::Response;

/// Longest game id.
pub const GAME_MAX: usize = 32;
/// Entries returned when `limit` is absent.
pub const DEFAULT_LIMIT: usize = 10;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewScore {
    game: String,
    score: i64,
}

/// Why a game id is refused, if it is.
pub fn check_game(game: &str) -> Result<(), String> {
    if game.is_empty() || game.len() > GAME_MAX {
        return Err(format!("game must be 1 to {GAME_MAX} characters"));
    }
    if !game
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
    {
        return Err("game may contain only a-z, 0-9, '_' and '-'".into());
    }
    Ok(())
}

fn today() -> i64 {
    storage::day_of(storage::now_ms())
}

/// `POST /api/scores {"game","score"}` (authenticated) -> 201 after commit.
pub async fn post(shard: &Rc<Shard>, req: &ApiRequest) -> Response {
    let claims = match authenticate(shard, req) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let body: NewScore = match json::body(req) {
        Ok(b) => b,
        Err(r) => return r,
    };
    if let Err(m) = check_game(&body.game) {
        return Response::error(400, &m);
    }
    let max = shard.app.config.api.score_max;
    if body.score < 0 || body.score > max {
        return Response::error(400, &format!("score must be between 0 and {max}"));
    }
    match shard
        .app
        .services
        .storage
        .add_score(claims.sub, &body.game, body.score)
        .await
    {
        Ok(ack) => reply(
            201,
            &serde_json::json!({
                "id": ack.id, "game": ack.game, "score": ack.score,
                "at": ack.at_ms, "personal_best": ack.personal_best,
            }),
        ),
        Err(e) => json::storage_error(&e, shard.app.config.storage.retry_after_secs),
    }
}

/// `game` and `period` from the query string.
fn board_params(req: &ApiRequest) -> Result<(String, Period), Response> {
    let game = json::query(req, "game")
        .ok_or_else(|| Response::error(400, "query parameter 'game' is required"))?
        .into_owned();
    check_game(&game).map_err(|m| Response::error(400, &m))?;
    let period = match json::query(req, "period") {
        None => Period::AllTime,
        Some(p) => Period::parse(&p)
            .ok_or_else(|| Response::error(400, "period must be 'daily' or 'alltime'"))?,
    };
    Ok((game, period))
}

fn board(shard: &Rc<Shard>, game: &str, period: Period) -> Option<std::sync::Arc<Board>> {
    shard
        .app
        .services
        .boards
        .borrow_mut()
        .get(game, period, today())
}

/// `GET /api/leaderboard?game=..&limit=..&period=daily|alltime`.
pub fn leaderboard(shard: &Rc<Shard>, req: &ApiRequest) -> Response {
    let (game, period) = match board_params(req) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let size = shard.app.config.api.leaderboard_size;
    let limit = match json::query(req, "limit") {
        None => DEFAULT_LIMIT.min(size),
        Some(l) => match l.parse::<usize>() {
            Ok(n) if (1..=size).contains(&n) => n,
            _ => return Response::error(400, &format!("limit must be between 1 and {size}")),
        },
    };
    let b = board(shard, &game, period);
    let entries: Vec<serde_json::Value> = b
        .as_ref()
        .map(|b| {
            b.entries
                .iter()
                .take(limit)
                .map(|e| {
                    serde_json::json!({
                        "rank": e.rank, "user_id": e.user_id, "player": e.player,
                        "score": e.score, "at": e.at_ms,
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    reply(
        200,
        &serde_json::json!({
            "game": game,
            "period": period.as_str(),
            "day": (period == Period::Daily).then(today),
            "entries": entries,
            "updated_at": b.as_ref().map(|b| b.updated_at_ms),
        }),
    )
}

/// `GET /api/leaderboard/me?game=..&period=..` (authenticated).
pub async fn me(shard: &Rc<Shard>, req: &ApiRequest) -> Response {
    let claims = match authenticate(shard, req) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let (game, period) = match board_params(req) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let cached = board(shard, &game, period).and_then(|b| {
        b.entries
            .iter()
            .find(|e| e.user_id == claims.sub)
            .map(|e| (u64::from(e.rank), e.score, e.at_ms))
    });
    let standing = match cached {
        Some(s) => Some(s),
        None => match shard
            .app
            .services
            .storage
            .standing(claims.sub, &game, period)
            .await
        {
            Ok(s) => s.map(|s| (s.rank, s.score, s.at_ms)),
            Err(e) => return json::storage_error(&e, shard.app.config.storage.retry_after_secs),
        },
    };
    let (rank, score, at) = match standing {
        Some((r, s, a)) => (Some(r), Some(s), Some(a)),
        None => (None, None, None),
    };
    reply(
        200,
        &serde_json::json!({
            "game": game, "period": period.as_str(), "user_id": claims.sub,
            "player": claims.name, "rank": rank, "score": score, "at": at,
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn game_rules() {
        assert!(check_game("flappy-bird_2").is_ok());
        assert!(check_game("").is_err());
        assert!(check_game("Flappy").is_err());
        assert!(check_game(&"a".repeat(33)).is_err());
        assert!(check_game("a/b").is_err());
    }
}
