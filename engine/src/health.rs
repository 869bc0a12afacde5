//! `/health`: status, version, uptime and the counters of every shard,
//! gathered through the mesh at request time, plus the storage check: a
//! round trip through the persistence thread (with its latency) and the
//! depth of its queue. A failed storage check answers 503 `degraded`.

use std::time::{Duration, Instant};

use shards::ShardStats;

use crate::http::Response;
use crate::shard::Shard;

/// Longest wait for the storage round trip.
pub const STORAGE_CHECK_TIMEOUT: Duration = Duration::from_secs(1);

/// Round trip through the persistence thread: (ok, JSON report).
async fn storage_check(shard: &Shard) -> (bool, serde_json::Value) {
    let st = &shard.services.storage;
    let start = Instant::now();
    let res = glommio::timer::timeout(STORAGE_CHECK_TIMEOUT, async { Ok(st.ping().await) }).await;
    let latency_ms = start.elapsed().as_secs_f64() * 1000.0;
    let error = match res {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(e.to_string()),
        Err(_) => Some(format!(
            "no answer within {} ms",
            STORAGE_CHECK_TIMEOUT.as_millis()
        )),
    };
    let c = st.counters();
    let report = serde_json::json!({
        "ok": error.is_none(),
        "error": error,
        "latency_ms": (latency_ms * 1000.0).round() / 1000.0,
        "queue_depth": st.queue_depth(),
        "queue_capacity": st.queue_capacity(),
        "synchronous": format!("{:?}", st.config().synchronous).to_lowercase(),
        "batch_max": st.config().batch_max,
        "transactions_total": c.rounds,
        "commands_total": c.commands,
        "max_batch": c.max_batch,
        "failed_commits_total": c.failed_commits,
    });
    (error.is_none(), report)
}

/// Build the `/health` response.
pub async fn health(shard: &Shard) -> Response {
    let all = shard.gather_stats().await;
    let t = ShardStats::total(&all);
    let (storage_ok, storage) = storage_check(shard).await;
    let status = if shard.global.draining() {
        "draining"
    } else if !storage_ok {
        "degraded"
    } else {
        "ok"
    };
    let body = serde_json::json!({
        "status": status,
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_secs": shard.global.started.elapsed().as_secs(),
        "shards": shard.shards(),
        "shard": shard.id,
        "shards_reporting": all.len(),
        "ready": shard.global.ready(),
        "connections": t.connections,
        "websockets": t.websockets,
        "rooms": t.rooms,
        "http_requests_total": t.http_requests_total,
        "ws_messages_in_total": t.ws_messages_in_total,
        "ws_messages_out_total": t.ws_messages_out_total,
        "slow_consumers_total": t.slow_consumers_total,
        "storage": storage,
    });
    let code = if storage_ok { 200 } else { 503 };
    Response::json(code, serde_json::to_vec(&body).unwrap_or_default())
}
