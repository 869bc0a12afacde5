//! One accepted connection's HTTP/1.1 life: keep-alive, pipelined requests
//! answered in order, limits and timeouts, per-IP rate limits on `/api/*`,
//! request ids, metrics, chaos injection, and the upgrade to a relay WebSocket
//! (served here, or handed to the shard that owns the room).

use std::cell::RefCell;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{FromRawFd, OwnedFd};
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::rc::Rc;
use std::time::Instant;

use futures_lite::FutureExt;
use glommio::net::TcpStream;
use shards::stats::{CrashScope, Limit, Reject, Validation};
use shards::{shard_for, stats, MovedSocket, RateDecision, RoomId, ShardMsg};

use crate::http::{self, Method, Parsed, Response};
use crate::io::{self, Stream};
use crate::limits::{self, RateClass};
use crate::router::{self, Action, Routed};
use crate::shard::{fd_of, ConnEntry, Shard};
use crate::ws::handshake;
use crate::{api, health, log, metrics, relay, security};

/// How the HTTP phase of a connection ended.
enum HttpEnd {
    Closed,
    /// A relay WebSocket; its `101` answer is in `handshake`, not yet written: the session
    /// writes it once the socket has joined its room.
    Upgrade {
        room: RoomId,
        client: IpAddr,
        pending: Vec<u8>,
        handshake: Vec<u8>,
    },
    /// A typed game session (`GET /ws`).
    Game {
        client: IpAddr,
        pending: Vec<u8>,
    },
    /// The test-only echo WebSocket (`echo`); its 101 was written.
    Echo {
        client: IpAddr,
        pending: Vec<u8>,
    },
}

/// Serve one accepted connection until it closes. A panic anywhere in its
/// handling is caught here: logged, counted, and only this connection closes.
pub async fn serve(shard: Rc<Shard>, stream: TcpStream, peer: SocketAddr) {
    let entry = shard.register(fd_of(&stream), peer);
    let work = serve_inner(&shard, stream, &entry);
    guarded(&shard, &entry, work).await;
}

/// Run a registered connection's `work` to its end; a panic inside it is
/// caught and cleaned up by [`crashed`]. The entry leaves the table after.
pub async fn guarded(
    shard: &Shard,
    entry: &ConnEntry,
    work: impl std::future::Future<Output = ()>,
) {
    if let Err(panic) = AssertUnwindSafe(work).catch_unwind().await {
        crashed(shard, entry, &*panic);
    }
    shard.deregister(entry);
}

/// Clean up after a panic caught in a connection's task.
pub fn crashed(shard: &Shard, entry: &ConnEntry, panic: &(dyn std::any::Any + Send)) {
    let what = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into());
    shard.stats.crashes.inc(CrashScope::Connection as usize);
    log!(
        Error,
        "panic in connection handler",
        conn = entry.id,
        client = entry.peer,
        panic = what
    );
    if let Some(room) = entry.room.borrow_mut().take() {
        shard.rooms.leave(&room, entry.id);
    }
    if let Some(ob) = entry.outbox.borrow_mut().take() {
        ob.set_reason(stats::Disconnect::Crash);
        ob.kill(Some(crate::ws::close_frame(1011, "internal error")));
        stats::dec(&shard.stats.websockets);
    }
    io::shutdown(entry.fd);
}

async fn serve_inner(shard: &Rc<Shard>, stream: TcpStream, entry: &Rc<ConnEntry>) {
    let stream: Rc<Stream> = Rc::new(RefCell::new(stream));
    // Each phase is boxed so a long-lived WebSocket does not keep the HTTP
    // phase's state allocated (idle memory per connection).
    let end = Box::pin(http_loop(shard, &stream, entry)).await;
    if let HttpEnd::Echo { client, pending } = end {
        Box::pin(crate::echo::run(
            shard,
            stream,
            entry,
            Some(client),
            pending,
        ))
        .await;
        return;
    }
    if let HttpEnd::Game { client, pending } = end {
        let state = crate::game::SessionState::default();
        Box::pin(crate::game::session::run(
            shard,
            stream,
            entry,
            Some(client),
            pending,
            state,
            Vec::new(),
        ))
        .await;
        return;
    }
    if let HttpEnd::Upgrade {
        room,
        client,
        pending,
        handshake,
    } = end
    {
        let start = relay::Start {
            room,
            slot_ip: Some(client),
            pending,
            handshake,
        };
        relay_phase(shard, stream, entry, start).await;
    }
}

