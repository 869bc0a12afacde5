//! `/health`: status, version, uptime and the counters of every shard,
//! gathered through the mesh at request time.

use shards::ShardStats;

use crate::http::Response;
use crate::shard::Shard;

/// Build the `/health` response.
pub async fn health(shard: &Shard) -> Response {
    let all = shard.gather_stats().await;
    let t = ShardStats::total(&all);
    let status = if shard.global.draining() {
        "draining"
    } else {
        "ok"
    };
    let body = serde_json::json!({
        "status": status,
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_secs": shard.global.started.elapsed().as_secs(),
        "shards": shard.shards(),
        "shards_reporting": all.len(),
        "ready": shard.global.ready(),
        "connections": t.connections,
        "websockets": t.websockets,
        "rooms": t.rooms,
        "http_requests_total": t.http_requests_total,
        "ws_messages_in_total": t.ws_messages_in_total,
        "ws_messages_out_total": t.ws_messages_out_total,
        "slow_consumers_total": t.slow_consumers_total,
    });
    Response::json(200, serde_json::to_vec(&body).unwrap_or_default())
}
