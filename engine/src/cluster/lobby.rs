//! The room list across nodes: each shard of each node writes the summaries of its game rooms
//! to Redis every second (`rc:summ:{node}`, one field per shard, expiring after a few
//! seconds), and `list_rooms` on any node adds those of the other live nodes to its own. A
//! list seen through another node is at most about a second old; without Redis a node lists
//! its own rooms.

use redis::Value;

use super::Cluster;
use crate::game::views::RoomSummary;

/// How often a shard writes its summaries, and how long they live (ms).
pub const EVERY_MS: u64 = 1_000;
const TTL_MS: u64 = 4_000;

/// `KEYS[1]` = `rc:summ:{node}`; `ARGV` = shard, JSON, TTL ms.
const WRITE: &str = r"
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
";

/// `ARGV` = this node. The summaries of every other live node, one JSON list per shard.
const READ: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local out = {}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', 'rc:nodes', now, '+inf')) do
  if id ~= ARGV[1] then
    for _, v in ipairs(redis.call('HVALS', 'rc:summ:' .. id)) do out[#out + 1] = v end
  end
end
return out
";

fn key(node: &str) -> String {
    format!("rc:summ:{node}")
}

/// Write shard `shard`'s summaries (fire and forget).
pub fn write(c: &Cluster, shard: usize, rooms: &[RoomSummary]) {
    let json = serde_json::to_vec(rooms).unwrap_or_default();
    c.eval_detached(
        WRITE,
        vec![key(c.node_id())],
        vec![
            shard.to_string().into_bytes(),
            json,
            TTL_MS.to_string().into_bytes(),
        ],
    );
}

/// The other live nodes' summaries (empty when Redis does not answer).
pub async fn others(c: &Cluster) -> Vec<RoomSummary> {
    let Some(Value::Array(lists)) = c
        .eval(READ, vec![], vec![c.node_id().as_bytes().to_vec()])
        .await
    else {
        return Vec::new();
    };
    lists
        .iter()
        .filter_map(|v| match v {
            Value::BulkString(b) => serde_json::from_slice::<Vec<RoomSummary>>(b).ok(),
            _ => None,
        })
        .flatten()
        .collect()
}
