//! Games and matchmaking over HTTP:
//! - `GET /api/games/{id}`: a finished game from storage (PGN, result, rating
//!   changes), or the live state of a running one from its owner shard.
//! - `POST /api/matchmaking/tickets`: queue (bearer token) by mode and region,
//!   optionally with a party (the members' tokens).
//! - `GET|DELETE /api/matchmaking/tickets/{id}`: poll or cancel a ticket.
//!
//! Queue and room state live on their owner shards; this module only validates,
//! authenticates and asks the game service (`game::service`), as the WebSocket session does.

use std::rc::Rc;

use crate::room_id::RoomId;
use serde::Deserialize;
use serde_json::json;

use super::auth;
use super::json::{self, reply};
use super::ApiRequest;
use crate::app::Shard;
use crate::game::matchmaking::{self, Notify};
use crate::game::rooms::User;
use crate::game::views::{GameView, LiveGame, RoomState};
use crate::game::{self, protocol, service};
use crate::http::{Method, Response};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TicketBody {
    mode: String,
    #[serde(default)]
    region: Option<String>,
    #[serde(default)]
    party: Vec<String>,
    /// Rating override: honoured only with `ROOMCORE_TEST_HOOKS=1` (load tests).
    #[serde(default)]
    rating: Option<f64>,
}

fn ident_ok(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 32
        && s.bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-')
}

/// `/api/games/*` and `/api/matchmaking/*`.
pub async fn handle(shard: &Rc<Shard>, req: &ApiRequest) -> Response {
    let path = req.path.as_str();
    if let Some(id) = path.strip_prefix("/api/games/") {
        if !matches!(req.method, Method::Get | Method::Head) {
            return Response::error(405, "method not allowed").with_header("Allow", "GET, HEAD");
        }
        return get_game(shard, id).await;
    }
    if path == "/api/matchmaking/tickets" {
        if req.method != Method::Post {
            return Response::error(405, "method not allowed").with_header("Allow", "POST");
        }
        return enqueue(shard, req).await;
    }
    if let Some(id) = path.strip_prefix("/api/matchmaking/tickets/") {
        return match req.method {
            Method::Get | Method::Head | Method::Delete => ticket(shard, req, id).await,
            _ => {
                Response::error(405, "method not allowed").with_header("Allow", "GET, HEAD, DELETE")
            }
        };
    }
    Response::error(404, "no such endpoint")
}

/// The public URL of the live node that owns game room `id`, when it is not this one.
async fn owner_elsewhere(shard: &Rc<Shard>, id: &str) -> Option<String> {
    let c = shard.app.cluster.as_ref()?;
    let rec = c.cluster.lookup(id).await??;
    if !rec.live || rec.owner == c.cluster.node_id() {
        return None;
    }
    c.view().node(&rec.owner).map(|n| n.url.clone())
}

async fn get_game(shard: &Rc<Shard>, id: &str) -> Response {
    if RoomId::parse(id).is_err() {
        return Response::error(400, "invalid game id");
    }
    let stored = match shard.app.services.storage.game(id).await {
        Ok(Some(g)) => {
            let r = &g.record;
            return reply(
                200,
                &json!({
                    "id": r.id, "status": "finished", "mode": r.mode,
                    "white": {"user_id": r.white_id, "name": r.white_name,
                              "rating_before": g.rated.white_before, "rating_after": g.rated.white_after},
                    "black": {"user_id": r.black_id, "name": r.black_name,
                              "rating_before": g.rated.black_before, "rating_after": g.rated.black_after},
                    "result": r.result, "reason": r.reason, "moves": r.moves,
                    "started_at": r.started_at_ms, "ended_at": r.ended_at_ms, "pgn": r.pgn,
                }),
            );
        }
        Ok(None) => None,
        Err(e) => Some(e),
    };
    match (service::live(shard, id).await, stored) {
        // With the database down a game still running here is served from memory; a finished
        // one only ever from its stored record.
        (Some(Some(state)), ref failed) if failed.is_none() || !is_over(&state) => reply(
            200,
            &LiveGame {
                status: "live",
                state,
            },
        ),
        (_, Some(e)) => json::storage_error(&e, shard.app.config.storage.retry_after_secs),
        (Some(_), None) => match owner_elsewhere(shard, id).await {
            // In a cluster the game may run on another node: that node answers.
            Some(url) => Response::error(307, "the game runs on another node")
                .with_header("Location", format!("{url}/api/games/{id}")),
            None => Response::error(404, "no such game"),
        },
        (None, None) => Response::error(503, "game owner is unavailable, retry later")
            .with_header("Retry-After", "1"),
    }
}

