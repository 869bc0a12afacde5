//! Distributed tracing (OpenTelemetry, exported as OTLP over HTTP/protobuf) and error reports
//! (exception events on spans, and Sentry when `SENTRY_DSN` is set).
//!
//! Built on `tracing`: spans are `tracing` spans, turned into OpenTelemetry spans by
//! `tracing-opentelemetry`, and every log line written inside one carries its `trace_id` and
//! `span_id` (`crate::log`). With no OTLP endpoint and no Sentry DSN, telemetry is off: the
//! subscriber's gate ([`layer::Gate`]) gives every span callsite `Interest::never`, so a
//! `info_span!` is one relaxed load and `Span::none()`, and nothing else here runs.
//!
//! Threads and queues (never a shard's work): finished spans leave the shard thread through
//! a bounded crossbeam queue to the `otlp-export` thread ([`export`]), which batches and posts
//! them; a full queue or a failed export drops spans, counts them
//! (`roomcore_trace_spans_dropped_total`) and says so in the log at most once per 10 s.
//! Error reports leave through a second bounded queue to the `error-reports` thread
//! ([`report`]), which hands them to Sentry.
//!
//! - [`spans`]: every span the server opens, named and attributed after the semantic
//!   conventions, and the helpers that record on them.
//! - [`context`]: W3C `traceparent`/`tracestate` in and out, and [`context::SpanLink`], a
//!   span context carried in a cross-shard message to link spans.
//! - [`report`]: panics caught by crash isolation and 5xx answers as exception events and
//!   Sentry reports; the panic hook.
//! - [`layer`]: the gate filter and the layer that keeps the context fields of spans (user,
//!   endpoint, request id, room) for log lines and reports.
//! - [`sampler`], [`export`], [`http_client`]: the OpenTelemetry SDK pieces.

pub mod context;
pub mod export;
pub mod http_client;
pub mod layer;
pub mod report;
pub mod sampler;
pub mod spans;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry::KeyValue;
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::Resource;
use tracing_subscriber::layer::SubscriberExt;

use crate::config::{key_values, Config};

pub use context::SpanLink;

/// Whether spans are created at all (an OTLP endpoint or a Sentry DSN is configured).
static ENABLED: AtomicBool = AtomicBool::new(false);

/// Whether telemetry is on: the hot path asks before it touches `Span::current()`.
#[inline]
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// Process-wide telemetry counters (touched by the exporter and reporter threads, and by a
/// shard only when it drops a span or a report).
#[derive(Debug, Default)]
pub struct Counters {
    /// Spans handed to the collector.
    pub spans_exported: AtomicU64,
    /// Spans dropped: the queue was full or the export failed.
    pub spans_dropped: AtomicU64,
    /// Export requests that failed.
    pub export_failures: AtomicU64,
    /// Error reports handed to Sentry.
    pub reports_sent: AtomicU64,
    /// Error reports dropped (their queue was full).
    pub reports_dropped: AtomicU64,
    /// Exception events recorded (panics and 5xx), by kind: [panic, server_error].
    pub exceptions: [AtomicU64; 2],
}

static COUNTERS: OnceLock<Arc<Counters>> = OnceLock::new();

/// The process's telemetry counters (zero when telemetry is off).
pub fn counters() -> &'static Counters {
    COUNTERS.get_or_init(|| Arc::new(Counters::default()))
}

fn counters_arc() -> Arc<Counters> {
    COUNTERS
        .get_or_init(|| Arc::new(Counters::default()))
        .clone()
}

/// What [`init`] started; [`Telemetry::shutdown`] flushes it at exit.
#[derive(Debug, Default)]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
    exporter: Option<export::Exporter>,
    reporter: Option<report::Reporter>,
}

impl Telemetry {
    /// Export what is queued (spans, reports), waiting at most `limit` for each.
    pub fn shutdown(self, limit: Duration) {
        if let Some(p) = &self.provider {
            let _ = p.force_flush();
        }
        if let Some(e) = self.exporter {
            e.close(limit);
        }
        if let Some(r) = self.reporter {
            r.close(limit);
        }
    }
}

/// The resource of every span: `service.name`, `service.version`, `service.instance.id`,
/// `deployment.environment.name`, then `OTEL_RESOURCE_ATTRIBUTES` (which may override all
/// but `service.name`: `OTEL_SERVICE_NAME` wins, as the specification says).
pub fn resource(cfg: &crate::config::TelemetryArgs) -> Resource {
    let mut attrs = vec![
        KeyValue::new("service.version", env!("CARGO_PKG_VERSION")),
        KeyValue::new("service.instance.id", instance_id()),
        KeyValue::new(
            "deployment.environment.name",
            cfg.sentry_environment.clone(),
        ),
    ];
    for (k, v) in key_values(&cfg.resource_attributes).unwrap_or_default() {
        if k != "service.name" {
            attrs.retain(|a| a.key.as_str() != k);
            attrs.push(KeyValue::new(k, v));
        }
    }
    Resource::builder_empty()
        .with_service_name(cfg.service_name.clone())
        .with_attributes(attrs)
        .build()
}

/// A random id for this process run (`service.instance.id`).
fn instance_id() -> String {
    let mut b = [0u8; 8];
    let _ = getrandom::getrandom(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Install the subscriber (log lines, and spans when telemetry is on), the panic hook and
/// the exporter and reporter threads. Call once, before the shards start.
pub fn init(config: &Config) -> Result<Telemetry, String> {
    let obs = &config.observability;
    let cfg = &config.telemetry;
    let service: &'static str = Box::leak(cfg.service_name.clone().into_boxed_str());
    let lines = crate::log::LineLayer::new(obs.log_format, service);
    if !cfg.enabled() {
        crate::log::install(layer::Gate::new(false, obs.log_level), lines);
        return Ok(Telemetry::default());
    }
    let counters = counters_arc();
    let resource = resource(cfg);
    let mut builder = SdkTracerProvider::builder()
        .with_sampler(sampler::LinkAware::from_config(cfg))
        .with_resource(resource.clone());
    let mut exporter = None;
    if let Some(url) = cfg.traces_url() {
        let (processor, ex) = export::start(cfg, &url, resource, counters.clone())?;
        builder = builder.with_span_processor(processor);
        exporter = Some(ex);
    }
    let provider = builder.build();
    let tracer = provider.tracer("roomcore");
    let otel = tracing_opentelemetry::layer()
        .with_tracer(tracer)
        .with_location(false)
        .with_threads(false)
        .with_target(false)
        .with_tracked_inactivity(false)
        .with_context_activation(false)
        .with_error_fields_to_exceptions(false)
        .with_error_records_to_exceptions(false)
        .with_error_events_to_exceptions(false)
        .with_error_events_to_status(false);
    let reporter = if cfg.sentry_dsn.is_empty() {
        None
    } else {
        Some(report::Reporter::start(cfg, counters)?)
    };
    let subscriber = tracing_subscriber::registry()
        .with(layer::Gate::new(true, obs.log_level))
        .with(otel)
        .with(layer::Fields)
        .with(lines);
    tracing::subscriber::set_global_default(subscriber)
        .map_err(|e| format!("cannot install the tracing subscriber: {e}"))?;
    ENABLED.store(true, Ordering::Relaxed);
    report::install_panic_hook(reporter.as_ref().map(report::Reporter::queue));
    Ok(Telemetry {
        provider: Some(provider),
        exporter,
        reporter,
    })
}
