//! Per-IP limits across the cluster, in Redis: WebSocket counts and one-minute rate windows.
//!
//! A client IP's WebSocket count is a hash `rc:ipc:{ip}` with one field per (node, shard)
//! that holds slots of it; an acquire adds one to its field only when the fields of live
//! nodes add up to less than the limit (one Lua script, so two nodes cannot both take the
//! last slot), a release takes one off. Fields of nodes without a live lease do not count and
//! are dropped. Every few seconds each shard writes its true counts over its fields, which
//! heals what a Redis outage left behind. A rate window is a counter per (class, IP) that
//! expires a minute after its first event. The engine's `limits` falls back to the local,
//! per-node limits whenever Redis does not answer.

use futures_channel::oneshot;

/// `KEYS[1]` = `rc:ipc:{ip}`; `ARGV` = field (`node|shard`), max. Returns 1 (taken) or 0.
pub const ACQUIRE: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local h = redis.call('HGETALL', KEYS[1])
local total = 0
for i = 1, #h, 2 do
  local node = string.match(h[i], '^(.*)|')
  local s = node and redis.call('ZSCORE', 'rc:nodes', node)
  if s and tonumber(s) >= now then
    total = total + tonumber(h[i + 1])
  else
    redis.call('HDEL', KEYS[1], h[i])
  end
end
local max = tonumber(ARGV[2])
if max > 0 and total >= max then return 0 end
redis.call('HINCRBY', KEYS[1], ARGV[1], 1)
redis.call('PEXPIRE', KEYS[1], 3600000)
return 1
";

/// `KEYS[1]` = `rc:ipc:{ip}`; `ARGV` = field.
pub const RELEASE: &str = r"
local v = redis.call('HINCRBY', KEYS[1], ARGV[1], -1)
if v <= 0 then redis.call('HDEL', KEYS[1], ARGV[1]) end
return v
";

/// `KEYS[1]` = `rc:rate:{class}:{ip}`; `ARGV` = limit. Returns `{allowed, count, ttl_ms}`.
pub const RATE: &str = r"
local c = tonumber(redis.call('GET', KEYS[1]) or '0')
local limit = tonumber(ARGV[1])
if c >= limit then return {0, c, redis.call('PTTL', KEYS[1])} end
c = redis.call('INCR', KEYS[1])
if c == 1 then redis.call('PEXPIRE', KEYS[1], 60000) end
return {1, c, redis.call('PTTL', KEYS[1])}
";

/// The hash of an IP's WebSocket counts.
pub fn ip_key(ip: &str) -> String {
    format!("rc:ipc:{ip}")
}

/// The counter of a rate window.
pub fn rate_key(class: u8, ip: &str) -> String {
    format!("rc:rate:{class}:{ip}")
}

/// The field of (node, shard) in an IP's hash.
pub fn field(node: &str, shard: usize) -> String {
    format!("{node}|{shard}")
}

/// A rate check's answer from Redis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateAnswer {
    pub allowed: bool,
    /// Events counted in the window.
    pub count: u32,
    /// Until the window resets.
    pub reset_ms: u64,
}

/// Limit operations the command thread runs (`None` replies: Redis did not answer).
#[derive(Debug)]
pub enum LimitOp {
    Acquire {
        ip: String,
        field: String,
        max: u32,
        reply: oneshot::Sender<Option<bool>>,
    },
    Release {
        ip: String,
        field: String,
    },
    /// Write the true counts of one shard's IPs over its fields.
    Sync {
        field: String,
        counts: Vec<(String, u32)>,
    },
    Rate {
        class: u8,
        ip: String,
        limit: u32,
        reply: oneshot::Sender<Option<RateAnswer>>,
    },
}

/// Run one limit operation on `con`; `Err` means the connection failed.
pub fn run(con: &mut redis::Connection, op: LimitOp) -> Result<(), redis::RedisError> {
    match op {
        LimitOp::Acquire {
            ip,
            field,
            max,
            reply,
        } => {
            let r: Result<i64, _> = redis::Script::new(ACQUIRE)
                .key(ip_key(&ip))
                .arg(&field)
                .arg(max)
                .invoke(con);
            let _ = reply.send(r.as_ref().ok().map(|v| *v == 1));
            r.map(|_| ())
        }
        LimitOp::Release { ip, field } => redis::Script::new(RELEASE)
            .key(ip_key(&ip))
            .arg(&field)
            .invoke::<i64>(con)
            .map(|_| ()),
        LimitOp::Sync { field, counts } => {
            let mut pipe = redis::pipe();
            for (ip, n) in &counts {
                let key = ip_key(ip);
                if *n == 0 {
                    pipe.cmd("HDEL").arg(&key).arg(&field).ignore();
                } else {
                    pipe.cmd("HSET").arg(&key).arg(&field).arg(*n).ignore();
                    pipe.cmd("PEXPIRE").arg(&key).arg(3_600_000).ignore();
                }
            }
            pipe.query::<()>(con)
        }
        LimitOp::Rate {
            class,
            ip,
            limit,
            reply,
        } => {
            let r: Result<(i64, i64, i64), _> = redis::Script::new(RATE)
                .key(rate_key(class, &ip))
                .arg(limit)
                .invoke(con);
            let _ = reply.send(r.as_ref().ok().map(|(a, c, ttl)| RateAnswer {
                allowed: *a == 1,
                count: (*c).max(0) as u32,
                reset_ms: (*ttl).max(0) as u64,
            }));
            r.map(|_| ())
        }
    }
}

/// Answer an operation that could not run (Redis down): its caller falls back to local limits.
pub fn fail(op: LimitOp) {
    match op {
        LimitOp::Acquire { reply, .. } => {
            let _ = reply.send(None);
        }
        LimitOp::Rate { reply, .. } => {
            let _ = reply.send(None);
        }
        LimitOp::Release { .. } | LimitOp::Sync { .. } => {}
    }
}
