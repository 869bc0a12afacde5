//! The two small layers of the subscriber besides OpenTelemetry's and the log lines'.
//!
//! - [`Gate`]: the one filter. Events pass at `LOG_LEVEL`; spans pass only when telemetry is
//!   on, and only the server's own (targets `engine`, `storage`, `shards`). It answers at
//!   callsite registration (`Interest::always` / `never`), so with telemetry off every span
//!   callsite is disabled once and for all: `info_span!` costs one relaxed load.
//! - [`Fields`]: keeps the few span fields that log lines and error reports repeat (request
//!   id, endpoint, user, room, client) in the span's extensions, and [`context`] gathers them
//!   from a span and its ancestors, nearest first, with the trace and span ids.

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Dispatch, Metadata, Subscriber};
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::{LookupSpan, SpanRef};

use opentelemetry::trace::TraceContextExt;

use crate::config::Level;

/// Span fields kept for log lines and reports: (span field, name in the log line).
pub const CONTEXT_FIELDS: &[(&str, &str)] = &[
    ("http.request.header.x-request-id", "request_id"),
    ("http.route", "endpoint"),
    ("user.id", "user_id"),
    ("roomcore.room", "room"),
    ("client.address", "client"),
];

/// Whether spans of `target` are the server's own.
fn ours(target: &str) -> bool {
    ["engine", "storage", "shards", "roomcore"]
        .iter()
        .any(|p| target.starts_with(p))
}

/// The subscriber's filter: events by level, spans only when telemetry is on.
#[derive(Debug, Clone, Copy)]
pub struct Gate {
    spans: bool,
    level: LevelFilter,
}

impl Gate {
    pub fn new(spans: bool, level: Level) -> Gate {
        let level = match level {
            Level::Error => LevelFilter::ERROR,
            Level::Warn => LevelFilter::WARN,
            Level::Info => LevelFilter::INFO,
            Level::Debug => LevelFilter::DEBUG,
        };
        Gate { spans, level }
    }

    fn allows(&self, m: &Metadata<'_>) -> bool {
        if m.is_span() {
            self.spans && ours(m.target())
        } else {
            self.level >= *m.level()
        }
    }
}

impl<S: Subscriber> Layer<S> for Gate {
    fn register_callsite(&self, m: &'static Metadata<'static>) -> tracing::subscriber::Interest {
        if self.allows(m) {
            tracing::subscriber::Interest::always()
        } else {
            tracing::subscriber::Interest::never()
        }
    }

    fn enabled(&self, m: &Metadata<'_>, _cx: Context<'_, S>) -> bool {
        self.allows(m)
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        Some(if self.spans {
            self.level.max(LevelFilter::INFO)
        } else {
            self.level
        })
    }
}

/// The context fields one span recorded (name in the log line, value).
#[derive(Debug, Default, Clone)]
pub struct SpanFields(pub Vec<(&'static str, String)>);

struct Visitor<'a>(&'a mut SpanFields);

impl Visitor<'_> {
    fn put(&mut self, field: &Field, value: String) {
        if let Some((_, out)) = CONTEXT_FIELDS.iter().find(|(k, _)| *k == field.name()) {
            match self.0 .0.iter_mut().find(|(k, _)| k == out) {
                Some(slot) => slot.1 = value,
                None => self.0 .0.push((out, value)),
            }
        }
    }
}

impl Visit for Visitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, value.to_string());
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, value.to_string());
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, value.to_string());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if CONTEXT_FIELDS.iter().any(|(k, _)| *k == field.name()) {
            self.put(field, format!("{value:?}"));
        }
    }
}

/// Keeps [`SpanFields`] in each span's extensions.
#[derive(Debug, Clone, Copy)]
pub struct Fields;

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Fields {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut f = SpanFields::default();
        attrs.record(&mut Visitor(&mut f));
        if !f.0.is_empty() {
            if let Some(span) = ctx.span(id) {
                span.extensions_mut().insert(f);
            }
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut ext = span.extensions_mut();
        match ext.get_mut::<SpanFields>() {
            Some(f) => values.record(&mut Visitor(f)),
            None => {
                let mut f = SpanFields::default();
                values.record(&mut Visitor(&mut f));
                if !f.0.is_empty() {
                    ext.insert(f);
                }
            }
        }
    }
}

/// What a log line or a report repeats of the spans it happened in.
#[derive(Debug, Default, Clone)]
pub struct Scope {
    pub trace_id: Option<String>,
    pub span_id: Option<String>,
    /// Context fields, nearest span first (each name once).
    pub fields: Vec<(&'static str, String)>,
}

impl Scope {
    /// The value of context field `name` (`request_id`, `endpoint`, `user_id`, `room`, ...).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The trace and span ids of span `id`, and the context fields of it and its ancestors.
pub fn context<'a, R: LookupSpan<'a>>(leaf: SpanRef<'a, R>, dispatch: &Dispatch) -> Scope {
    let mut scope = Scope::default();
    if let Some(cx) = tracing_opentelemetry::get_otel_context(&leaf.id(), dispatch) {
        let sc = cx.span().span_context().clone();
        if sc.is_valid() {
            scope.trace_id = Some(sc.trace_id().to_string());
            scope.span_id = Some(sc.span_id().to_string());
        }
    }
    for span in leaf.scope() {
        let ext = span.extensions();
        if let Some(f) = ext.get::<SpanFields>() {
            for (k, v) in &f.0 {
                if scope.get(k).is_none() {
                    scope.fields.push((k, v.clone()));
                }
            }
        }
    }
    scope
}

/// [`context`] of `span` (a `tracing::Span` handle), through the global subscriber.
pub fn context_of(span: &tracing::Span) -> Scope {
    let Some(id) = span.id() else {
        return Scope::default();
    };
    tracing::dispatcher::get_default(|d| {
        match d
            .downcast_ref::<tracing_subscriber::Registry>()
            .and_then(|r| r.span(&id))
        {
            Some(leaf) => context(leaf, d),
            None => Scope::default(),
        }
    })
}
