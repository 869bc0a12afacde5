//! Finished spans off the shard threads: [`QueueProcessor`] (the SDK's span processor) pushes
//! each span into a bounded crossbeam queue with `try_send`, never waiting; the `otlp-export`
//! thread drains it into batches of at most `OTEL_BSP_MAX_EXPORT_BATCH_SIZE`, waits at most
//! `OTEL_BSP_SCHEDULE_DELAY` for a batch to fill, and posts it with the OTLP/HTTP exporter of
//! `opentelemetry-otlp` (protobuf, over [`super::http_client::Ureq`]).
//!
//! A full queue (the collector is slow or down and the queue backed up) drops the span; a
//! failed export drops its batch. Both are counted in
//! [`super::Counters::spans_dropped`] (`roomcore_trace_spans_dropped_total`), and the thread
//! logs one line at most every 10 s saying how many were dropped and why. The shards never
//! notice: nothing here blocks them, and memory stays bounded by the queue.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TrySendError};
use opentelemetry::Context;
use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{Span, SpanData, SpanExporter, SpanProcessor};
use opentelemetry_sdk::Resource;

use super::http_client::Ureq;
use super::Counters;
use crate::config::{key_values, TelemetryArgs};

/// At most one "spans dropped" line per this long.
const LOG_EVERY: Duration = Duration::from_secs(10);

/// What travels on the queue.
enum Msg {
    Span(Box<SpanData>),
    /// Export everything queued before this, then answer.
    Flush(crossbeam_channel::Sender<()>),
}

/// The SDK span processor: a non-blocking push onto the exporter's queue.
#[derive(Debug)]
pub struct QueueProcessor {
    tx: Sender<Msg>,
    counters: Arc<Counters>,
}

impl std::fmt::Debug for Msg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Msg")
    }
}

impl SpanProcessor for QueueProcessor {
    fn on_start(&self, _span: &mut Span, _cx: &Context) {}

    fn on_end(&self, span: SpanData) {
        if let Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) =
            self.tx.try_send(Msg::Span(Box::new(span)))
        {
            self.counters.spans_dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }

    fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
        Ok(())
    }
}

/// The exporter thread, as [`super::Telemetry`] holds it.
#[derive(Debug)]
pub struct Exporter {
    tx: Sender<Msg>,
    thread: JoinHandle<()>,
}

impl Exporter {
    /// Export what is queued, waiting at most `limit`; the thread goes on until exit.
    pub fn close(self, limit: Duration) {
        let deadline = Instant::now() + limit;
        let (done, wait) = crossbeam_channel::bounded(1);
        if self.tx.send_timeout(Msg::Flush(done), limit).is_ok() {
            let _ = wait.recv_timeout(deadline.saturating_duration_since(Instant::now()));
        }
        drop(self.thread);
    }
}

/// Build the OTLP exporter for `url` and start its thread.
pub fn start(
    cfg: &TelemetryArgs,
    url: &str,
    resource: Resource,
    counters: Arc<Counters>,
) -> Result<(QueueProcessor, Exporter), String> {
    let headers: HashMap<String, String> = key_values(&cfg.otlp_headers)?.into_iter().collect();
    let mut exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_http_client(Ureq::new(cfg.otlp_timeout))
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(url)
        .with_timeout(cfg.otlp_timeout)
        .with_headers(headers)
        .build()
        .map_err(|e| format!("cannot build the OTLP exporter for {url}: {e}"))?;
    exporter.set_resource(&resource);
    let (tx, rx) = crossbeam_channel::bounded(cfg.trace_queue_size);
    let batch = cfg.trace_batch_size;
    let delay = cfg.trace_export_delay;
    let c = counters.clone();
    let target = url.to_string();
    let thread = std::thread::Builder::new()
        .name("otlp-export".into())
        .spawn(move || run(exporter, rx, batch, delay, c, target))
        .map_err(|e| format!("cannot start the OTLP exporter thread: {e}"))?;
    Ok((
        QueueProcessor {
            tx: tx.clone(),
            counters,
        },
        Exporter { tx, thread },
    ))
}

/// Drop accounting for the log: what was dropped since the last line, and why.
struct DropLog {
    last: Option<Instant>,
    reported: u64,
    last_error: Option<String>,
}

impl DropLog {
    fn tick(&mut self, counters: &Counters, target: &str) {
        let dropped = counters.spans_dropped.load(Ordering::Relaxed);
        if dropped == self.reported || self.last.is_some_and(|t| t.elapsed() < LOG_EVERY) {
            return;
        }
        let since = dropped - self.reported;
        let why = self
            .last_error
            .take()
            .unwrap_or_else(|| "the span queue was full (the collector is slow)".into());
        log!(
            Warn,
            "trace spans dropped",
            dropped = since,
            dropped_total = dropped,
            endpoint = target,
            reason = why
        );
        self.reported = dropped;
        self.last = Some(Instant::now());
    }
}

fn run(
    exporter: opentelemetry_otlp::SpanExporter,
    rx: Receiver<Msg>,
    batch_max: usize,
    delay: Duration,
    counters: Arc<Counters>,
    target: String,
) {
    let mut batch: Vec<SpanData> = Vec::with_capacity(batch_max);
    let mut drops = DropLog {
        last: None,
        reported: 0,
        last_error: None,
    };
    let mut first_at: Option<Instant> = None;
    loop {
        let wait = match first_at {
            Some(t) => delay.saturating_sub(t.elapsed()),
            None => delay,
        };
        let mut flush = None;
        match rx.recv_timeout(wait) {
            Ok(Msg::Span(s)) => {
                batch.push(*s);
                first_at.get_or_insert_with(Instant::now);
            }
            Ok(Msg::Flush(done)) => flush = Some(done),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => {
                send(&exporter, &mut batch, &counters, &mut drops);
                return;
            }
        }
        let due = first_at.is_some_and(|t| t.elapsed() >= delay);
        if batch.len() >= batch_max || due || flush.is_some() {
            send(&exporter, &mut batch, &counters, &mut drops);
            first_at = None;
            if let Some(done) = flush {
                // everything queued before the flush
                while let Ok(Msg::Span(s)) = rx.try_recv() {
                    batch.push(*s);
                    if batch.len() >= batch_max {
                        send(&exporter, &mut batch, &counters, &mut drops);
                    }
                }
                send(&exporter, &mut batch, &counters, &mut drops);
                let _ = done.send(());
            }
        }
        drops.tick(&counters, &target);
    }
}

/// Post one batch; a failure drops it (counted).
fn send(
    exporter: &opentelemetry_otlp::SpanExporter,
    batch: &mut Vec<SpanData>,
    counters: &Counters,
    drops: &mut DropLog,
) {
    if batch.is_empty() {
        return;
    }
    let spans = std::mem::take(batch);
    let n = spans.len() as u64;
    match futures_lite::future::block_on(exporter.export(spans)) {
        Ok(()) => {
            counters.spans_exported.fetch_add(n, Ordering::Relaxed);
        }
        Err(e) => {
            counters.export_failures.fetch_add(1, Ordering::Relaxed);
            counters.spans_dropped.fetch_add(n, Ordering::Relaxed);
            drops.last_error = Some(format!("export failed: {e}"));
        }
    }
}
