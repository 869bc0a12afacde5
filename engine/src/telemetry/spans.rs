//! Every span the engine opens, named and attributed after the OpenTelemetry semantic
//! conventions (`http.*`, `url.path`, `client.address`, `network.peer.address`, `user.id`,
//! `error.type`, `db.*` in `storage`), with `roomcore.*` for what they do not name, and the
//! helpers that record on them. Each constructor returns `Span::none()` at once when
//! telemetry is off, so the hot path pays a relaxed load and nothing else.
//!
//! | span | where | kind | children / links |
//! |---|---|---|---|
//! | `GET /api/scores` (`http.request`) | one per HTTP request, `conn` | server | parent: the request's `traceparent` |
//! | `WS /ws` (`ws.session`) | one per WebSocket, upgrade to close, travels with a moved socket | server | child of the upgrade's request span |
//! | `game move` (`game.message`) | one per typed message, `game::session` | internal | child of the session (or of the message's own `traceparent`, linked to the session) |
//! | `game.validate`, `game.save` | a chess move's rules check and durable save | internal | children of the message |
//! | `matchmaking.enqueue` | joining a queue (caller's shard) | internal | its context rides in the ticket |
//! | `matchmaking.match` | a match formed (queue owner's shard) | internal | links to every ticket's enqueue span |
//! | `matchmaking.create_room` | the room created (room owner's shard) | internal | child of the match |
//! | `auth.register`, `auth.login` | the account endpoints | internal | child `auth.password_hash` on the blocking pool |
//!
//! Relay payload messages are never traced one by one: a relay session's span carries its
//! counts (`roomcore.ws.messages_in`, `bytes_in`, `deliveries`) when it ends.

use std::cell::Cell;
use std::net::IpAddr;

use tracing::field::Empty;
use tracing::{info_span, Span};

use super::context::{self, SpanLink};
use super::enabled;
use super::sampler::SAMPLED_BY;
use crate::http::Method;
use shards::stats::Disconnect;

/// The method as `http.request.method` writes it.
pub fn method_str(m: Method) -> &'static str {
    match m {
        Method::Get => "GET",
        Method::Head => "HEAD",
        Method::Post => "POST",
        Method::Put => "PUT",
        Method::Delete => "DELETE",
        Method::Options => "OPTIONS",
        Method::Patch => "PATCH",
        Method::Other => "_OTHER",
    }
}

/// At most `max` bytes of `s` (on a char boundary): attributes a client chooses stay bounded.
pub fn clip(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// `http.route` of a route label (`router::route_label`): a low-cardinality template.
pub fn route_template(label: &str) -> &'static str {
    match label {
        "live" => "/live",
        "ready" => "/ready",
        "health" => "/health",
        "metrics" => "/metrics",
        "ws_relay" => "/ws/relay/{room}",
        "ws_game" => "/ws",
        "ws_test_echo" => "/ws/_test/echo",
        "web" => "/",
        "api_auth" => "/api/auth/*",
        "api_scores" => "/api/scores*",
        "api_leaderboard" => "/api/leaderboard*",
        "api_rooms" => "/api/rooms/*",
        "api_games" => "/api/games/*",
        "api_other" => "/api/*",
        "invalid" => "(invalid)",
        _ => "(not found)",
    }
}

/// The span of one HTTP request, a child of its `traceparent` when it sent a valid one.
#[allow(clippy::too_many_arguments)]
pub fn http_request(
    shard: usize,
    method: Method,
    path: &str,
    peer: IpAddr,
    request_id: &str,
    traceparent: Option<&str>,
    tracestate: Option<&str>,
) -> Span {
    if !enabled() {
        return Span::none();
    }
    let span = info_span!(
        parent: None,
        "http.request",
        otel.name = method_str(method),
        otel.kind = "server",
        otel.status_code = Empty,
        http.request.method = method_str(method),
        url.path = clip(path, 512),
        http.route = Empty,
        http.response.status_code = Empty,
        "http.request.header.x-request-id" = request_id,
        client.address = Empty,
        network.peer.address = %peer,
        user.id = Empty,
        "error.type" = Empty,
        chaos.injected = Empty,
        "chaos.type" = Empty,
        roomcore.route = Empty,
        roomcore.shard = shard,
    );
    if let Some(cx) = context::extract(traceparent, tracestate) {
        let _ = tracing_opentelemetry::OpenTelemetrySpanExt::set_parent(&span, cx);
    }
    span
}

/// The request was routed: its route and the client's address.
pub fn http_routed(span: &Span, method: Method, label: &'static str, client: IpAddr) {
    if span.is_disabled() {
        return;
    }
    let route = route_template(label);
    span.record("otel.name", format!("{} {route}", method_str(method)));
    span.record("http.route", route);
    span.record("roomcore.route", label);
    span.record("client.address", tracing::field::display(client));
}

