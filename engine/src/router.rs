//! Routing: which endpoint answers a request. Pure decisions, no I/O: a route
//! either answers at once or names an [`Action`] the connection task carries
//! out (awaiting other shards, upgrading to a WebSocket). Every request also
//! gets a fixed route label for metrics.

use std::net::IpAddr;
use std::rc::Rc;

use crate::room_id::RoomId;
use crate::stats::{Reject, Validation};

use crate::api::ApiRequest;
use crate::app::Shard;
use crate::http::{Method, Request, Response};
use crate::security;
use crate::ws::handshake;

/// What the connection task does for one request.
#[derive(Debug)]
pub enum Action {
    /// Send this response.
    Respond(Response),
    /// Gather every shard's counters and answer `/health`.
    Health,
    /// Gather every shard's metric series and answer `/metrics`.
    Metrics { json: bool },
    /// Hand the request to the JSON API (after its rate limits).
    Api(ApiRequest),
    /// Answer 101 and become a relay WebSocket in `room`.
    UpgradeRelay { room: RoomId, key: String },
    /// Answer 101 and become a typed game session (`game::session`), or with `echo` the
    /// echo WebSocket (`echo`, test hooks only).
    UpgradeGame { key: String, echo: bool },
}

/// A routing decision with its metric label and the client's IP.
#[derive(Debug)]
pub struct Routed {
    pub route: &'static str,
    pub action: Action,
    pub client: IpAddr,
}

fn method_not_allowed(allow: &'static str) -> Action {
    Action::Respond(Response::error(405, "method not allowed").with_header("Allow", allow))
}

fn is_get(m: Method) -> bool {
    matches!(m, Method::Get | Method::Head)
}

/// The metric label of a path (a fixed, small set of values).
pub fn route_label(path: &str) -> &'static str {
    match path {
        "/live" | "/livez" => "live",
        "/ready" | "/readyz" => "ready",
        "/health" | "/healthz" => "health",
        "/metrics" => "metrics",
        p if p.starts_with("/ws/relay/") => "ws_relay",
        "/ws" => "ws_game",
        crate::echo::PATH => "ws_test_echo",
        p if crate::web::is_web_path(p) => "web",
        p if p.starts_with("/api/auth/") => "api_auth",
        p if p.starts_with("/api/scores") => "api_scores",
        p if p.starts_with("/api/leaderboard") => "api_leaderboard",
        p if p.starts_with("/api/rooms") => "api_rooms",
        p if p.starts_with("/api/games") => "api_games",
        p if p.starts_with("/api/") => "api_other",
        _ => "not_found",
    }
}

/// Whether a path is a probe (exempt from chaos injection and rate limits).
pub fn is_probe(route: &str) -> bool {
    matches!(route, "live" | "ready" | "health" | "metrics")
}

/// The checks every WebSocket upgrade passes (handshake, origin, not
/// draining); `Ok` is the client's key for the 101 answer, `Err` the refusal.
fn upgrade_key(shard: &Rc<Shard>, req: &Request<'_>, draining: bool) -> Result<String, Response> {
    if let Err(resp) = handshake::validate(req) {
        shard
            .app
            .stats
            .validation_errors
            .inc(Validation::Http as usize);
        return Err(resp);
    }
    if !security::origin_allowed(&shard.app.config, req.origin) && !req.same_origin {
        shard.app.stats.rejected.inc(Reject::Origin as usize);
        return Err(Response::error(403, "origin not allowed"));
    }
    if draining {
        shard.app.stats.rejected.inc(Reject::Draining as usize);
        return Err(Response::error(503, "server is shutting down")
            .with_header("Retry-After", "1")
            .closing());
    }
    Ok(req.ws_key.unwrap_or_default().to_string())
}

/// Decide how to answer `req`.
pub fn route(shard: &Rc<Shard>, req: &Request<'_>, peer: std::net::SocketAddr) -> Routed {
    let route = route_label(req.path);
    let client = crate::limits::client_ip(&shard.app.config, peer, req.forwarded_for);
    let action = decide(shard, req, peer);
    Routed {
        route,
        action,
        client,
    }
}