/// The relay phase of an upgraded socket, here or on its room's owner shard. Boxed, and built
/// outside any `async fn`, so the connection's task holds one pointer while the session lives
/// (idle memory per WebSocket), not the state of either path.
fn relay_phase<'a>(
    shard: &'a Rc<Shard>,
    stream: Rc<Stream>,
    entry: &'a Rc<ConnEntry>,
    start: relay::Start,
) -> Pin<Box<dyn Future<Output = ()> + 'a>> {
    let owner = shard_for(start.room.as_str(), shard.shards());
    if owner == shard.id {
        Box::pin(relay::run(
            shard,
            stream,
            entry,
            start.prepare(&shard.config),
        ))
    } else {
        Box::pin(migrate(shard, stream, entry.peer, owner, start))
    }
}

/// Hand an upgraded socket to the shard that owns its room.
async fn migrate(
    shard: &Rc<Shard>,
    stream: Rc<Stream>,
    peer: SocketAddr,
    owner: usize,
    start: relay::Start,
) {
    let relay::Start {
        room,
        slot_ip,
        pending,
        handshake,
    } = start;
    let fd = fd_of(&stream.borrow());
    // SAFETY: dup of a socket we own; the copy is owned by `OwnedFd` and the
    // original is closed when `stream` drops (close, not shutdown).
    let dup = unsafe { libc::dup(fd) };
    drop(stream);
    if dup < 0 {
        log!(
            Warn,
            "cannot hand socket to owner shard",
            error = std::io::Error::last_os_error()
        );
        if let Some(ip) = slot_ip {
            limits::release_ws_slot(shard, ip);
        }
        return;
    }
    // SAFETY: `dup` is a fresh descriptor nobody else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(dup) };
    let msg = ShardMsg::AdoptRelay {
        socket: Box::new(MovedSocket {
            fd,
            room,
            peer,
            slot_ip,
            pending: pending.into_boxed_slice(),
            handshake: handshake.into_boxed_slice(),
        }),
    };
    match shard.mesh.send(owner, msg).await {
        Ok(()) => stats::inc(&shard.stats.migrated_out_total),
        Err(e) => {
            log!(Warn, "cannot hand socket to owner shard", error = e);
            if let Some(ip) = slot_ip {
                limits::release_ws_slot(shard, ip);
            }
        }
    }
}

/// Request metadata copied out of the buffer before any await.
struct Meta {
    head_only: bool,
    close: bool,
    /// An HTTP/1.0 request (keep-alive only when asked for, and then confirmed).
    http10: bool,
    origin: Option<String>,
    request_id: String,
    method: Method,
}

fn valid_request_id(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
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
    shard: &Shard,
    path: &str,
    client: IpAddr,
) -> Result<Option<RateDecision>, Response> {
    let cfg = &shard.config;
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
            shard.stats.rate_limited.inc(metric as usize);
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
    shard: &Shard,
    client: IpAddr,
    key: &str,
    route: &'static str,
    started: Instant,
    out: &mut Vec<u8>,
) -> Result<(), Response> {
    match limits::acquire_ws_slot(shard, client).await {
        Ok(()) => {
            handshake::accept(key, shard.id, out);
            shard
                .stats
                .http_request(route, 101, started.elapsed().as_secs_f64());
            Ok(())
        }
        Err(reason) => {
            shard.stats.rejected.inc(reason as usize);
            Err(if reason == Reject::PerIpLimit {
                Response::error(429, "too many connections from this address")
            } else {
                Response::error(503, "server connection limit reached")
            })
        }
    }
}

