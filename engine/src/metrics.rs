//! `GET /metrics`: every shard's series gathered through the mesh at scrape
//! time, plus process-wide ones, rendered as Prometheus text exposition or
//! JSON. Metric names and help texts live here (and in docs/metrics.md).

use std::fmt::Write as _;
use std::rc::Rc;
use std::time::{Duration, Instant};

use crate::msg::ShardMsg;
use shards::metrics::{merge, Sample, Value};

use crate::app::Shard;
use crate::http::Response;

/// (name, type, help) of every metric.
pub const METRICS: &[(&str, &str, &str)] = &[
    (
        "roomcore_active_connections",
        "gauge",
        "Open TCP connections (HTTP and WebSocket).",
    ),
    (
        "roomcore_active_websockets",
        "gauge",
        "Open WebSocket sessions.",
    ),
    ("roomcore_active_rooms", "gauge", "Live relay rooms."),
    ("roomcore_active_games", "gauge", "Live game rooms."),
    (
        "roomcore_connections_total",
        "counter",
        "TCP connections accepted since start.",
    ),
    (
        "roomcore_accept_errors_total",
        "counter",
        "accept() failures (out of file descriptors and the like); the listener backs off 20 ms after each.",
    ),
    (
        "roomcore_connections_rejected_total",
        "counter",
        "Connections or upgrades refused, by reason.",
    ),
    (
        "roomcore_ws_disconnections_total",
        "counter",
        "WebSocket sessions ended, by reason.",
    ),
    (
        "roomcore_ws_messages_received_total",
        "counter",
        "WebSocket frames received, by type.",
    ),
    (
        "roomcore_ws_messages_sent_total",
        "counter",
        "WebSocket frames sent (one per recipient), by type.",
    ),
    (
        "roomcore_ws_message_duration_seconds",
        "histogram",
        "Time to handle one batch of WebSocket frames read together.",
    ),
    (
        "roomcore_slow_consumers_total",
        "counter",
        "WebSockets closed because their outbound queue overflowed.",
    ),
    (
        "roomcore_timeouts_total",
        "counter",
        "Connections closed by a timeout (request head, idle, ping, close).",
    ),
    (
        "roomcore_socket_handoffs_total",
        "counter",
        "Upgraded sockets handed to the shard that owns their room.",
    ),
    (
        "roomcore_http_requests_total",
        "counter",
        "HTTP requests answered, by route and status.",
    ),
    (
        "roomcore_http_request_duration_seconds",
        "histogram",
        "HTTP request handling time, by route.",
    ),
    (
        "roomcore_validation_errors_total",
        "counter",
        "Rejected malformed input, by protocol.",
    ),
    (
        "roomcore_rate_limit_hits_total",
        "counter",
        "Requests or messages refused by a rate limit, by limit.",
    ),
    (
        "roomcore_crashes_total",
        "counter",
        "Panics caught and isolated, by scope.",
    ),
    (
        "roomcore_chaos_injected_total",
        "counter",
        "Faults injected on purpose (CHAOS_*), by kind.",
    ),
    (
        "roomcore_games_created_total",
        "counter",
        "Game rooms created.",
    ),
    (
        "roomcore_game_duration_seconds",
        "histogram",
        "Duration of finished games.",
    ),
    (
        "roomcore_move_validation_errors_total",
        "counter",
        "Illegal or invalid game moves rejected.",
    ),
    (
        "roomcore_game_tick_duration_seconds",
        "histogram",
        "Time one game tick (timers, grace, matchmaking) took on a shard.",
    ),
    (
        "roomcore_shard_loop_lag_seconds",
        "histogram",
        "How late each shard's housekeeping timer fired: time its event loop could not react, by shard.",
    ),
    (
        "roomcore_matches_created_total",
        "counter",
        "Matches formed by the matchmaker.",
    ),
    (
        "roomcore_time_to_match_seconds",
        "histogram",
        "Time from joining a matchmaking queue to a match.",
    ),
    (
        "roomcore_matchmaker_queue_size",
        "gauge",
        "Players waiting in a matchmaking queue, by mode and region.",
    ),
    (
        "roomcore_shutdown_in_progress",
        "gauge",
        "1 while the server drains after SIGTERM/SIGINT.",
    ),
    (
        "roomcore_uptime_seconds",
        "gauge",
        "Seconds since the process started.",
    ),
    ("roomcore_shards", "gauge", "Number of shards."),
    (
        "roomcore_memory_resident_bytes",
        "gauge",
        "Resident memory of the process.",
    ),
    (
        "roomcore_memory_limit_bytes",
        "gauge",
        "Memory limit used for the watermark (0 = none).",
    ),
    (
        "roomcore_memory_watermark_exceeded",
        "gauge",
        "1 while resident memory is above 85% of the limit.",
    ),
    (
        "roomcore_storage_queue_depth",
        "gauge",
        "Commands waiting for the persistence thread.",
    ),
    (
        "roomcore_storage_queue_capacity",
        "gauge",
        "Bound of the persistence queue.",
    ),
    (
        "roomcore_storage_transactions_total",
        "counter",
        "Transactions committed by the persistence thread.",
    ),
    (
        "roomcore_storage_commands_total",
        "counter",
        "Commands handled by the persistence thread.",
    ),
    (
        "roomcore_storage_failed_commits_total",
        "counter",
        "Transactions that failed to commit.",
    ),
    (
        "roomcore_storage_roundtrip_seconds",
        "gauge",
        "Latency of a round trip through the persistence thread, measured at scrape.",
    ),
    (
        "roomcore_storage_up",
        "gauge",
        "1 while the database is reachable and answering (label engine = sqlite or postgres), 0 while it is down, unreachable or stuck.",
    ),
    (
        "roomcore_limits_local_fallback_total",
        "counter",
        "Per-IP limit checks this node decided alone because Redis did not answer.",
    ),
    (
        "roomcore_cluster_redis_up",
        "gauge",
        "Cluster members only: 1 while Redis answers, 0 while it does not (cross-node traffic stops, local rooms go on).",
    ),
    (
        "roomcore_cluster_nodes",
        "gauge",
        "Cluster members only: live nodes in this node's last view.",
    ),
    (
        "roomcore_cluster_messages_total",
        "counter",
        "Cluster members only: cross-node messages, by direction (out = published, in = received from Redis and handed to a shard).",
    ),
    (
        "roomcore_cluster_dropped_total",
        "counter",
        "Cluster members only: cross-node messages dropped (Redis down, a full queue or inbox, malformed).",
    ),
    (
        "roomcore_cluster_leases_lost_total",
        "counter",
        "Cluster members only: times this node found its lease had expired (it gave up its game rooms and queues).",
    ),
    (
        "roomcore_trace_spans_exported_total",
        "counter",
        "Spans the OTLP exporter handed to the collector.",
    ),
    (
        "roomcore_trace_spans_dropped_total",
        "counter",
        "Spans dropped: the exporter's queue was full (collector slow or down) or their export failed.",
    ),
    (
        "roomcore_trace_export_failures_total",
        "counter",
        "OTLP export requests that failed (each drops its batch).",
    ),
    (
        "roomcore_exceptions_total",
        "counter",
        "Exception events recorded on spans, by kind (panic, server_error).",
    ),
    (
        "roomcore_error_reports_sent_total",
        "counter",
        "Error reports handed to Sentry (SENTRY_DSN).",
    ),
    (
        "roomcore_error_reports_dropped_total",
        "counter",
        "Error reports dropped because their queue was full.",
    ),
];

