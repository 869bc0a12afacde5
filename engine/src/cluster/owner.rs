//! Which node owns a game room, in Redis.
//!
//! A room's record `rc:room:{id}` holds its owner node and the epoch of that node's claim,
//! and `rc:noderooms:{node}` lists the rooms a node owns. A node claims a room when it
//! creates it (the id is picked so that rendezvous hashing over the live nodes names the
//! node itself) and when it takes over a room whose owner's lease expired (it is then the
//! first live node in the room's rendezvous order). One Lua script does the claim: it refuses
//! while the recorded owner holds a live lease, and gives every successful claim a new epoch
//! (Redis's clock in ms times 1000 plus a counter, so it keeps growing across a Redis that
//! restarted empty). The epoch goes into every snapshot the owner saves, and
//! storage refuses a snapshot older than the row's (`StorageError::Fenced`): an owner that was
//! paused or cut off past its lease can never overwrite its successor.

use futures_channel::oneshot;

/// `KEYS[1]` = `rc:room:{id}`; `ARGV` = node, room id. Returns `{won, owner, epoch}`.
pub const CLAIM: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local cur = redis.call('HGET', KEYS[1], 'node')
if cur == ARGV[1] then
  return {1, cur, tonumber(redis.call('HGET', KEYS[1], 'epoch'))}
end
if cur then
  local s = redis.call('ZSCORE', 'rc:nodes', cur)
  if s and tonumber(s) >= now then
    return {0, cur, tonumber(redis.call('HGET', KEYS[1], 'epoch'))}
  end
  redis.call('SREM', 'rc:noderooms:' .. cur, ARGV[2])
end
-- Epochs grow with Redis's clock, so they keep growing across a Redis that restarted
-- empty (the snapshots in the database still carry the old ones).
local e = now * 1000 + (redis.call('INCR', 'rc:fence') % 1000)
redis.call('HSET', KEYS[1], 'node', ARGV[1], 'epoch', e)
redis.call('SADD', 'rc:noderooms:' .. ARGV[1], ARGV[2])
return {1, ARGV[1], e}
";

/// `KEYS[1]` = `rc:room:{id}`. Returns `{owner or '', live, epoch}`.
pub const LOOKUP: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local cur = redis.call('HGET', KEYS[1], 'node')
if not cur then return {'', 0, 0} end
local s = redis.call('ZSCORE', 'rc:nodes', cur)
local live = 0
if s and tonumber(s) >= now then live = 1 end
return {cur, live, tonumber(redis.call('HGET', KEYS[1], 'epoch'))}
";

/// `KEYS[1]` = `rc:room:{id}`; `ARGV` = node, room id. Forgets the record if `node` owns it.
pub const RELEASE: &str = r"
if redis.call('HGET', KEYS[1], 'node') == ARGV[1] then
  redis.call('DEL', KEYS[1])
  redis.call('SREM', 'rc:noderooms:' .. ARGV[1], ARGV[2])
  return 1
end
return 0
";

/// `KEYS[1]` = `rc:room:{id}`; `ARGV` = node, successor, room id. A draining owner hands
/// the room to `successor` with a new epoch (the successor then claims it as its own).
/// Returns the epoch, or 0 when `node` does not own the room.
pub const HAND_OFF: &str = r"
if redis.call('HGET', KEYS[1], 'node') ~= ARGV[1] then return 0 end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local e = now * 1000 + (redis.call('INCR', 'rc:fence') % 1000)
redis.call('HSET', KEYS[1], 'node', ARGV[2], 'epoch', e)
redis.call('SREM', 'rc:noderooms:' .. ARGV[1], ARGV[3])
redis.call('SADD', 'rc:noderooms:' .. ARGV[2], ARGV[3])
return e
";

/// The record of room `id`.
pub fn room_key(id: &str) -> String {
    format!("rc:room:{id}")
}

/// The rooms node `id` owns.
pub fn node_rooms_key(id: &str) -> String {
    format!("rc:noderooms:{id}")
}

/// A claim's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    /// Whether this node owns the room now.
    pub won: bool,
    pub owner: String,
    pub epoch: i64,
}

/// A room's record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub owner: String,
    /// Whether the owner holds a live lease.
    pub live: bool,
    pub epoch: i64,
}

/// Ownership operations the command thread runs (`None` replies: Redis did not answer).
#[derive(Debug)]
pub enum OwnerOp {
    Claim {
        room: String,
        node: String,
        reply: oneshot::Sender<Option<Claim>>,
    },
    Lookup {
        room: String,
        reply: oneshot::Sender<Option<Option<Record>>>,
    },
    Release {
        room: String,
        node: String,
    },
    /// The rooms recorded for a node (one that left: its rooms are to be taken over).
    Rooms {
        node: String,
        reply: oneshot::Sender<Option<Vec<String>>>,
    },
}

fn text(v: &redis::Value) -> String {
    match v {
        redis::Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
        redis::Value::SimpleString(s) => s.clone(),
        _ => String::new(),
    }
}

fn int(v: &redis::Value) -> i64 {
    match v {
        redis::Value::Int(i) => *i,
        _ => 0,
    }
}

/// Run one ownership operation on `con`; `Err` means the connection failed.
pub fn run(con: &mut redis::Connection, op: OwnerOp) -> Result<(), redis::RedisError> {
    match op {
        OwnerOp::Claim { room, node, reply } => {
            let r: Result<Vec<redis::Value>, _> = redis::Script::new(CLAIM)
                .key(room_key(&room))
                .arg(&node)
                .arg(&room)
                .invoke(con);
            let _ = reply.send(r.as_ref().ok().map(|v| Claim {
                won: v.first().map(int) == Some(1),
                owner: v.get(1).map(text).unwrap_or_default(),
                epoch: v.get(2).map(int).unwrap_or(0),
            }));
            r.map(|_| ())
        }
        OwnerOp::Lookup { room, reply } => {
            let r: Result<Vec<redis::Value>, _> =
                redis::Script::new(LOOKUP).key(room_key(&room)).invoke(con);
            let _ = reply.send(r.as_ref().ok().map(|v| {
                let owner = v.first().map(text).unwrap_or_default();
                (!owner.is_empty()).then(|| Record {
                    owner,
                    live: v.get(1).map(int) == Some(1),
                    epoch: v.get(2).map(int).unwrap_or(0),
                })
            }));
            r.map(|_| ())
        }
        OwnerOp::Release { room, node } => redis::Script::new(RELEASE)
            .key(room_key(&room))
            .arg(&node)
            .arg(&room)
            .invoke::<i64>(con)
            .map(|_| ()),
        OwnerOp::Rooms { node, reply } => {
            let r: Result<Vec<String>, _> =
                redis::cmd("SMEMBERS").arg(node_rooms_key(&node)).query(con);
            let _ = reply.send(r.as_ref().ok().cloned());
            r.map(|_| ())
        }
    }
}

/// Answer an operation that could not run (Redis down).
pub fn fail(op: OwnerOp) {
    match op {
        OwnerOp::Claim { reply, .. } => {
            let _ = reply.send(None);
        }
        OwnerOp::Lookup { reply, .. } => {
            let _ = reply.send(None);
        }
        OwnerOp::Rooms { reply, .. } => {
            let _ = reply.send(None);
        }
        OwnerOp::Release { .. } => {}
    }
}