async fn http_loop(shard: &Rc<Shard>, stream: &Stream, entry: &ConnEntry) -> HttpEnd {
    let cfg = shard.config.clone();
    let mut buf: Vec<u8> = Vec::new();
    let mut out: Vec<u8> = Vec::new();
    // One clock read per read batch and one per answered request.
    let mut now = Instant::now();
    // `100 Continue` went out for the request whose body is awaited at the buffer's front.
    let mut continued = false;
    entry.idle_http.set(true);
    entry.deadline.set(Some(now + cfg.http.idle_timeout));
    loop {
        // Answer every complete request in the buffer, in order.
        let mut consumed = 0;
        let mut close = false;
        let mut upgrade = None;
        let mut game: Option<IpAddr> = None;
        let mut echo = false;
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
                    if continue_expected && !continued && !shard.draining.get() {
                        out.extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
                        continued = true;
                    }
                    None
                }
                Ok(Parsed::Complete { req, len }) => {
                    continued = false;
                    let meta = Meta {
                        head_only: req.method == Method::Head,
                        close: req.close,
                        http10: req.http10,
                        origin: req.origin.map(str::to_string),
                        request_id: req
                            .request_id
                            .filter(|id| valid_request_id(id))
                            .map_or_else(|| shard.new_request_id(), str::to_string),
                        method: req.method,
                    };
                    let path = req.path.to_string();
                    Some(Ok((
                        router::route(shard, &req, entry.peer),
                        meta,
                        path,
                        len,
                    )))
                }
                Err(e) => Some(Err(e)),
            };
            let Some(step) = step else { break };
            let (routed, meta, path, len) = match step {
                Ok(s) => s,
                Err(e) => {
                    let (status, msg) = e.status();
                    shard.stats.validation_errors.inc(Validation::Http as usize);
                    shard
                        .stats
                        .http_request("invalid", status, started.elapsed().as_secs_f64());
                    Response::error(status, msg)
                        .closing()
                        .with_header("X-Request-Id", shard.new_request_id())
                        .encode(&mut out, false);
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
            let mut rate = None;
            let resp = if !router::is_probe(route) && shard.chaos_error() {
                log!(
                    Warn,
                    "chaos: injected error",
                    request_id = meta.request_id,
                    path = path
                );
                Response::error(500, "chaos: injected failure").with_header("X-Chaos", "error")
            } else {
                if !router::is_probe(route) {
                    if let Some(d) = shard.chaos_delay() {
                        log!(
                            Debug,
                            "chaos: injected latency",
                            request_id = meta.request_id,
                            ms = d.as_millis()
                        );
                        glommio::timer::sleep(d).await;
                    }
                }
                match action {
                    Action::Respond(r) => r,
                    Action::Health => health::health(shard).await,
                    Action::Metrics { json } => {
                        metrics::metrics(shard, json.then_some("application/json")).await
                    }
                    Action::Api(r) => match api_limits(shard, &path, client).await {
                        Ok(d) => {
                            rate = d;
                            api::handle(shard, r).await
                        }
                        Err(resp) => resp,
                    },
                    Action::UpgradeGame { key } => {
                        match accept_upgrade(shard, client, &key, route, started, &mut out).await {
                            Ok(()) => {
                                game = Some(client);
                                break;
                            }
                            Err(resp) => resp,
                        }
                    }
                    Action::UpgradeEcho { key } => {
                        match accept_upgrade(shard, client, &key, route, started, &mut out).await {
                            Ok(()) => {
                                (game, echo) = (Some(client), true);
                                break;
                            }
                            Err(resp) => resp,
                        }
                    }
                    Action::UpgradeRelay { room, key } => {
                        let mut handshake = Vec::new();
                        match accept_upgrade(shard, client, &key, route, started, &mut handshake)
                            .await
                        {
                            Ok(()) => {
                                upgrade = Some((room, client, handshake));
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
            let resp = security::with_cors(&cfg, meta.origin.as_deref(), resp)
                .with_header("X-Request-Id", meta.request_id.clone());
            let close_now = meta.close || resp.close || shard.draining.get();
            let resp = if close_now && !resp.close {
                resp.closing()
            } else if !close_now && meta.http10 {
                // HTTP/1.0 keeps a connection only when the answer says so (ab -k and others)
                resp.with_header("Connection", "keep-alive")
            } else {
                resp
            };
            shard.stats.http_request(route, resp.status, {
                now = Instant::now();
                now.duration_since(started).as_secs_f64()
            });
            if resp.status >= 500 {
                log!(
                    Warn,
                    "request failed",
                    request_id = meta.request_id,
                    method = format!("{:?}", meta.method),
                    path = path,
                    status = resp.status,
                    client = client
                );
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
            resp.encode(&mut out, meta.head_only);
            if close_now {
                close = true;
                break;
            }
        }
        buf.drain(..consumed.min(buf.len()));
        if !out.is_empty() {
            let r = io::write_all(stream, &out).await;
            out.clear();
            if out.capacity() > 64 * 1024 {
                out = Vec::new();
            }
            if r.is_err() {
                if let Some((_, client, _)) = upgrade {
                    limits::release_ws_slot(shard, client);
                }
                if let Some(client) = game {
                    limits::release_ws_slot(shard, client);
                }
                return HttpEnd::Closed;
            }
        }
        if let Some(client) = game {
            entry.idle_http.set(false);
            entry.deadline.set(None);
            if echo {
                return HttpEnd::Echo {
                    client,
                    pending: buf,
                };
            }
            return HttpEnd::Game {
                client,
                pending: buf,
            };
        }
        if let Some((room, client, handshake)) = upgrade {
            entry.idle_http.set(false);
            entry.deadline.set(None);
            return HttpEnd::Upgrade {
                room,
                client,
                pending: buf,
                handshake,
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
            entry.idle_http.set(true);
            entry.deadline.set(Some(now + cfg.http.idle_timeout));
        } else if entry.idle_http.get() {
            entry.idle_http.set(false);
            entry.deadline.set(Some(now + cfg.http.head_timeout));
        }
        let n = match io::read_some(stream, &shard.scratch).await {
            Ok(0) | Err(_) => return HttpEnd::Closed,
            Ok(n) => n,
        };
        now = Instant::now();
        if buf.is_empty() {
            entry.idle_http.set(false);
            entry.deadline.set(Some(now + cfg.http.head_timeout));
        }
        buf.extend_from_slice(&shard.scratch.borrow()[..n]);
    }
}