/// Every metric series of this shard (the answer to `ShardMsg::Metrics`).
pub fn collect(shard: &Shard) -> Vec<Sample> {
    let app = &shard.app;
    let mut out = Vec::new();
    app.stats
        .collect(app.relay.len() as u64, &shard.counters, &mut out);
    out.push(Sample::histogram(
        "roomcore_game_tick_duration_seconds",
        &[],
        app.games.tick_hist.snapshot(),
    ));
    out.push(Sample::histogram(
        "roomcore_shard_loop_lag_seconds",
        &[("shard", &shard.id.to_string())],
        shard.loop_lag.snapshot(),
    ));
    out
}

/// Every shard's samples, merged series by series.
pub async fn gather(shard: &Rc<Shard>) -> Vec<Sample> {
    let all: Vec<Sample> = shard
        .call_all(|reply| ShardMsg::Metrics { reply })
        .await
        .into_iter()
        .flatten()
        .collect();
    let mut merged = merge(all);
    merged.extend(process_samples(shard).await);
    merged.sort_by(|a, b| a.name.cmp(b.name).then_with(|| a.labels.cmp(&b.labels)));
    merged
}

async fn process_samples(shard: &Rc<Shard>) -> Vec<Sample> {
    let g = &shard.lifecycle;
    let mem = shard.app.memory.get();
    let st = &shard.app.services.storage;
    let c = st.counters();
    let t = crate::telemetry::counters();
    const R: std::sync::atomic::Ordering = std::sync::atomic::Ordering::Relaxed;
    let t0 = Instant::now();
    let ping = glommio::timer::timeout(Duration::from_secs(1), async { Ok(st.ping().await) }).await;
    let rt = if matches!(ping, Ok(Ok(()))) {
        t0.elapsed().as_secs_f64()
    } else {
        -1.0
    };
    let mut out = vec![
        Sample::gauge(
            "roomcore_shutdown_in_progress",
            &[],
            if g.draining() { 1.0 } else { 0.0 },
        ),
        Sample::gauge(
            "roomcore_uptime_seconds",
            &[],
            g.started.elapsed().as_secs_f64(),
        ),
        Sample::gauge("roomcore_shards", &[], shard.shards() as f64),
        Sample::gauge("roomcore_memory_resident_bytes", &[], mem.rss as f64),
        Sample::gauge("roomcore_memory_limit_bytes", &[], mem.limit as f64),
        Sample::gauge(
            "roomcore_memory_watermark_exceeded",
            &[],
            if mem.over_watermark() { 1.0 } else { 0.0 },
        ),
        Sample::gauge("roomcore_storage_queue_depth", &[], st.queue_depth() as f64),
        Sample::gauge(
            "roomcore_storage_queue_capacity",
            &[],
            st.queue_capacity() as f64,
        ),
        Sample::counter("roomcore_storage_transactions_total", &[], c.rounds),
        Sample::counter("roomcore_storage_commands_total", &[], c.commands),
        Sample::counter(
            "roomcore_storage_failed_commits_total",
            &[],
            c.failed_commits,
        ),
        Sample::gauge("roomcore_storage_roundtrip_seconds", &[], rt),
        Sample::gauge(
            "roomcore_storage_up",
            &[("engine", st.engine().as_str())],
            if st.health().ok { 1.0 } else { 0.0 },
        ),
        Sample::counter(
            "roomcore_trace_spans_exported_total",
            &[],
            t.spans_exported.load(R),
        ),
        Sample::counter(
            "roomcore_trace_spans_dropped_total",
            &[],
            t.spans_dropped.load(R),
        ),
        Sample::counter(
            "roomcore_trace_export_failures_total",
            &[],
            t.export_failures.load(R),
        ),
        Sample::counter(
            "roomcore_exceptions_total",
            &[("kind", "panic")],
            t.exceptions[0].load(R),
        ),
        Sample::counter(
            "roomcore_exceptions_total",
            &[("kind", "server_error")],
            t.exceptions[1].load(R),
        ),
        Sample::counter(
            "roomcore_error_reports_sent_total",
            &[],
            t.reports_sent.load(R),
        ),
        Sample::counter(
            "roomcore_error_reports_dropped_total",
            &[],
            t.reports_dropped.load(R),
        ),
    ];
    if let Some(c) = &shard.app.cluster {
        use std::sync::atomic::Ordering::Relaxed;
        let h = c.cluster.health();
        out.extend([
            Sample::gauge(
                "roomcore_cluster_redis_up",
                &[],
                if c.cluster.redis_up() { 1.0 } else { 0.0 },
            ),
            Sample::gauge("roomcore_cluster_nodes", &[], c.view().nodes.len() as f64),
            Sample::counter(
                "roomcore_cluster_messages_total",
                &[("direction", "out")],
                h.published.load(Relaxed),
            ),
            Sample::counter(
                "roomcore_cluster_messages_total",
                &[("direction", "in")],
                h.received.load(Relaxed),
            ),
            Sample::counter(
                "roomcore_cluster_dropped_total",
                &[],
                h.dropped.load(Relaxed),
            ),
            Sample::counter(
                "roomcore_cluster_leases_lost_total",
                &[],
                h.leases_lost.load(Relaxed),
            ),
        ]);
    }
    out
}

