//! Error reports: a panic caught by crash isolation (a connection's task, or a room's
//! handler) and every 5xx the server answers.
//!
//! Each becomes an OpenTelemetry exception event (`exception.type`, `exception.message`,
//! `exception.stacktrace`) on the span it happened in: the panic's span (captured by the panic
//! hook while the span stack was still there), or the request's span. With `SENTRY_DSN` set it
//! is also a Sentry event (through the `sentry` crate) with its stack or cause, request id,
//! trace and span ids, room, user, route, status and shard, release and environment from the
//! configuration. Reports leave the shard thread through a bounded crossbeam queue
//! (`ERROR_REPORT_QUEUE_SIZE`; full: dropped and counted) to the `error-reports` thread, which
//! symbolises panic stacks and hands the events to Sentry's transport.
//!
//! Symbolising a stack reads the binary's debug info, which can take a few hundred ms the
//! first time: it never runs on a shard. The crash handler hands the captured stack to the
//! executor's blocking pool, and a task of the shard records the exception event (the span is
//! held open until then) and queues the report once it is resolved. At most
//! [`MAX_RESOLVING`] stacks are resolved at a time; past that (a panic storm) the event and the
//! report name the panic's location instead.

use std::backtrace::Backtrace;
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

use crossbeam_channel::{Receiver, Sender};
use sentry::protocol::{self as sp, Event, Exception, Mechanism, User};
use tracing::Span;

use super::layer::{context_of, Scope};
use super::{counters, enabled, Counters};
use crate::config::TelemetryArgs;
use crate::log::SPAN_ONLY_TARGET;

/// What went wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A panic caught by crash isolation: `scope` is `connection` or `room`.
    Panic { scope: &'static str },
    /// A 5xx answer.
    ServerError { status: u16 },
}

/// The stack of a panic (symbolised) or the cause of a 5xx.
#[derive(Debug)]
pub enum Stack {
    Resolved(String),
    Cause(String),
}

/// One error report on its way to the reporter thread.
#[derive(Debug)]
pub struct Report {
    pub kind: Kind,
    pub message: String,
    /// `file:line:column` of a panic.
    pub location: Option<String>,
    pub stack: Stack,
    /// Trace and span ids, request id, endpoint, user, room of the spans it happened in.
    pub scope: Scope,
    pub shard: Option<usize>,
    pub at: SystemTime,
}

/// What travels on the report queue.
pub enum Msg {
    Report(Box<Report>),
    Flush(Sender<()>),
}

/// The queue to the reporter thread (set when `SENTRY_DSN` is).
static QUEUE: OnceLock<Sender<Msg>> = OnceLock::new();

/// A panic as the hook saw it, waiting for the crash handler on the same thread.
struct Caught {
    message: String,
    location: String,
    backtrace: Backtrace,
    span: Span,
}

thread_local! {
    static CAUGHT: RefCell<Option<Caught>> = const { RefCell::new(None) };
    static IN_HOOK: Cell<bool> = const { Cell::new(false) };
}

/// Stacks being symbolised on blocking pools now.
static RESOLVING: AtomicU64 = AtomicU64::new(0);
/// Most stacks symbolised at a time in the process.
pub const MAX_RESOLVING: u64 = 2;

/// Install the panic hook (telemetry on): it keeps the panic's message, location, stack and
/// current span for the crash handler, then runs the previous hook (which prints it).
pub fn install_panic_hook(queue: Option<Sender<Msg>>) {
    if let Some(q) = queue {
        let _ = QUEUE.set(q);
    }
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !IN_HOOK.with(|h| h.replace(true)) {
            let message = info
                .payload()
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| info.payload().downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            let location = info
                .location()
                .map(|l| format!("{}:{}:{}", l.file(), l.line(), l.column()))
                .unwrap_or_default();
            let caught = Caught {
                message,
                location,
                backtrace: Backtrace::force_capture(),
                span: Span::current(),
            };
            CAUGHT.with(|c| *c.borrow_mut() = Some(caught));
            IN_HOOK.with(|h| h.set(false));
        }
        previous(info);
    }));
}

/// Crash isolation caught a panic on this thread (`scope`: `connection` or `room`; `room`:
/// the room it closed, if any): record the exception on the panic's span and report it.
pub fn panic_caught(scope: &'static str, room: Option<&str>) {
    panic_caught_in(scope, room, &Span::none());
}

