//! One accepted connection's HTTP/1.1 life: keep-alive, pipelined requests
//! answered in order, limits and timeouts, per-IP rate limits on `/api/*`,
//! request ids, metrics, chaos injection, and the upgrade to a WebSocket session
//! (relay room, typed game protocol or test echo; see [`crate::session`]).
//!
//! - [`task`]: the connection's task ([`Conn`]): the boxed HTTP phase, then the session the
//!   upgrade starts, inline.
//!
//! Must not touch a room, a game or a session's frames: an upgrade ends here with the socket,
//! the bytes read after the handshake and the session's span handed to [`crate::session`].

mod request_id;
mod task;

pub use request_id::{RequestId, RequestIds};
pub use task::{serve, Conn};

use std::net::IpAddr;
use std::rc::Rc;
use std::time::Instant;

use shards::{ConnEntry, Socket};
use tracing::Instrument;

use crate::app::Shard;
use crate::http::{self, Method, Parsed, Response};
use crate::limits::{self, RateClass, RateDecision};
use crate::room_id::RoomId;
use crate::router::{self, Action, Routed};
use crate::stats::{Limit, Reject, Validation};
use crate::telemetry::spans::{self, SessionTrace};
use crate::telemetry::{context, report};
use crate::ws::handshake;
use crate::{api, health, log, metrics, security};

/// Which WebSocket session an upgrade starts.
enum Upgrade {
    /// A relay room; the session writes the 101 once the socket joined its room.
    Relay(RoomId),
    /// The typed game protocol (`GET /ws`); its 101 was written.
    Game,
    /// The test-only echo WebSocket; its 101 was written.
    Echo,
}

/// How the HTTP phase of a connection ended.
enum HttpEnd {
    Closed,
    /// Upgraded: the client IP holds a WebSocket slot; `pending` is what it sent after its
    /// handshake; `handshake` is the 101 when the session is to write it.
    Upgrade {
        kind: Upgrade,
        client: IpAddr,
        pending: Vec<u8>,
        handshake: Option<Vec<u8>>,
        /// The session's span (a child of the upgrade request's).
        trace: SessionTrace,
    },
}

/// What the answer to a request needs of it, borrowed from the connection's buffer (which
/// stays put until every request of the batch is answered).
struct Meta<'a> {
    head_only: bool,
    close: bool,
    /// An HTTP/1.0 request (keep-alive only when asked for, and then confirmed).
    http10: bool,
    origin: Option<&'a str>,
    path: &'a str,
    request_id: RequestId<'a>,
    method: Method,
    /// The request's span (`Span::none()` when telemetry is off).
    span: tracing::Span,
}

/// The `error` text of a JSON error answer (the cause of a 5xx).
fn error_text(resp: &Response) -> String {
    serde_json::from_slice::<serde_json::Value>(&resp.body)
        .ok()
        .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_string))
        .unwrap_or_else(|| format!("HTTP {}", resp.status))
}

/// draft-7 RateLimit headers for `d`.
fn rate_headers(resp: Response, d: &RateDecision) -> Response {
    if d.limit == 0 {
        return resp;
    }
    resp.with_header("RateLimit-Policy", format!("{};w=60", d.limit))
        .with_header(
            "RateLimit",
            format!(
                "limit={}, remaining={}, reset={}",
                d.limit, d.remaining, d.reset_secs
            ),
        )
}

/// Apply the per-IP rate limits of `/api/*` (and `/api/auth/*`).
async fn api_limits(
    shard: &Rc<Shard>,
    path: &str,
    client: IpAddr,
) -> Result<Option<RateDecision>, Response> {
    let cfg = &shard.app.config;
    let mut tightest: Option<RateDecision> = None;
    let mut checks = vec![(
        RateClass::Api,
        cfg.limits.http_api_rate_per_min,
        Limit::HttpApi,
    )];
    if path.starts_with("/api/auth/") {
        checks.push((
            RateClass::Auth,
            cfg.limits.http_auth_rate_per_min,
            Limit::HttpAuth,
        ));
    }
    for (class, limit, metric) in checks {
        if limit == 0 {
            continue;
        }
        let d = limits::rate_check(shard, client, class, limit).await;
        if !d.allowed {
            shard.app.stats.rate_limited.inc(metric as usize);
            log!(
                Info,
                "rate limited",
                client = client,
                path = path,
                limit = d.limit
            );
            let resp = Response::error(429, "Too many requests")
                .with_header("Retry-After", d.reset_secs.to_string());
            return Err(rate_headers(resp, &d));
        }
        if tightest.is_none_or(|t| d.remaining < t.remaining) {
            tightest = Some(d);
        }
    }
    Ok(tightest)
}