/// The request was answered with `status`.
pub fn http_status(span: &Span, status: u16) {
    if span.is_disabled() {
        return;
    }
    span.record("http.response.status_code", status);
    if status >= 500 {
        span.record("otel.status_code", "error");
        span.record("error.type", status);
    }
}

/// A chaos fault was injected in `span`: `ty` is `error` or `latency` (seed 004).
pub fn chaos(span: &Span, ty: &'static str) {
    if span.is_disabled() {
        return;
    }
    span.record("chaos.injected", true);
    span.record("chaos.type", ty);
}

/// The request or session is `user`'s (recorded on the current span, if it has the field).
pub fn user(id: i64) {
    if enabled() {
        Span::current().record("user.id", id);
    }
}

/// The span of one WebSocket session and its counts (`Send`: it moves with the socket). One
/// pointer, empty when telemetry is off (an idle WebSocket pays 8 bytes for it).
#[derive(Debug, Default)]
pub struct SessionTrace(Option<Box<Session>>);

#[derive(Debug)]
struct Session {
    span: Span,
    msgs_in: Cell<u64>,
    bytes_in: Cell<u64>,
    deliveries: Cell<u64>,
    close_code: Cell<u16>,
}

/// The span of a session with none.
static NO_SPAN: std::sync::LazyLock<Span> = std::sync::LazyLock::new(Span::none);

impl SessionTrace {
    /// The session of an upgrade to `endpoint` (an `http.route` template), a child of the
    /// upgrade's request span.
    pub fn start(
        parent: &Span,
        shard: usize,
        endpoint: &'static str,
        client: IpAddr,
        room: Option<&str>,
    ) -> SessionTrace {
        if !enabled() || parent.is_disabled() {
            return SessionTrace::default();
        }
        let span = info_span!(
            parent: parent,
            "ws.session",
            otel.name = %format_args!("WS {endpoint}"),
            otel.kind = "server",
            otel.status_code = Empty,
            http.route = endpoint,
            client.address = %client,
            roomcore.room = room,
            user.id = Empty,
            websocket.close.code = Empty,
            roomcore.ws.close_reason = Empty,
            roomcore.ws.messages_in = Empty,
            roomcore.ws.bytes_in = Empty,
            roomcore.ws.deliveries = Empty,
            roomcore.ws.moved_to = Empty,
            chaos.injected = Empty,
            "chaos.type" = Empty,
            roomcore.shard = shard,
        );
        SessionTrace(Some(Box::new(Session {
            span,
            msgs_in: Cell::new(0),
            bytes_in: Cell::new(0),
            deliveries: Cell::new(0),
            close_code: Cell::new(0),
        })))
    }

    /// The session's span (`Span::none()` when not traced).
    pub fn span(&self) -> &Span {
        match &self.0 {
            Some(s) => &s.span,
            None => &NO_SPAN,
        }
    }

    /// One data message of `len` bytes was read.
    #[inline]
    pub fn message_in(&self, len: usize) {
        if let Some(s) = &self.0 {
            s.msgs_in.set(s.msgs_in.get() + 1);
            s.bytes_in.set(s.bytes_in.get() + len as u64);
        }
    }

    /// This session's message went to `n` other members.
    #[inline]
    pub fn delivered(&self, n: u64) {
        if let Some(s) = &self.0 {
            s.deliveries.set(s.deliveries.get() + n);
        }
    }

    /// The close code this session sent or echoed.
    pub fn close_code(&self, code: u16) {
        if let Some(s) = &self.0 {
            s.close_code.set(code);
        }
    }

    /// A chaos fault hit this session.
    pub fn chaos(&self, ty: &'static str) {
        chaos(self.span(), ty);
    }

    /// The socket moves to shard `to`; the span goes with it.
    pub fn moved(&self, to: usize) {
        if let Some(s) = &self.0 {
            s.span.record("roomcore.ws.moved_to", to);
        }
    }

    /// The session ended for `reason`: record the counts and the close code.
    pub fn closed(&self, reason: Disconnect) {
        let Some(t) = &self.0 else { return };
        let s = &t.span;
        let code = match (t.close_code.get(), reason) {
            (c, _) if c != 0 => c,
            (_, Disconnect::Eof | Disconnect::PingTimeout) => 1006,
            (_, Disconnect::Shutdown) => 1001,
            (_, Disconnect::SlowConsumer | Disconnect::RateLimited) => 1008,
            (_, Disconnect::Crash) => 1011,
            (_, Disconnect::ProtocolError) => 1002,
            (_, Disconnect::ClientClose) => 1000,
        };
        s.record("websocket.close.code", code);
        s.record("roomcore.ws.close_reason", reason.label());
        s.record("roomcore.ws.messages_in", t.msgs_in.get());
        s.record("roomcore.ws.bytes_in", t.bytes_in.get());
        s.record("roomcore.ws.deliveries", t.deliveries.get());
        if reason == Disconnect::Crash {
            s.record("otel.status_code", "error");
        }
    }
}