/// The room's chess game has ended (its result is set).
fn is_over(state: &RoomState) -> bool {
    matches!(&state.game, GameView::Chess(c) if c.result.is_some())
}

fn proto_status(code: &str) -> u16 {
    match code {
        "unavailable" => 503,
        "already_queued" => 409,
        "invalid_token" => 401,
        _ => 400,
    }
}

async fn enqueue(shard: &Rc<Shard>, req: &ApiRequest) -> Response {
    let claims = match auth::authenticate(shard, req) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let body: TicketBody = match json::body(req) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let region = body.region.unwrap_or_else(|| "any".into());
    if !ident_ok(&body.mode) || !ident_ok(&region) {
        return Response::error(400, "mode and region are 1 to 32 of [A-Za-z0-9_-]");
    }
    let Some(spec) = matchmaking::mode(&body.mode) else {
        return Response::error(400, &format!("unknown mode `{}`", body.mode));
    };
    if body.party.len() > 8 {
        return Response::error(400, "a party has at most 8 members");
    }
    let name =
        |n: &str, id: i64| protocol::sanitize_name(n).unwrap_or_else(|_| format!("user-{id}"));
    let mut users = vec![User {
        id: claims.sub,
        name: name(&claims.name, claims.sub),
    }];
    for t in &body.party {
        match auth::verify(shard, t) {
            Ok(c) if users.iter().all(|u| u.id != c.sub) => users.push(User {
                id: c.sub,
                name: name(&c.name, c.sub),
            }),
            Ok(_) => {}
            Err(_) => return Response::error(401, "a party member's token is invalid"),
        }
    }
    let ratings = match body.rating {
        Some(r) if shard.app.config.server.test_hooks && r.is_finite() => {
            Some(vec![r; users.len()])
        }
        Some(_) if !shard.app.config.server.test_hooks => {
            return Response::error(400, "rating overrides need ROOMCORE_TEST_HOOKS=1")
        }
        _ => None,
    };
    match service::enqueue(shard, spec, &region, users, Notify::Http, ratings).await {
        Ok((key, id)) => reply(
            201,
            &json!({"ticket": id, "status": "queued", "mode": spec.name, "region": region, "queue": key}),
        ),
        Err(e) => match proto_status(e.code) {
            // A full queue, the matchmaker or storage unavailable: worth retrying shortly.
            503 => Response::error(503, &e.message).with_header("Retry-After", "1"),
            status => Response::error(status, &e.message),
        },
    }
}

async fn ticket(shard: &Rc<Shard>, req: &ApiRequest, id: &str) -> Response {
    let claims = match auth::authenticate(shard, req) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let Some(key) = game::key_of_ticket(id).filter(|_| id.len() <= 96) else {
        return Response::error(404, "no such ticket");
    };
    let user = claims.sub;
    if req.method == Method::Delete {
        return match service::cancel(shard, key, Some(id.to_string()), user).await {
            Some(true) => reply(200, &json!({"ticket": id, "status": "cancelled"})),
            Some(false) => Response::error(404, "no such queued ticket"),
            None => Response::error(503, "matchmaker unavailable").with_header("Retry-After", "1"),
        };
    }
    match service::ticket(shard, &key, id, user).await {
        Some(Some(v)) => reply(200, &v),
        Some(None) => Response::error(404, "no such ticket"),
        None => Response::error(503, "matchmaker unavailable").with_header("Retry-After", "1"),
    }
}