/// Take a WebSocket slot for `client` and write the 101 answer; `Err` is the
/// refusal to send instead (429 per-IP limit, 503 process-wide limit).
async fn accept_upgrade(
    shard: &Rc<Shard>,
    client: IpAddr,
    key: &str,
    route: &'static str,
    started: Instant,
    out: &mut Vec<u8>,
) -> Result<(), Response> {
    match limits::acquire_ws_slot(shard, client).await {
        Ok(()) => {
            handshake::accept(key, shard.id, out);
            // The 101 names the upgrade's trace too (the request span is the current one).
            if let Some(tr) = context::traceparent_of(&tracing::Span::current()) {
                out.truncate(out.len() - 2);
                out.extend_from_slice(b"traceresponse: ");
                out.extend_from_slice(tr.as_bytes());
                out.extend_from_slice(b"\r\n\r\n");
            }
            shard
                .app
                .stats
                .http_request(route, 101, started.elapsed().as_secs_f64());
            Ok(())
        }
        Err(reason) => {
            shard.app.stats.rejected.inc(reason as usize);
            Err(if reason == Reject::PerIpLimit {
                Response::error(429, "too many connections from this address")
            } else {
                Response::error(503, "server connection limit reached")
            })
        }
    }
}

async fn http_loop(shard: &Rc<Shard>, stream: &Socket, entry: &ConnEntry) -> HttpEnd {
    let cfg = shard.app.config.clone();
    let mut buf: Vec<u8> = Vec::new();
    let mut out: Vec<u8> = Vec::new();
    // One clock read per read batch and one per answered request.
    let mut now = Instant::now();
    // `100 Continue` went out for the request whose body is awaited at the buffer's front.
    let mut continued = false;
    entry.idle.set(true);
    entry.deadline.set(Some(now + cfg.http.idle_timeout));
    loop {
        // Answer every complete request in the buffer, in order.
        let mut consumed = 0;
        let mut close = false;
        let mut upgraded: Option<(Upgrade, IpAddr, Option<Vec<u8>>, SessionTrace)> = None;
        loop {
            let started = now;
            let step = match http::parse(
                &buf[consumed..],
                cfg.http.max_head_bytes,
                cfg.http.max_body_bytes,
            ) {
                Ok(Parsed::Partial) => None,
                Ok(Parsed::AwaitingBody { continue_expected }) => {
                    // The client waits for this before it sends the body (RFC 9110 10.1.1).
                    if continue_expected && !continued && !shard.draining() {
                        out.extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
                        continued = true;
                    }
                    None
                }
                Ok(Parsed::Complete { req, len }) => {
                    continued = false;
                    let request_id = shard.app.requests.of(req.request_id);
                    let span = spans::http_request(
                        shard.id,
                        req.method,
                        req.path,
                        entry.peer.ip(),
                        request_id.as_str(),
                        req.traceparent,
                        req.tracestate,
                    );
                    let meta = Meta {
                        head_only: req.method == Method::Head,
                        close: req.close,
                        http10: req.http10,
                        origin: req.origin,
                        path: req.path,
                        request_id,
                        method: req.method,
                        span,
                    };
                    Some(Ok((router::route(shard, &req, entry.peer), meta, len)))
                }
                Err(e) => Some(Err(e)),
            };
            let Some(step) = step else { break };
            let (routed, meta, len) = match step {
                Ok(s) => s,
                Err(e) => {
                    let (status, msg) = e.status();
                    shard
                        .app
                        .stats
                        .validation_errors
                        .inc(Validation::Http as usize);
                    shard.app.stats.http_request(
                        "invalid",
                        status,
                        started.elapsed().as_secs_f64(),
                    );
                    let request_id = shard.app.requests.next();
                    let span = spans::http_request(
                        shard.id,
                        Method::Other,
                        "",
                        entry.peer.ip(),
                        request_id.as_str(),
                        None,
                        None,
                    );
                    spans::http_routed(&span, Method::Other, "invalid", entry.peer.ip());
                    spans::http_status(&span, status);
                    Response::error(status, msg).closing().encode_with(
                        &mut out,
                        false,
                        &[("X-Request-Id", request_id.as_str())],
                    );
                    close = true;
                    break;
                }
            };
            consumed += len;
            let Routed {
                route,
                action,
                client,
            } = routed;
            let (sp, path) = (&meta.span, meta.path);
            spans::http_routed(sp, meta.method, route, client);
            let mut rate = None;
            let resp = if !router::is_probe(route) && shard.app.chaos_error() {
                spans::chaos(sp, "error");
                sp.in_scope(|| {
                    tracing::warn!(
                        request_id = %meta.request_id,
                        path = %path,
                        chaos.injected = true,
                        "chaos.type" = "error",
                        "chaos: injected error"
                    )
                });
                Response::error(500, "chaos: injected failure").with_header("X-Chaos", "error")
            } else {
                if !router::is_probe(route) {
                    if let Some(d) = shard.app.chaos_delay() {
                        spans::chaos(sp, "latency");
                        sp.in_scope(|| {
                            tracing::debug!(
                                request_id = %meta.request_id,
                                ms = %d.as_millis(),
                                chaos.injected = true,
                                "chaos.type" = "latency",
                                "chaos: injected latency"
                            )
                        });
                        glommio::timer::sleep(d).await;
                    }
                }
                match action {
                    Action::Respond(r) => r,
                    Action::Health => health::health(shard, started).instrument(sp.clone()).await,
                    Action::Metrics { json } => {
                        metrics::metrics(shard, json.then_some("application/json"))
                            .instrument(sp.clone())
                            .await
                    }
                    Action::Api(r) => {
                        match api_limits(shard, path, client).instrument(sp.clone()).await {
                            Ok(d) => {
                                rate = d;
                                api::handle(shard, r).instrument(sp.clone()).await
                            }
                            Err(resp) => resp,
                        }
                    }
                    Action::UpgradeGame { key, echo } => {
                        let kind = if echo { Upgrade::Echo } else { Upgrade::Game };
                        match accept_upgrade(shard, client, &key, route, started, &mut out)
                            .instrument(sp.clone())
                            .await
                        {
                            Ok(()) => {
                                spans::http_status(sp, 101);
                                let endpoint = spans::route_template(route);
                                let trace =
                                    SessionTrace::start(sp, shard.id, endpoint, client, None);
                                upgraded = Some((kind, client, None, trace));
                                break;
                            }
                            Err(resp) => resp,
                        }
                    }
                    Action::UpgradeRelay { room, key } => {
                        let mut handshake = Vec::new();
                        match accept_upgrade(shard, client, &key, route, started, &mut handshake)
                            .instrument(sp.clone())
                            .await
                        {
                            Ok(()) => {
                                spans::http_status(sp, 101);
                                let trace = SessionTrace::start(
                                    sp,
                                    shard.id,
                                    spans::route_template(route),
                                    client,
                                    Some(room.as_str()),
                                );
                                upgraded =
                                    Some((Upgrade::Relay(room), client, Some(handshake), trace));
                                break;
                            }
                            Err(resp) => resp,
                        }
                    }
                }
            };
            let resp = match &rate {
                Some(d) => rate_headers(resp, d),
                None => resp,
            };
            let resp = security::with_cors(&cfg, meta.origin, resp);
            let close_now = meta.close || resp.close || shard.draining();
            let resp = if close_now && !resp.close {
                resp.closing()
            } else if !close_now && meta.http10 {
                // HTTP/1.0 keeps a connection only when the answer says so (ab -k and others)
                resp.with_header("Connection", "keep-alive")
            } else {
                resp
            };
            shard.app.stats.http_request(route, resp.status, {
                now = Instant::now();
                now.duration_since(started).as_secs_f64()
            });
            spans::http_status(sp, resp.status);
            if resp.status >= 500 {
                let cause = error_text(&resp);
                sp.in_scope(|| {
                    log!(
                        Warn,
                        "request failed",
                        request_id = meta.request_id,
                        method = format!("{:?}", meta.method),
                        path = path,
                        status = resp.status,
                        client = client,
                        error = cause
                    )
                });
                report::server_error(sp, resp.status, &cause);
            } else {
                log!(
                    Debug,
                    "request",
                    request_id = meta.request_id,
                    method = format!("{:?}", meta.method),
                    path = path,
                    status = resp.status,
                    client = client
                );
            }
            let trace = context::traceparent_of(sp);
            let ids = [
                ("X-Request-Id", meta.request_id.as_str()),
                ("traceresponse", trace.as_deref().unwrap_or("")),
            ];
            let ids = if trace.is_some() { &ids[..] } else { &ids[..1] };
            resp.encode_with(&mut out, meta.head_only, ids);
            if close_now {
                close = true;
                break;
            }
        }
        buf.drain(..consumed.min(buf.len()));
        if !out.is_empty() {
            let r = stream.write_all(&out).await;
            out.clear();
            if out.capacity() > 64 * 1024 {
                out = Vec::new();
            }
            if r.is_err() {
                if let Some((_, client, _, _)) = upgraded {
                    limits::release_ws_slot(shard, client);
                }
                return HttpEnd::Closed;
            }
        }
        if let Some((kind, client, handshake, trace)) = upgraded {
            entry.idle.set(false);
            entry.deadline.set(None);
            return HttpEnd::Upgrade {
                kind,
                client,
                pending: buf,
                handshake,
                trace,
            };
        }
        if close {
            return HttpEnd::Closed;
        }
        // Deadlines: a started request must complete within the head timeout
        // (slowloris); an idle keep-alive connection gets the idle timeout.
        if buf.is_empty() {
            if buf.capacity() > 16 * 1024 {
                buf = Vec::new();
            }
            entry.idle.set(true);
            entry.deadline.set(Some(now + cfg.http.idle_timeout));
        } else if entry.idle.get() {
            entry.idle.set(false);
            entry.deadline.set(Some(now + cfg.http.head_timeout));
        }
        let n = match stream.read_some(&shard.scratch).await {
            Ok(0) | Err(_) => return HttpEnd::Closed,
            Ok(n) => n,
        };
        now = Instant::now();
        if buf.is_empty() {
            entry.idle.set(false);
            entry.deadline.set(Some(now + cfg.http.head_timeout));
        }
        buf.extend_from_slice(&shard.scratch.borrow()[..n]);
    }
}