/// [`panic_caught`], on `span` when the panic happened outside any entered span (a relay
/// session does not enter its span for every message).
pub fn panic_caught_in(scope: &'static str, room: Option<&str>, span: &Span) {
    if !enabled() {
        return;
    }
    let Some(mut c) = CAUGHT.with(|c| c.borrow_mut().take()) else {
        return;
    };
    if c.span.is_none() {
        c.span = span.clone();
    }
    let mut ctx = context_of(&c.span);
    if let Some(r) = room {
        if ctx.get("room").is_none() {
            ctx.fields.push(("room", r.to_string()));
        }
    }
    counters().exceptions[0].fetch_add(1, Ordering::Relaxed);
    let shard = shards::shard::current();
    let Caught {
        message,
        location,
        backtrace,
        span,
    } = c;
    let room = room.map(str::to_string);
    let fallback = format!("at {location} (stack not resolved: {MAX_RESOLVING} were in progress)");
    let record = move |stack: String| {
        span.in_scope(|| {
            tracing::event!(
                target: "roomcore::panic",
                tracing::Level::ERROR,
                exception.escaped = true,
                "exception.type" = "panic",
                exception.message = %message,
                exception.stacktrace = %stack,
                crash.scope = scope,
                room = room.as_deref().unwrap_or(""),
                "exception"
            );
        });
        enqueue(Report {
            kind: Kind::Panic { scope },
            message,
            location: Some(location),
            stack: Stack::Resolved(stack),
            scope: ctx,
            shard,
            at: SystemTime::now(),
        });
    };
    if RESOLVING.fetch_add(1, Ordering::Relaxed) >= MAX_RESOLVING {
        RESOLVING.fetch_sub(1, Ordering::Relaxed);
        return record(fallback);
    }
    glommio::spawn_local(async move {
        let stack = glommio::executor()
            .spawn_blocking(move || backtrace.to_string())
            .await;
        RESOLVING.fetch_sub(1, Ordering::Relaxed);
        record(stack);
    })
    .detach();
}

/// The server answered `status` (5xx) inside `span` because of `cause`.
pub fn server_error(span: &Span, status: u16, cause: &str) {
    if !enabled() || span.is_disabled() {
        return;
    }
    span.in_scope(|| {
        tracing::event!(
            target: SPAN_ONLY_TARGET,
            tracing::Level::ERROR,
            exception.message = cause,
            "exception.type" = %format_args!("HTTP {status}"),
            "exception"
        );
    });
    counters().exceptions[1].fetch_add(1, Ordering::Relaxed);
    if QUEUE.get().is_none() {
        return;
    }
    enqueue(Report {
        kind: Kind::ServerError { status },
        message: cause.to_string(),
        location: None,
        stack: Stack::Cause(cause.to_string()),
        scope: context_of(span),
        shard: shards::shard::current(),
        at: SystemTime::now(),
    });
}