fn fmt_f64(v: f64) -> String {
    if v.is_infinite() {
        if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        }
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

fn escape_label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn labels(ls: &[(&'static str, String)], extra: Option<(&str, &str)>) -> String {
    let mut parts: Vec<String> = ls
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", escape_label(v)))
        .collect();
    if let Some((k, v)) = extra {
        parts.push(format!("{k}=\"{v}\""));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!("{{{}}}", parts.join(","))
    }
}

/// Prometheus text exposition (version 0.0.4).
pub fn render_prometheus(samples: &[Sample]) -> String {
    let mut out = String::with_capacity(8192);
    for (name, kind, help) in METRICS {
        let series: Vec<&Sample> = samples.iter().filter(|s| s.name == *name).collect();
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
        for s in series {
            match &s.value {
                Value::Counter(v) => {
                    let _ = writeln!(out, "{name}{} {v}", labels(&s.labels, None));
                }
                Value::Gauge(v) => {
                    let _ = writeln!(out, "{name}{} {}", labels(&s.labels, None), fmt_f64(*v));
                }
                Value::Histogram(h) => {
                    let mut cum = 0u64;
                    for (i, c) in h.counts.iter().enumerate() {
                        cum += c;
                        let le = h.bounds.get(i).map_or("+Inf".to_string(), |b| fmt_f64(*b));
                        let _ = writeln!(
                            out,
                            "{name}_bucket{} {cum}",
                            labels(&s.labels, Some(("le", &le)))
                        );
                    }
                    let _ = writeln!(
                        out,
                        "{name}_sum{} {}",
                        labels(&s.labels, None),
                        fmt_f64(h.sum)
                    );
                    let _ = writeln!(out, "{name}_count{} {cum}", labels(&s.labels, None));
                }
            }
        }
    }
    out
}

/// The same series as JSON: `{"metrics": [{"name", "type", "help", "series": [...]}]}`.
pub fn render_json(samples: &[Sample]) -> Vec<u8> {
    let metrics: Vec<serde_json::Value> = METRICS
        .iter()
        .map(|(name, kind, help)| {
            let series: Vec<serde_json::Value> = samples
                .iter()
                .filter(|s| s.name == *name)
                .map(|s| {
                    let labels: serde_json::Map<String, serde_json::Value> = s
                        .labels
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.clone().into()))
                        .collect();
                    let value = match &s.value {
                        Value::Counter(v) => serde_json::json!(v),
                        Value::Gauge(v) => serde_json::json!(v),
                        Value::Histogram(h) => serde_json::json!({
                            "bounds": h.bounds,
                            "counts": h.counts,
                            "sum": h.sum,
                            "count": h.count(),
                        }),
                    };
                    serde_json::json!({"labels": labels, "value": value})
                })
                .collect();
            serde_json::json!({"name": name, "type": kind, "help": help, "series": series})
        })
        .collect();
    serde_json::to_vec(&serde_json::json!({ "metrics": metrics })).unwrap_or_default()
}

/// Answer `GET /metrics`.
pub async fn metrics(shard: &Rc<Shard>, accept: Option<&str>) -> Response {
    let samples = gather(shard).await;
    if accept.is_some_and(|a| a.contains("application/json")) {
        Response::json(200, render_json(&samples))
    } else {
        let mut r = Response::json(200, render_prometheus(&samples).into_bytes());
        r.content_type = "text/plain; version=0.0.4; charset=utf-8";
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shards::metrics::Histogram;

    #[test]
    fn renders_every_metric_with_help_and_type() {
        let h = Histogram::latency();
        h.observe(0.002);
        let samples = vec![
            Sample::counter(
                "roomcore_http_requests_total",
                &[("route", "health"), ("status", "200")],
                3,
            ),
            Sample::histogram(
                "roomcore_http_request_duration_seconds",
                &[("route", "health")],
                h.snapshot(),
            ),
            Sample::gauge("roomcore_uptime_seconds", &[], 1.5),
        ];
        let text = render_prometheus(&samples);
        for (name, kind, _) in METRICS {
            assert!(text.contains(&format!("# TYPE {name} {kind}\n")), "{name}");
        }
        assert!(text.contains("roomcore_http_requests_total{route=\"health\",status=\"200\"} 3\n"));
        assert!(text.contains(
            "roomcore_http_request_duration_seconds_bucket{route=\"health\",le=\"0.0025\"} 1\n"
        ));
        assert!(text.contains(
            "roomcore_http_request_duration_seconds_bucket{route=\"health\",le=\"+Inf\"} 1\n"
        ));
        assert!(text.contains("roomcore_http_request_duration_seconds_count{route=\"health\"} 1\n"));
        assert!(text.contains("roomcore_uptime_seconds 1.5\n"));
        let v: serde_json::Value = serde_json::from_slice(&render_json(&samples)).unwrap();
        assert_eq!(v["metrics"].as_array().unwrap().len(), METRICS.len());
    }
}