/// The span of one typed-protocol message (its type, seq and room are recorded once parsed).
pub fn game_message(shard: usize) -> Span {
    if !enabled() {
        return Span::none();
    }
    info_span!(
        "game.message",
        otel.name = "game message",
        "game.message.type" = Empty,
        game.message.seq = Empty,
        roomcore.room = Empty,
        user.id = Empty,
        "error.type" = Empty,
        roomcore.shard = shard,
    )
}

/// The current message was parsed: its type (only a known type names the span: the client
/// chooses the string, and span names must stay a small set) and seq. A valid `traceparent` in
/// it becomes the message span's parent, and the message span links to its `session` span.
pub fn game_parsed(
    session: &Span,
    ty: Option<&str>,
    known: bool,
    seq: Option<u64>,
    traceparent: Option<&str>,
) {
    if !enabled() {
        return;
    }
    let span = Span::current();
    match ty {
        Some(t) if known => {
            span.record("otel.name", format!("game {t}"));
            span.record("game.message.type", t);
        }
        _ => {
            span.record("otel.name", "game (invalid)");
            span.record("game.message.type", "(invalid)");
        }
    }
    if let Some(s) = seq {
        span.record("game.message.seq", s);
    }
    if let Some(cx) = context::extract(traceparent, None) {
        SpanLink::of(session).link_from(&span);
        let _ = tracing_opentelemetry::OpenTelemetrySpanExt::set_parent(&span, cx);
    }
}

/// The current message was refused with `code`.
pub fn game_refused(code: &str) {
    if enabled() {
        Span::current().record("error.type", code);
    }
}

/// The message was handled: the room and user the session is in now.
pub fn game_done(span: &Span, room: Option<&str>, user: Option<i64>) {
    if span.is_disabled() {
        return;
    }
    if let Some(r) = room {
        span.record("roomcore.room", r);
    }
    if let Some(u) = user {
        span.record("user.id", u);
    }
}

/// A chess move's rules check.
pub fn game_validate(mv: &str) -> Span {
    if !enabled() {
        return Span::none();
    }
    info_span!("game.validate", game.move = clip(mv, 16), error.type = Empty)
}

/// The durable save of room `room` holding `room_seq`.
pub fn game_save(room: &str, room_seq: u64) -> Span {
    if !enabled() {
        return Span::none();
    }
    info_span!("game.save", roomcore.room = room, game.room_seq = room_seq)
}

/// Joining the (mode, region) queue owned by shard `owner`.
pub fn mm_enqueue(shard: usize, mode: &str, region: &str, players: usize, owner: usize) -> Span {
    if !enabled() {
        return Span::none();
    }
    info_span!(
        "matchmaking.enqueue",
        matchmaking.mode = mode,
        matchmaking.region = region,
        matchmaking.players = players,
        matchmaking.queue_shard = owner,
        matchmaking.ticket = Empty,
        roomcore.shard = shard,
    )
}

/// A match formed on the queue's owner shard, linked to every ticket's enqueue span.
pub fn mm_match<'a>(
    shard: usize,
    mode: &str,
    room: &str,
    spread: f64,
    tickets: impl Iterator<Item = &'a SpanLink>,
) -> Span {
    if !enabled() {
        return Span::none();
    }
    let span = info_span!(
        parent: None,
        "matchmaking.match",
        matchmaking.mode = mode,
        matchmaking.rating_spread = spread,
        matchmaking.tickets = Empty,
        roomcore.room = room,
        roomcore.shard = shard,
        { SAMPLED_BY } = "links",
    );
    let mut n = 0u64;
    for t in tickets {
        t.link_from(&span);
        n += 1;
    }
    span.record("matchmaking.tickets", n);
    span
}

/// The matched room created on its owner shard, a child of the match span.
pub fn mm_create_room(shard: usize, room: &str, parent: &SpanLink) -> Span {
    if !enabled() || !parent.is_some() {
        return Span::none();
    }
    let span = info_span!(
        parent: None,
        "matchmaking.create_room",
        roomcore.room = room,
        roomcore.shard = shard,
        matchmaking.created = Empty,
    );
    parent.parent_of(&span);
    span
}

/// `POST /api/auth/register` or `/login` (`op`).
pub fn auth(op: &'static str, username: &str) -> Span {
    if !enabled() {
        return Span::none();
    }
    let username = clip(username, 24);
    match op {
        "register" => info_span!("auth.register", user.name = username, user.id = Empty),
        _ => info_span!("auth.login", user.name = username, user.id = Empty),
    }
}

/// A password hash (`hash`) or check (`verify`) on the blocking pool.
pub fn password_hash(op: &'static str) -> Span {
    if !enabled() {
        return Span::none();
    }
    info_span!("auth.password_hash", roomcore.password.op = op)
}
