//! The one message type that crosses between shards.
//!
//! Which calls may nest: a shard handling a `ShardMsg` never waits on another
//! shard's reply while doing so (replies go through oneshots the *requester*
//! awaits), so no cycle of waiting shards can form.

use std::net::{IpAddr, SocketAddr};
use std::os::fd::OwnedFd;

use futures_channel::oneshot;

use crate::metrics::Sample;
use crate::room::RoomId;
use crate::stats::ShardStats;

/// An upgraded WebSocket on its way to the shard that owns its room.
#[derive(Debug)]
pub struct MovedSocket {
    pub fd: OwnedFd,
    pub room: RoomId,
    pub peer: SocketAddr,
    /// The client IP holding a per-IP WebSocket slot (released where the socket ends).
    pub slot_ip: Option<IpAddr>,
    /// Bytes the client sent after its handshake that were already read.
    pub pending: Box<[u8]>,
    /// The `101 Switching Protocols` answer, not yet written: the owner writes it once the
    /// socket has joined its room, so a client holding its 101 is a member.
    pub handshake: Box<[u8]>,
}

/// Answer of a per-IP rate check (fixed one-minute window).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateDecision {
    pub allowed: bool,
    pub limit: u32,
    pub remaining: u32,
    /// Seconds until the window resets.
    pub reset_secs: u32,
}

/// A message from one shard to another.
#[derive(Debug)]
pub enum ShardMsg {
    /// Take over an upgraded WebSocket whose room this shard owns.
    AdoptRelay { socket: Box<MovedSocket> },
    /// Answer with a snapshot of this shard's counters.
    Stats { reply: oneshot::Sender<ShardStats> },
    /// Game-room traffic (`engine::game::GameMsg`, boxed: the engine's types
    /// sit above this crate). Its handlers never await another shard.
    Game { msg: Box<dyn std::any::Any + Send> },
    /// Answer with every metric series of this shard.
    Metrics { reply: oneshot::Sender<Vec<Sample>> },
    /// To the IP's owner shard: may `ip` open one more WebSocket (at most `max`)?
    ConnAcquire {
        ip: IpAddr,
        max: u32,
        reply: oneshot::Sender<bool>,
    },
    /// To the IP's owner shard: a WebSocket of `ip` closed.
    ConnRelease { ip: IpAddr },
    /// To the IP's owner shard: count one event of `class` for `ip` in its
    /// per-minute window of `limit` events and answer the decision.
    RateCheck {
        ip: IpAddr,
        class: u8,
        limit: u32,
        reply: oneshot::Sender<RateDecision>,
    },
}

// Keep the message small: large payloads are boxed.
const _: () = assert!(std::mem::size_of::<ShardMsg>() <= 64);
