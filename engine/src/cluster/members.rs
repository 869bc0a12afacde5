//! Who is in the cluster: the nodes holding a live lease, and rendezvous (highest random
//! weight) hashing of a key over them.
//!
//! Every node renews its lease with one Lua script ([`HEARTBEAT`]) that also drops expired
//! leases and returns the live nodes, all by Redis's clock, so nodes never compare their own
//! clocks. A node whose own lease had expired when it renewed (it was paused, or cut off from
//! Redis, for longer than the lease) learns it from the script's `lost` answer: other nodes
//! may have taken its rooms and queues over, so it must give them up.

use shards::routing::fnv1a;

/// `KEYS[1]` = the node set (`rc:nodes`, a sorted set of node id → lease expiry in ms);
/// `ARGV` = id, public URL, lease ms, whether this node registered before (`1`/`0`), a
/// fresh boot id. Returns `{lost, now_ms, boot, id1, url1, id2, url2, ...}`: `boot` names the
/// Redis dataset (set by the first heartbeat after Redis started empty), so a node tells a
/// lease that expired from a Redis that lost everything.
pub const HEARTBEAT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local boot = redis.call('GET', 'rc:boot')
if not boot then
  boot = ARGV[5]
  redis.call('SET', 'rc:boot', boot)
end
local prev = redis.call('ZSCORE', KEYS[1], ARGV[1])
local lost = 0
if prev then
  if tonumber(prev) < now then lost = 1 end
elseif ARGV[4] == '1' then
  lost = 1
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
redis.call('HSET', 'rc:node:' .. ARGV[1], 'url', ARGV[2])
redis.call('PEXPIRE', 'rc:node:' .. ARGV[1], tonumber(ARGV[3]) * 2)
local out = {lost, now, boot}
for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  table.insert(out, id)
  table.insert(out, redis.call('HGET', 'rc:node:' .. id, 'url') or '')
end
return out
";

/// `KEYS[1]` = the node set; `ARGV` = id. A node leaving on purpose (the end of a drain):
/// its lease and the leases of the queues it serves are given back at once.
pub const LEAVE: &str = r"
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('DEL', 'rc:node:' .. ARGV[1])
for _, q in ipairs(redis.call('SMEMBERS', 'rc:mmqueues')) do
  if redis.call('GET', 'rc:mmq:' .. q) == ARGV[1] then redis.call('DEL', 'rc:mmq:' .. q) end
end
return 1
";

/// The key of the node set.
pub const NODES_KEY: &str = "rc:nodes";

/// One live node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub id: String,
    /// The base URL clients reach it at.
    pub url: String,
}

/// The live nodes as this node last saw them (sorted by id), and which one it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Membership {
    pub me: String,
    pub nodes: Vec<Node>,
}

/// The rendezvous weight of `node` for `key`.
fn weight(key: &str, node: &str) -> u64 {
    let mut b = Vec::with_capacity(key.len() + node.len() + 1);
    b.extend_from_slice(key.as_bytes());
    b.push(0);
    b.extend_from_slice(node.as_bytes());
    // FNV-1a then a final mix, so near ids spread.
    let mut h = fnv1a(&b);
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h
}

impl Membership {
    /// Whether `id` holds a live lease.
    pub fn is_live(&self, id: &str) -> bool {
        self.nodes.iter().any(|n| n.id == id)
    }

    /// The node `id`, if live.
    pub fn node(&self, id: &str) -> Option<&Node> {
        self.nodes.iter().find(|n| n.id == id)
    }

    /// The live nodes in `key`'s rendezvous order (the first is its owner).
    pub fn order(&self, key: &str) -> Vec<&Node> {
        let mut v: Vec<&Node> = self.nodes.iter().collect();
        v.sort_by_key(|n| std::cmp::Reverse(weight(key, &n.id)));
        v
    }

    /// The live node that owns `key` by rendezvous hashing (this node when alone).
    pub fn owner(&self, key: &str) -> &str {
        self.order(key)
            .first()
            .map_or(self.me.as_str(), |n| n.id.as_str())
    }

    /// Another live node than this one (for `reconnect_url` on a drain), the one `key`
    /// would move to.
    pub fn other(&self, key: &str) -> Option<&Node> {
        self.order(key).into_iter().find(|n| n.id != self.me)
    }

    /// Parse the heartbeat script's answer: (lost, boot id, membership).
    pub fn from_heartbeat(me: &str, v: &[redis::Value]) -> Option<(bool, String, Membership)> {
        let int = |x: &redis::Value| match x {
            redis::Value::Int(i) => Some(*i),
            _ => None,
        };
        let text = |x: &redis::Value| match x {
            redis::Value::BulkString(b) => String::from_utf8(b.clone()).ok(),
            redis::Value::SimpleString(s) => Some(s.clone()),
            _ => None,
        };
        let lost = int(v.first()?)? != 0;
        int(v.get(1)?)?;
        let boot = text(v.get(2)?)?;
        let mut nodes: Vec<Node> = v[3..]
            .chunks(2)
            .filter_map(|p| {
                Some(Node {
                    id: text(p.first()?)?,
                    url: text(p.get(1)?).unwrap_or_default(),
                })
            })
            .collect();
        nodes.sort_by(|a, b| a.id.cmp(&b.id));
        Some((
            lost,
            boot,
            Membership {
                me: me.to_string(),
                nodes,
            },
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(ids: &[&str]) -> Membership {
        Membership {
            me: ids[0].into(),
            nodes: ids
                .iter()
                .map(|i| Node {
                    id: i.to_string(),
                    url: format!("http://{i}"),
                })
                .collect(),
        }
    }

    #[test]
    fn rendezvous_moves_only_what_a_leaving_node_owned() {
        let three = m(&["a", "b", "c"]);
        let four = m(&["a", "b", "c", "d"]);
        let two = m(&["a", "c"]);
        let mut moved_on_join = 0;
        for k in 0..1000 {
            let key = format!("room-{k}");
            let o3 = three.owner(&key);
            // A node leaving: keys of the others stay; its keys go to the next in order.
            if o3 != "b" {
                assert_eq!(two.owner(&key), o3);
            } else {
                assert_eq!(two.owner(&key), three.order(&key)[1].id);
            }
            let o4 = four.owner(&key);
            if o4 != o3 {
                assert_eq!(o4, "d", "a join moves keys only to the new node");
                moved_on_join += 1;
            }
        }
        assert!((150..350).contains(&moved_on_join), "{moved_on_join}");
        assert_eq!(m(&["x"]).owner("anything"), "x");
        assert_eq!(three.other("k").map(|n| n.id != "a"), Some(true));
    }

    #[test]
    fn heartbeat_answers_parse() {
        use redis::Value::{BulkString, Int};
        let v = vec![
            Int(0),
            Int(1_000),
            BulkString(b"boot-1".to_vec()),
            BulkString(b"b".to_vec()),
            BulkString(b"http://b".to_vec()),
            BulkString(b"a".to_vec()),
            BulkString(b"http://a".to_vec()),
        ];
        let (lost, boot, mem) = Membership::from_heartbeat("a", &v).unwrap();
        assert!(!lost);
        assert_eq!(boot, "boot-1");
        assert_eq!(mem.nodes[0].id, "a");
        assert!(mem.is_live("b") && !mem.is_live("c"));
    }
}
