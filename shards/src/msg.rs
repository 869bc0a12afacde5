//! The one message type that crosses between shards.
//!
//! Which calls may nest: a shard handling a `ShardMsg` never waits on another
//! shard's reply while doing so (replies go through oneshots the *requester*
//! awaits), so no cycle of waiting shards can form.

use std::net::SocketAddr;
use std::os::fd::OwnedFd;

use futures_channel::oneshot;

use crate::room::RoomId;
use crate::stats::ShardStats;

/// An upgraded WebSocket on its way to the shard that owns its room.
#[derive(Debug)]
pub struct MovedSocket {
    pub fd: OwnedFd,
    pub room: RoomId,
    pub peer: SocketAddr,
    /// Bytes the client sent after its handshake that were already read.
    pub pending: Box<[u8]>,
}

/// A message from one shard to another.
#[derive(Debug)]
pub enum ShardMsg {
    /// Take over an upgraded WebSocket whose room this shard owns.
    AdoptRelay { socket: Box<MovedSocket> },
    /// Answer with a snapshot of this shard's counters.
    Stats { reply: oneshot::Sender<ShardStats> },
}

// Keep the message small: large payloads are boxed.
const _: () = assert!(std::mem::size_of::<ShardMsg>() <= 64);
