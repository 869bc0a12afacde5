//! `/health`: status, version, uptime and the counters of every shard (this
//! one's read directly, the others' gathered through the mesh at request
//! time), plus the storage check: which
//! engine (`sqlite` / `postgres`), whether the database is reachable
//! (`Storage::health`, with the reason when not), a round trip through the
//! persistence thread (with its latency) and the depth of its queue. A failed
//! storage check answers 503 `degraded`.

use std::rc::Rc;
use std::time::{Duration, Instant};

use crate::stats::ShardStats;

use crate::app::Shard;
use crate::http::response::push_decimal;
use crate::http::Response;

/// Longest wait for the storage round trip.
pub const STORAGE_CHECK_TIMEOUT: Duration = Duration::from_secs(1);

/// How long a storage check result is reused before `/health` runs a new one.
pub const STORAGE_CHECK_MAX_AGE: Duration = Duration::from_secs(1);

/// Round trip through the persistence thread: whether storage is healthy, and its JSON
/// report appended to `body`.
///
/// Results are cached per shard for [`STORAGE_CHECK_MAX_AGE`], so a load
/// balancer hammering `/health` does not turn into one SQLite round trip per
/// request; the report says how old the check is.
async fn storage_check(shard: &Rc<Shard>, now: Instant) -> (bool, StorageReport) {
    let fresh = shard
        .app
        .storage_check
        .borrow()
        .as_ref()
        .filter(|(at, _, _)| now.saturating_duration_since(*at) < STORAGE_CHECK_MAX_AGE)
        .map(|(at, ok, r)| (*at, *ok, Rc::clone(r)));
    let (at, ok, rendered, now) = match fresh {
        Some((at, ok, r)) => (at, ok, r, now),
        None => {
            let (ok, v) = run_storage_check(shard).await;
            // Rendered once per check; requests only splice in the age.
            let mut r = serde_json::to_string(&v).unwrap_or_else(|_| "{}".into());
            r.pop();
            let r: Rc<str> = r.into();
            let now = Instant::now();
            *shard.app.storage_check.borrow_mut() = Some((now, ok, Rc::clone(&r)));
            (now, ok, r, now)
        }
    };
    let age_ms = now.saturating_duration_since(at).as_millis() as u64;
    (ok, StorageReport { rendered, age_ms })
}

/// A storage check's report: the cached JSON object without its closing brace, and its age.
struct StorageReport {
    rendered: Rc<str>,
    age_ms: u64,
}

impl StorageReport {
    /// Append the report as a JSON object.
    fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.rendered.as_bytes());
        if self.rendered.len() > 1 {
            out.push(b',');
        }
        out.extend_from_slice(b"\"checked_ms_ago\":");
        push_decimal(out, self.age_ms);
        out.push(b'}');
    }
}

async fn run_storage_check(shard: &Rc<Shard>) -> (bool, serde_json::Value) {
    let st = &shard.app.services.storage;
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
    // Read after the round trip: a ping that just failed on a lost connection has marked
    // the database down by now.
    let health = st.health();
    let ok = error.is_none() && health.ok;
    let reason = health.reason.or_else(|| error.clone());
    let c = st.counters();
    let report = serde_json::json!({
        "ok": ok,
        "engine": st.engine().as_str(),
        "reason": reason,
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
    (ok, report)
}

/// Append `,"name":value`.
fn field(body: &mut Vec<u8>, name: &str, value: u64) {
    body.extend_from_slice(b",\"");
    body.extend_from_slice(name.as_bytes());
    body.extend_from_slice(b"\":");
    push_decimal(body, value);
}

/// This shard's counters (the answer to `ShardMsg::Stats`).
pub fn snapshot(shard: &Shard) -> ShardStats {
    shard
        .app
        .stats
        .snapshot(shard.id, shard.app.relay.len() as u64, &shard.counters)
}

/// Build the `/health` response to a request that arrived at `now` (the connection's clock
/// read: uptime and the storage check's age need no clock read of their own).
pub async fn health(shard: &Rc<Shard>, now: Instant) -> Response {
    // This shard's counters directly, the others' through the mesh.
    let others = shard
        .call_others(|reply| crate::msg::ShardMsg::Stats { reply })
        .await;
    let reporting = others.len() + 1;
    let t = ShardStats::total(&others).plus(&snapshot(shard));
    let (storage_ok, storage) = storage_check(shard, now).await;
    let status = if shard.lifecycle.draining() {
        "draining"
    } else if !storage_ok {
        "degraded"
    } else {
        "ok"
    };
    // Plain byte pushes, no `fmt`: /health is polled hard by load balancers.
    let mut body = Vec::with_capacity(440 + storage.rendered.len());
    body.extend_from_slice(b"{\"status\":\"");
    body.extend_from_slice(status.as_bytes());
    body.extend_from_slice(b"\",\"version\":\"");
    body.extend_from_slice(env!("CARGO_PKG_VERSION").as_bytes());
    body.push(b'"');
    field(
        &mut body,
        "uptime_secs",
        now.saturating_duration_since(shard.lifecycle.started)
            .as_secs(),
    );
    field(&mut body, "shards", shard.shards() as u64);
    field(&mut body, "shard", shard.id as u64);
    field(&mut body, "shards_reporting", reporting as u64);
    body.extend_from_slice(if shard.app.global.ready() {
        b",\"ready\":true".as_slice()
    } else {
        b",\"ready\":false".as_slice()
    });
    field(&mut body, "connections", t.connections);
    field(&mut body, "websockets", t.websockets);
    field(&mut body, "rooms", t.rooms);
    field(&mut body, "http_requests_total", t.http_requests_total);
    field(&mut body, "ws_messages_in_total", t.ws_messages_in_total);
    field(&mut body, "ws_messages_out_total", t.ws_messages_out_total);
    field(&mut body, "slow_consumers_total", t.slow_consumers_total);
    if let Some(c) = &shard.app.cluster {
        body.extend_from_slice(b",");
        body.extend_from_slice(&cluster_report(c));
    }
    body.extend_from_slice(b",\"storage\":");
    storage.write(&mut body);
    body.push(b'}');
    let code = if storage_ok { 200 } else { 503 };
    Response::json(code, body)
}

/// `"redis":bool,"cluster":{...}` of a cluster member: whether Redis answers, this node, the
/// live nodes it sees, and the cross-node counters. A node without Redis still serves its
/// local rooms: the status does not change, the alert `RoomcoreRedisDown` fires.
fn cluster_report(c: &crate::cluster::shard::ClusterShard) -> Vec<u8> {
    use std::sync::atomic::Ordering::Relaxed;
    let h = c.cluster.health();
    let view = c.view();
    let nodes: Vec<serde_json::Value> = view
        .nodes
        .iter()
        .map(|n| serde_json::json!({"id": n.id, "url": n.url}))
        .collect();
    let up = c.cluster.redis_up();
    let v = serde_json::json!({
        "node": c.cluster.node_id(),
        "public_url": c.cluster.public_url(),
        "redis": up,
        "nodes": nodes,
        "published_total": h.published.load(Relaxed),
        "received_total": h.received.load(Relaxed),
        "dropped_total": h.dropped.load(Relaxed),
        "leases_lost_total": h.leases_lost.load(Relaxed),
        "queues": &**c.queues.borrow(),
    });
    let mut out = if up {
        b"\"redis\":true,\"cluster\":".to_vec()
    } else {
        b"\"redis\":false,\"cluster\":".to_vec()
    };
    out.extend_from_slice(&serde_json::to_vec(&v).unwrap_or_default());
    out
}
