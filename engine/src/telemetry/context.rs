//! Trace context in and out of the process, and between shards.
//!
//! - In: W3C `traceparent` / `tracestate` (HTTP request headers, WebSocket upgrades, and the
//!   optional `traceparent` field of a typed-protocol message), parsed by the SDK's
//!   `TraceContextPropagator`. A malformed value is ignored, as the W3C specification asks:
//!   the request starts a trace of its own.
//! - Out: the `traceresponse` header (W3C Trace Context level 2:
//!   `00-<trace id>-<span id>-<flags>`) names the request's trace and span.
//! - Between shards and across time: a [`SpanLink`] is a span's context in a message or a
//!   queued ticket (8 bytes when empty); the receiving side links to it or makes it a parent.

use opentelemetry::propagation::{Extractor, TextMapPropagator};
use opentelemetry::trace::{SpanContext, TraceContextExt};
use opentelemetry::Context;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The `traceparent` and `tracestate` values of a request or message.
struct Pair<'a> {
    traceparent: &'a str,
    tracestate: Option<&'a str>,
}

impl Extractor for Pair<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        match key {
            "traceparent" => Some(self.traceparent),
            "tracestate" => self.tracestate,
            _ => None,
        }
    }

    fn keys(&self) -> Vec<&str> {
        vec!["traceparent", "tracestate"]
    }
}

/// The remote parent a `traceparent` (and `tracestate`) names, or `None` when it is
/// missing or malformed.
pub fn extract(traceparent: Option<&str>, tracestate: Option<&str>) -> Option<Context> {
    let traceparent = traceparent?;
    let cx = TraceContextPropagator::new().extract(&Pair {
        traceparent,
        tracestate,
    });
    cx.span().span_context().is_valid().then_some(cx)
}

/// The span context of `span` (starting it in OpenTelemetry if it was not yet); `None` when
/// telemetry is off or the span is disabled.
pub fn span_context(span: &Span) -> Option<SpanContext> {
    if !super::enabled() || span.is_disabled() {
        return None;
    }
    let sc = span.context().span().span_context().clone();
    sc.is_valid().then_some(sc)
}

/// `00-<trace id>-<span id>-<flags>` of `span`.
pub fn traceparent_of(span: &Span) -> Option<String> {
    span_context(span).map(|sc| {
        format!(
            "00-{}-{}-{:02x}",
            sc.trace_id(),
            sc.span_id(),
            sc.trace_flags().to_u8()
        )
    })
}

/// A span context carried in a cross-shard message or a queued ticket, to link a later span
/// to it or to make it that span's parent. Empty when telemetry is off or nothing was traced.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SpanLink(Option<Box<SpanContext>>);

impl SpanLink {
    /// The context of `span`.
    pub fn of(span: &Span) -> SpanLink {
        SpanLink(span_context(span).map(Box::new))
    }

    /// The context of the current span.
    pub fn current() -> SpanLink {
        if !super::enabled() {
            return SpanLink::default();
        }
        SpanLink::of(&Span::current())
    }

    pub fn is_some(&self) -> bool {
        self.0.is_some()
    }

    /// The carried context.
    pub fn get(&self) -> Option<&SpanContext> {
        self.0.as_deref()
    }

    /// Add a link from `span` to the carried context.
    pub fn link_from(&self, span: &Span) {
        if let Some(sc) = &self.0 {
            span.add_link((**sc).clone());
        }
    }

    /// Make the carried context the parent of `span` (before `span` started).
    pub fn parent_of(&self, span: &Span) {
        if let Some(sc) = &self.0 {
            let _ = span.set_parent(Context::new().with_remote_span_context((**sc).clone()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clipping_keeps_char_boundaries() {
        use crate::telemetry::spans::clip;
        assert_eq!(clip("abc", 8), "abc");
        assert_eq!(clip("abcdef", 3), "abc");
        assert_eq!(clip("aé", 2), "a");
    }

    #[test]
    fn traceparents_are_parsed_or_ignored() {
        let cx = extract(
            Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
            Some("vendor=x"),
        )
        .expect("valid");
        let sc = cx.span().span_context().clone();
        assert_eq!(
            sc.trace_id().to_string(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        assert_eq!(sc.span_id().to_string(), "00f067aa0ba902b7");
        assert!(sc.is_sampled() && sc.is_remote());
        assert_eq!(sc.trace_state().get("vendor"), Some("x"));
        for bad in [
            "",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "zz-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
        ] {
            assert!(extract(Some(bad), None).is_none(), "{bad}");
        }
        assert!(extract(None, Some("a=b")).is_none());
    }
}
