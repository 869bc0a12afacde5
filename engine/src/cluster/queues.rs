//! Matchmaking queues in Redis: the tickets, and the lease of the one node serving each
//! queue. Scripts and key names only; [`super::matchmaker`] runs them.
//!
//! Queue `K` (`mm:{mode}:{region}`) is:
//! - `rc:mmt:{K}`: its tickets, id → the ticket as JSON ([`super::matchmaker::Stored`]);
//! - `rc:mmu:{K}`: who waits in it, user id → ticket id (a user waits in a queue once);
//! - `rc:mmv:{K}`: a version, incremented by every change (the serving node reloads the
//!   tickets only when it moved);
//! - `rc:mmq:{K}`: the id of the node serving it, with a lease (`CLUSTER_LEASE_MS`) that
//!   node renews on each heartbeat ([`HOLD`]). Nobody else matches it meanwhile; a node
//!   that stops heartbeating loses it within the lease, and the next heartbeat of a live node
//!   takes it, tickets and all (they never left Redis).
//!
//! `rc:mmqueues` lists the queues that have tickets, and `rc:mmts:{id}` is the status of
//! ticket `id` as a poll answers it (fields `view`, `status`, `match`), kept
//! `MM_TICKET_TTL_SECS` after the ticket was matched or cancelled.

/// The queues with tickets.
pub const QUEUES_KEY: &str = "rc:mmqueues";

pub fn tickets_key(queue: &str) -> String {
    format!("rc:mmt:{queue}")
}

pub fn users_key(queue: &str) -> String {
    format!("rc:mmu:{queue}")
}

pub fn version_key(queue: &str) -> String {
    format!("rc:mmv:{queue}")
}

pub fn lease_key(queue: &str) -> String {
    format!("rc:mmq:{queue}")
}

pub fn status_key(ticket: &str) -> String {
    format!("rc:mmts:{ticket}")
}

/// `KEYS` = tickets, users, lease, status, version; `ARGV` = queue, ticket id, ticket JSON,
/// view JSON, max tickets, node, lease ms, then the user ids. Returns `ok`, `already` (a
/// user already waits in this queue) or `full`. The enqueuing node serves a queue nobody
/// serves.
pub const ENQUEUE: &str = r"
for i = 8, #ARGV do
  if redis.call('HEXISTS', KEYS[2], ARGV[i]) == 1 then return 'already' end
end
if redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[5]) then return 'full' end
redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])
for i = 8, #ARGV do redis.call('HSET', KEYS[2], ARGV[i], ARGV[2]) end
redis.call('SADD', 'rc:mmqueues', ARGV[1])
redis.call('DEL', KEYS[4])
redis.call('HSET', KEYS[4], 'view', ARGV[4], 'status', 'queued')
redis.call('INCR', KEYS[5])
redis.call('SET', KEYS[3], ARGV[6], 'PX', ARGV[7], 'NX')
return 'ok'
";

/// `KEYS` = tickets, users, version; `ARGV` = user id, ticket id (empty: the user's
/// ticket), finished-ticket TTL (s). Removes the ticket if it waits and holds the user.
/// Returns 1 (removed) or 0.
pub const CANCEL: &str = r"
local id = ARGV[2]
local mine = redis.call('HGET', KEYS[2], ARGV[1])
if not mine or (id ~= '' and mine ~= id) then return 0 end
local t = redis.call('HGET', KEYS[1], mine)
if not t then
  redis.call('HDEL', KEYS[2], ARGV[1])
  return 0
end
for _, u in ipairs(cjson.decode(t).users) do redis.call('HDEL', KEYS[2], u) end
redis.call('HDEL', KEYS[1], mine)
redis.call('INCR', KEYS[3])
local s = 'rc:mmts:' .. mine
if redis.call('EXISTS', s) == 1 then
  redis.call('HSET', s, 'status', 'cancelled')
  redis.call('EXPIRE', s, ARGV[3])
end
return 1
";

/// `KEYS` = version, tickets; `ARGV` = the version the caller has. Returns `{version}` when
/// it did not move, else `{version, id, ticket, id, ticket, ...}`.
pub const FETCH: &str = r"
local v = tonumber(redis.call('GET', KEYS[1]) or '0')
if tostring(v) == ARGV[1] then return {v} end
local out = {v}
local h = redis.call('HGETALL', KEYS[2])
for i = 1, #h do out[#out + 1] = h[i] end
return out
";

/// `KEYS` = lease, tickets, users, version; `ARGV` = node, then the ticket ids of a formed
/// match. Takes them out of the queue only if `node` still serves it (-1 otherwise: the
/// queue moved, fenced) and every one still waits (0 otherwise: one was cancelled). Returns 1
/// when taken.
pub const TAKE: &str = r"
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return -1 end
for i = 2, #ARGV do
  if redis.call('HEXISTS', KEYS[2], ARGV[i]) == 0 then return 0 end
end
for i = 2, #ARGV do
  local t = redis.call('HGET', KEYS[2], ARGV[i])
  for _, u in ipairs(cjson.decode(t).users) do redis.call('HDEL', KEYS[3], u) end
  redis.call('HDEL', KEYS[2], ARGV[i])
end
redis.call('INCR', KEYS[4])
return 1
";

/// `KEYS` = tickets, users, version; `ARGV` = tickets as JSON. Puts taken tickets back (their
/// match room could not be made). Returns how many went back.
pub const PUT_BACK: &str = r"
local n = 0
for i = 1, #ARGV do
  local t = cjson.decode(ARGV[i])
  redis.call('HSET', KEYS[1], t.id, ARGV[i])
  for _, u in ipairs(t.users) do redis.call('HSET', KEYS[2], u, t.id) end
  n = n + 1
end
redis.call('INCR', KEYS[3])
return n
";

/// `KEYS` = status; `ARGV` = the match as JSON, TTL (s).
pub const MATCHED: &str = r"
redis.call('HSET', KEYS[1], 'status', 'matched', 'match', ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[2])
return 1
";

/// `ARGV` = node, lease ms. For every queue with tickets: renew its lease if `node` serves
/// it, take it if nobody does; forget a queue nobody serves that has no tickets. Returns the
/// queues `node` serves.
pub const HOLD: &str = r"
local held = {}
for _, q in ipairs(redis.call('SMEMBERS', 'rc:mmqueues')) do
  local key = 'rc:mmq:' .. q
  local cur = redis.call('GET', key)
  if cur == ARGV[1] then
    redis.call('PEXPIRE', key, ARGV[2])
    held[#held + 1] = q
  elseif not cur then
    if redis.call('HLEN', 'rc:mmt:' .. q) == 0 then
      redis.call('SREM', 'rc:mmqueues', q)
    else
      redis.call('SET', key, ARGV[1], 'PX', ARGV[2])
      held[#held + 1] = q
    end
  end
end
return held
";
