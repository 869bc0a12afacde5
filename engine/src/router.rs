//! Routing: which endpoint answers a request. Pure decisions, no I/O: a route
//! either answers at once or names an [`Action`] the connection task carries
//! out (awaiting other shards, upgrading to a WebSocket).

use shards::RoomId;

use crate::api::ApiRequest;
use crate::http::{Method, Request, Response};
use crate::shard::Shard;
use crate::ws::handshake;

/// What the connection task does for one request.
#[derive(Debug)]
pub enum Action {
    /// Send this response.
    Respond(Response),
    /// Gather every shard's counters and answer `/health`.
    Health,
    /// Hand the request to the JSON API.
    Api(ApiRequest),
    /// Answer 101 and become a relay WebSocket in `room`.
    UpgradeRelay { room: RoomId, key: String },
}

fn method_not_allowed(allow: &'static str) -> Action {
    Action::Respond(Response::error(405, "method not allowed").with_header("Allow", allow))
}

fn is_get(m: Method) -> bool {
    matches!(m, Method::Get | Method::Head)
}

/// Decide how to answer `req`.
pub fn route(shard: &Shard, req: &Request<'_>, peer: std::net::SocketAddr) -> Action {
    let draining = shard.draining.get() || shard.global.draining();
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
            if shard.global.ready() {
                Action::Respond(Response::json(200, br#"{"status":"ready"}"#.to_vec()))
            } else {
                let why = if draining { "draining" } else { "starting" };
                Action::Respond(Response::json(
                    503,
                    format!(r#"{{"status":"not_ready","error":"{why}"}}"#).into_bytes(),
                ))
            }
        }
        "/health" | "/healthz" => {
            if !is_get(req.method) {
                return method_not_allowed("GET, HEAD");
            }
            Action::Health
        }
        p if p.starts_with("/ws/relay/") => {
            let raw = &p["/ws/relay/".len()..];
            let room = match RoomId::parse(raw) {
                Ok(r) => r,
                Err(e) => return Action::Respond(Response::error(400, &e.to_string())),
            };
            if let Err(resp) = handshake::validate(req) {
                return Action::Respond(resp);
            }
            if draining {
                return Action::Respond(Response::error(503, "server is shutting down").closing());
            }
            Action::UpgradeRelay {
                room,
                key: req.ws_key.unwrap_or_default().to_string(),
            }
        }
        p if p.starts_with("/api/") && !draining => {
            Action::Api(ApiRequest::from_request(req, peer))
        }
        _ if draining => Action::Respond(Response::error(503, "server is shutting down").closing()),
        _ => Action::Respond(Response::error(404, "no such endpoint")),
    }
}