fn decide(shard: &Rc<Shard>, req: &Request<'_>, peer: std::net::SocketAddr) -> Action {
    let draining = shard.draining() || shard.lifecycle.draining();
    if req.method == Method::Options && req.origin.is_some() {
        return Action::Respond(security::preflight(&shard.app.config, req.origin));
    }
    match req.path {
        "/live" | "/livez" => {
            if !is_get(req.method) {
                return method_not_allowed("GET, HEAD");
            }
            Action::Respond(Response::json(200, br#"{"status":"ok"}"#.to_vec()))
        }
        "/ready" | "/readyz" => {
            if !is_get(req.method) {
                return method_not_allowed("GET, HEAD");
            }
            // Storage health is an atomic load (never a wait): false while the database is
            // unreachable or a round is stuck.
            let storage = shard.app.services.storage.health();
            if shard.app.global.ready() && storage.ok {
                Action::Respond(Response::json(200, br#"{"status":"ready"}"#.to_vec()))
            } else {
                // Read again: a drain that began after `draining` was read is why `ready()`
                // is false now (a drain never ends, so the fresh read is the true cause).
                let draining = draining || shard.draining() || shard.lifecycle.draining();
                let why = if draining {
                    "draining".to_string()
                } else if !shard.app.global.ready() {
                    "starting".to_string()
                } else {
                    format!(
                        "storage unavailable: {}",
                        storage.reason.as_deref().unwrap_or("unknown")
                    )
                };
                let body = serde_json::json!({"status": "not_ready", "error": why});
                Action::Respond(
                    Response::json(503, body.to_string().into_bytes())
                        .with_header("Retry-After", "1"),
                )
            }
        }
        "/health" | "/healthz" => {
            if !is_get(req.method) {
                return method_not_allowed("GET, HEAD");
            }
            Action::Health
        }
        "/metrics" => {
            if !is_get(req.method) {
                return method_not_allowed("GET, HEAD");
            }
            Action::Metrics {
                json: req.accept.is_some_and(|a| a.contains("application/json")),
            }
        }
        p if p.starts_with("/ws/relay/") => {
            let raw = &p["/ws/relay/".len()..];
            let room = match RoomId::parse(raw) {
                Ok(r) => r,
                Err(e) => {
                    shard
                        .app
                        .stats
                        .validation_errors
                        .inc(Validation::Http as usize);
                    return Action::Respond(Response::error(400, &e.to_string()));
                }
            };
            match upgrade_key(shard, req, draining) {
                Ok(key) => Action::UpgradeRelay { room, key },
                Err(refused) => Action::Respond(refused),
            }
        }
        "/ws" => match upgrade_key(shard, req, draining) {
            Ok(key) => Action::UpgradeGame { key, echo: false },
            Err(refused) => Action::Respond(refused),
        },
        crate::echo::PATH if shard.app.config.server.test_hooks => {
            match upgrade_key(shard, req, draining) {
                Ok(key) => Action::UpgradeGame { key, echo: true },
                Err(refused) => Action::Respond(refused),
            }
        }
        p if crate::web::is_web_path(p) => Action::Respond(crate::web::respond(req.method, p)),
        p if p.starts_with("/api/") && !draining => {
            Action::Api(ApiRequest::from_request(req, peer))
        }
        // Retry soon: through the load balancer the retry reaches another node.
        _ if draining => Action::Respond(
            Response::error(503, "server is shutting down")
                .with_header("Retry-After", "1")
                .closing(),
        ),
        _ => Action::Respond(Response::error(404, "no such endpoint")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_labels_are_a_fixed_set() {
        assert_eq!(route_label("/healthz"), "health");
        assert_eq!(route_label("/api/auth/login"), "api_auth");
        assert_eq!(route_label("/api/leaderboard/me"), "api_leaderboard");
        assert_eq!(route_label("/ws/relay/x"), "ws_relay");
        assert_eq!(route_label("/whatever/123"), "not_found");
        assert_eq!(route_label("/"), "web");
        assert_eq!(route_label("/assets/app.0123456789abcdef.js"), "web");
        assert!(is_probe("metrics"));
        assert!(!is_probe("api_scores"));
    }
}
