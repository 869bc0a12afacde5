//! [`ShardMsg`]: the one message type that crosses between shards.
//!
//! Every variant belongs to one feature, which handles it on the receiving shard
//! ([`crate::app`] dispatches). Request variants carry their own [`shards::Reply`]; the
//! runtime's [`Shard::call`](shards::Shard::call) sends them (or handles them in place on
//! the owner) and applies one timeout.
//!
//! Which calls may nest: none. Every handler is synchronous (`App::handle` is not `async`):
//! it answers from the shard's own state, or spawns a task, and never waits for another
//! shard. So a shard waiting on a call never waits on a shard that waits on it.

use shards::metrics::Sample;
use shards::Reply;

use crate::api::rooms::RoomCmd;
use crate::game::GameMsg;
use crate::limits::LimitMsg;
use crate::relay::Moved;
use crate::stats::ShardStats;

/// A message from one shard to another.
#[derive(Debug)]
pub enum ShardMsg {
    /// Take over a relay socket whose room this shard owns (`relay`).
    Relay(Box<Moved>),
    /// Game rooms, matchmaking queues and game sockets (`game`).
    Game(GameMsg),
    /// Per-IP connection slots and rate windows on the IP's owner shard (`limits`).
    Limits(LimitMsg),
    /// Room state documents on their owner shard (`api::rooms`).
    Rooms(RoomCmd),
    /// This shard's counters, for `/health` (`health`).
    Stats { reply: Reply<ShardStats> },
    /// Every metric series of this shard, for `/metrics` (`metrics`).
    Metrics { reply: Reply<Vec<Sample>> },
}

// Keep the message small: large payloads are boxed.
const _: () = assert!(std::mem::size_of::<ShardMsg>() <= 64);
