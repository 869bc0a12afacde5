//! One accepted connection's HTTP/1.1 life: keep-alive, pipelined requests
//! answered in order, limits and timeouts, per-IP rate limits on `/api/*`,
//! request ids, metrics, chaos injection, and the upgrade to a WebSocket session
//! (relay room, typed game protocol or test echo; see [`crate::session`]).

use std::cell::Cell;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Instant;

use shards::{ConnEntry, Socket};

use crate::app::Shard;
use crate::http::{self, Method, Parsed, Response};
use crate::limits::{self, RateClass, RateDecision};
use crate::room_id::RoomId;
use crate::router::{self, Action, Routed};
use crate::session::{self, Start};
use crate::stats::{Limit, Reject, Validation};
use crate::ws::handshake;
use crate::{api, echo, game, health, log, metrics, relay, security};

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
    },
}

/// Request ids unique per process run: `<prefix hex>-<shard>-<n hex>`.
#[derive(Debug)]
pub struct RequestIds {
    prefix: u32,
    shard: usize,
    next: Cell<u64>,
}

impl RequestIds {
    /// The ids of shard `shard` (the prefix comes from the clock at start).
    pub fn new(shard: usize) -> RequestIds {
        RequestIds {
            prefix: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.subsec_nanos() ^ (d.as_secs() as u32)),
            shard,
            next: Cell::new(1),
        }
    }

    /// A new request id, written without the fmt machinery.
    pub fn next(&self) -> String {
        let n = self.next.get();
        self.next.set(n + 1);
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut id = String::with_capacity(24);
        for i in (0..8).rev() {
            id.push(HEX[(self.prefix >> (i * 4)) as usize & 15] as char);
        }
        id.push('-');
        let mut shard = Vec::with_capacity(3);
        http::response::push_decimal(&mut shard, self.shard as u64);
        id.push_str(std::str::from_utf8(&shard).unwrap_or("0"));
        id.push('-');
        let digits = (64 - n.leading_zeros()).div_ceil(4).max(1);
        for i in (0..digits).rev() {
            id.push(HEX[(n >> (i * 4)) as usize & 15] as char);
        }
        id
    }
}

/// Serve one accepted connection until it closes (the runtime catches a panic in it).
pub fn serve(shard: Rc<Shard>, socket: Socket, entry: Rc<ConnEntry>) -> Conn {
    Conn(Phase::Http(Box::pin(async move {
        let end = http_loop(&shard, &socket, &entry).await;
        (end, socket, shard, entry)
    })))
}

/// What the HTTP phase gives back.
type HttpDone = (HttpEnd, Socket, Rc<Shard>, Rc<ConnEntry>);

/// One connection's task. The HTTP phase is boxed (its state is freed when the connection
/// upgrades), and a WebSocket session runs inline, so an idle WebSocket holds one allocation
/// for its task: the session's [`session::Driver`] and little else.
pub struct Conn(Phase);

enum Phase {
    Http(Pin<Box<dyn Future<Output = HttpDone>>>),
    Relay(session::Driver<relay::Relay>),
    /// The game handler's state is boxed: the task stays relay-sized.
    Game(session::Driver<Box<game::session::Game>>),
    Echo(session::Driver<echo::Echo>),
    /// A socket on its way to another shard.
    Moving(Pin<Box<dyn Future<Output = ()>>>),
    Done,
}

impl Phase {
    /// The session an upgrade starts (or nothing when the connection closed).
    fn upgraded(done: HttpDone) -> Phase {
        let (end, socket, shard, entry) = done;
        let HttpEnd::Upgrade {
            kind,
            client,
            pending,
            handshake,
        } = end
        else {
            return Phase::Done;
        };
        let start = Start {
            slot_ip: Some(client),
            pending,
            handshake,
        };
        match kind {
            Upgrade::Relay(room) => match relay::start(shard, socket, entry, room, start) {
                relay::Started::Here(d) => Phase::Relay(d),
                relay::Started::Moving(f) => Phase::Moving(f),
            },
            Upgrade::Game => {
                let game = Box::new(game::session::Game::default());
                Phase::Game(session::run(shard, socket, entry, start, game))
            }
            Upgrade::Echo => Phase::Echo(session::run(shard, socket, entry, start, echo::Echo)),
        }
    }
}

impl Future for Conn {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut self.get_mut().0;
        loop {
            return match this {
                Phase::Http(f) => match f.as_mut().poll(cx) {
                    Poll::Ready(done) => {
                        *this = Phase::upgraded(done);
                        continue;
                    }
                    Poll::Pending => Poll::Pending,
                },
                Phase::Relay(d) => Pin::new(d).poll(cx),
                Phase::Game(d) => Pin::new(d).poll(cx),
                Phase::Echo(d) => Pin::new(d).poll(cx),
                Phase::Moving(f) => f.as_mut().poll(cx),
                Phase::Done => Poll::Ready(()),
            };
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
        let mut upgraded: Option<(Upgrade, IpAddr, Option<Vec<u8>>)> = None;
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
                    let meta = Meta {
                        head_only: req.method == Method::Head,
                        close: req.close,
                        http10: req.http10,
                        origin: req.origin.map(str::to_string),
                        request_id: req
                            .request_id
                            .filter(|id| valid_request_id(id))
                            .map_or_else(|| shard.app.requests.next(), str::to_string),
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
                    Response::error(status, msg)
                        .closing()
                        .with_header("X-Request-Id", shard.app.requests.next())
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
            let resp = if !router::is_probe(route) && shard.app.chaos_error() {
                log!(
                    Warn,
                    "chaos: injected error",
                    request_id = meta.request_id,
                    path = path
                );
                Response::error(500, "chaos: injected failure").with_header("X-Chaos", "error")
            } else {
                if !router::is_probe(route) {
                    if let Some(d) = shard.app.chaos_delay() {
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
                    Action::UpgradeGame { key, echo } => {
                        let kind = if echo { Upgrade::Echo } else { Upgrade::Game };
                        match accept_upgrade(shard, client, &key, route, started, &mut out).await {
                            Ok(()) => {
                                upgraded = Some((kind, client, None));
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
                                upgraded = Some((Upgrade::Relay(room), client, Some(handshake)));
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
            let r = stream.write_all(&out).await;
            out.clear();
            if out.capacity() > 64 * 1024 {
                out = Vec::new();
            }
            if r.is_err() {
                if let Some((_, client, _)) = upgraded {
                    limits::release_ws_slot(shard, client);
                }
                return HttpEnd::Closed;
            }
        }
        if let Some((kind, client, handshake)) = upgraded {
            entry.idle.set(false);
            entry.deadline.set(None);
            return HttpEnd::Upgrade {
                kind,
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