fn enqueue(r: Report) {
    if let Some(q) = QUEUE.get() {
        if q.try_send(Msg::Report(Box::new(r))).is_err() {
            counters().reports_dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// The reporter thread and its Sentry client.
pub struct Reporter {
    tx: Sender<Msg>,
    client: Arc<sentry::Client>,
    _thread: JoinHandle<()>,
}

impl std::fmt::Debug for Reporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reporter").finish_non_exhaustive()
    }
}

impl Reporter {
    /// A Sentry client for `SENTRY_DSN` and the thread that feeds it.
    pub fn start(cfg: &TelemetryArgs, counters: Arc<Counters>) -> Result<Reporter, String> {
        let dsn = cfg
            .sentry_dsn
            .parse::<sentry::types::Dsn>()
            .map_err(|e| format!("SENTRY_DSN: {e}"))?;
        let mut opts = sentry::ClientOptions::default();
        opts.dsn = Some(dsn);
        opts.release = Some(cfg.sentry_release.clone().into());
        opts.environment = Some(cfg.sentry_environment.clone().into());
        let mut opts = sentry::apply_defaults(opts);
        opts.transport = Some(Arc::new(transport));
        let client = Arc::new(sentry::Client::from(opts));
        let (tx, rx) = crossbeam_channel::bounded(cfg.error_report_queue_size);
        let c = client.clone();
        let service = cfg.service_name.clone();
        let thread = std::thread::Builder::new()
            .name("error-reports".into())
            .spawn(move || run(rx, c, counters, service))
            .map_err(|e| format!("cannot start the error report thread: {e}"))?;
        Ok(Reporter {
            tx,
            client,
            _thread: thread,
        })
    }

    /// The queue shards push reports on.
    pub fn queue(&self) -> Sender<Msg> {
        self.tx.clone()
    }

    /// Send what is queued, waiting at most `limit`.
    pub fn close(self, limit: Duration) {
        let deadline = std::time::Instant::now() + limit;
        let left = move || deadline.saturating_duration_since(std::time::Instant::now());
        let (done, wait) = crossbeam_channel::bounded(1);
        if self.tx.send_timeout(Msg::Flush(done), limit).is_ok() {
            let _ = wait.recv_timeout(left());
        }
        // The client's flush first hands its transport a flush request through a bounded
        // queue, blocking while that queue is full, which against an endpoint that does not
        // answer lasts up to SEND_TIMEOUT whatever the flush's own limit. So it runs on a
        // thread of its own, awaited for what is left of `limit`.
        let (flushed, wait) = crossbeam_channel::bounded(1);
        let client = self.client.clone();
        let spawned = std::thread::Builder::new()
            .name("sentry-flush".into())
            .spawn(move || {
                client.flush(Some(left()));
                let _ = flushed.send(());
            });
        if spawned.is_ok() {
            let _ = wait.recv_timeout(left());
        }
        // Dropping the last handle of the client stops its transport thread and joins it,
        // which waits for the envelope in flight (up to SEND_TIMEOUT against an endpoint that
        // does not answer). The process is exiting: leave the client to it instead.
        std::mem::forget(self.client);
    }
}

/// Longest one envelope may take to reach Sentry (connect, send, answer). Without it a Sentry
/// endpoint that takes the connection and never answers would hold the transport thread for
/// good: every later report would be dropped, and shutdown would wait on it.
const SEND_TIMEOUT: Duration = Duration::from_secs(5);

/// Sentry's ureq transport with [`SEND_TIMEOUT`] on every exchange (rustls for https, the
/// proxy settings the options carry), in place of its default agent, which has none.
fn transport(opts: &sentry::ClientOptions) -> Arc<dyn sentry::Transport> {
    let https = opts
        .dsn
        .as_ref()
        .is_some_and(|d| d.scheme() == sentry::types::Scheme::Https);
    let proxy = match (https, &opts.https_proxy, &opts.http_proxy) {
        (true, Some(p), _) | (_, _, Some(p)) => ureq::Proxy::new(p.as_ref()).ok(),
        _ => None,
    };
    let agent = ureq::Agent::config_builder()
        .timeout_global(Some(SEND_TIMEOUT))
        .tls_config(
            ureq::tls::TlsConfig::builder()
                .provider(ureq::tls::TlsProvider::Rustls)
                .build(),
        )
        .proxy(proxy)
        .build()
        .new_agent();
    let general = sentry::TransportOptions::try_from_client_options(opts)
        .expect("the reporter is only started with a DSN");
    Arc::new(
        sentry::transports::UreqHttpTransportOptions::from(general)
            .with_agent(agent)
            .build(),
    )
}

fn run(rx: Receiver<Msg>, client: Arc<sentry::Client>, counters: Arc<Counters>, service: String) {
    for msg in rx {
        match msg {
            Msg::Report(r) => {
                client.capture_event(event(&r, &service), None);
                counters.reports_sent.fetch_add(1, Ordering::Relaxed);
            }
            Msg::Flush(done) => {
                let _ = done.send(());
            }
        }
    }
}

/// The Sentry event of a report.
pub fn event(r: &Report, service: &str) -> Event<'static> {
    let (ty, mechanism, stacktrace) = match (&r.kind, &r.stack) {
        (Kind::Panic { .. }, Stack::Resolved(text)) => (
            "panic".to_string(),
            "panic",
            sentry::integrations::backtrace::parse_stacktrace(text),
        ),
        (Kind::ServerError { status }, _) => (format!("HTTP {status}"), "http", None),
        (Kind::Panic { .. }, Stack::Cause(_)) => ("panic".to_string(), "panic", None),
    };
    let mut tags = BTreeMap::new();
    tags.insert("service".to_string(), service.to_string());
    match r.kind {
        Kind::Panic { scope } => {
            tags.insert("kind".into(), "panic".into());
            tags.insert("crash.scope".into(), scope.into());
        }
        Kind::ServerError { status } => {
            tags.insert("kind".into(), "server_error".into());
            tags.insert("http.status_code".into(), status.to_string());
        }
    }
    // The user travels as the event's user; the client's IP stays out of the report.
    for (k, v) in &r.scope.fields {
        if !matches!(*k, "user_id" | "client") {
            tags.insert((*k).to_string(), v.clone());
        }
    }
    if let Some(t) = &r.scope.trace_id {
        tags.insert("trace_id".into(), t.clone());
    }
    if let Some(s) = r.shard {
        tags.insert("shard".into(), s.to_string());
    }
    let mut extra = BTreeMap::new();
    if let Some(l) = &r.location {
        extra.insert("location".to_string(), l.clone().into());
    }
    if let Stack::Cause(c) = &r.stack {
        extra.insert("cause".to_string(), c.clone().into());
    }
    let mut contexts = BTreeMap::new();
    if let (Some(t), Some(s)) = (&r.scope.trace_id, &r.scope.span_id) {
        if let (Ok(trace_id), Ok(span_id)) = (t.parse(), s.parse()) {
            contexts.insert(
                "trace".to_string(),
                sp::Context::Trace(Box::new(sp::TraceContext {
                    trace_id,
                    span_id,
                    ..Default::default()
                })),
            );
        }
    }
    Event {
        level: sp::Level::Error,
        timestamp: r.at,
        message: Some(r.message.clone()),
        exception: vec![Exception {
            ty,
            value: Some(r.message.clone()),
            stacktrace,
            mechanism: Some(Mechanism {
                ty: mechanism.into(),
                handled: Some(true),
                ..Default::default()
            }),
            ..Default::default()
        }]
        .into(),
        user: r.scope.get("user_id").map(|id| User {
            id: Some(id.to_string()),
            ..Default::default()
        }),
        tags: tags.into_iter().collect(),
        extra: extra.into_iter().collect(),
        contexts: contexts.into_iter().collect(),
        ..Default::default()
    }
}
