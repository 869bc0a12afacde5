//! Starting a relay session on the shard that owns its room: [`start`] runs it here, or gives
//! up this shard's handle and sends the socket (with the bytes read after its handshake and its
//! unwritten 101) to the owner as [`ShardMsg::Relay`]; [`adopt`] runs it there.

use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::rc::Rc;

use shards::{ConnEntry, MovedFd, Socket};

use super::Relay;
use crate::app::Shard;
use crate::limits;
use crate::msg::ShardMsg;
use crate::room_id::RoomId;
use crate::session::{self, Driver, Start};
use crate::telemetry::spans::SessionTrace;

/// A relay socket on its way to its room's owner shard (`Send`).
#[derive(Debug)]
pub struct Moved {
    pub socket: MovedFd,
    pub room: RoomId,
    /// The client IP holding a per-IP WebSocket slot (released where the socket ends).
    pub slot_ip: Option<IpAddr>,
    /// Bytes the client sent after its handshake that were already read.
    pub pending: Box<[u8]>,
    /// The `101 Switching Protocols` answer, not yet written: the owner writes it once the
    /// socket has joined its room, so a client holding its 101 is a member.
    pub handshake: Box<[u8]>,
    /// The session's span, started by the upgrade on the shard that accepted it.
    pub trace: SessionTrace,
}

/// Where a relay session starts. Returned once and moved straight into the connection's task
/// (`conn::task::Phase`, which holds the session inline anyway), so the size difference costs
/// nothing; boxing the session would cost an allocation per WebSocket.
#[allow(clippy::large_enum_variant)]
pub enum Started {
    /// This shard owns the room: the session.
    Here(Driver<Relay>),
    /// Another shard does: the hand-off (short-lived, boxed).
    Moving(Pin<Box<dyn Future<Output = ()>>>),
}

/// Start the relay session of an upgraded socket: here when this shard owns the room,
/// otherwise on the owner. `start.handshake` holds the unwritten 101.
pub fn start(
    shard: Rc<Shard>,
    socket: Socket,
    entry: Rc<ConnEntry>,
    room: RoomId,
    start: Start,
) -> Started {
    let owner = shards::shard_for(room.as_str(), shard.shards());
    if owner == shard.id {
        Started::Here(session::run(shard, socket, entry, start, Relay::new(room)))
    } else {
        Started::Moving(Box::pin(async move {
            move_to_owner(&shard, socket, &entry, owner, room, start).await;
        }))
    }
}

/// Give up this shard's handle and send the socket to the room's owner.
async fn move_to_owner(
    shard: &Rc<Shard>,
    socket: Socket,
    entry: &ConnEntry,
    owner: usize,
    room: RoomId,
    start: Start,
) {
    let give_back = || {
        if let Some(ip) = start.slot_ip {
            limits::release_ws_slot(shard, ip);
        }
    };
    let socket = match shard.release(socket, entry.peer) {
        Ok(s) => s,
        Err(e) => {
            log!(Warn, "cannot hand socket to owner shard", error = e);
            return give_back();
        }
    };
    start.trace.moved(owner);
    let msg = ShardMsg::Relay(Box::new(Moved {
        socket,
        room,
        slot_ip: start.slot_ip,
        pending: start.pending.into_boxed_slice(),
        handshake: start.handshake.unwrap_or_default().into_boxed_slice(),
        trace: start.trace,
    }));
    if let Err(e) = shard.hand_off(owner, msg).await {
        log!(Warn, "cannot hand socket to owner shard", error = e);
        give_back();
    }
}

/// Serve a relay socket handed over by another shard (`ShardMsg::Relay`).
pub fn adopt(shard: &Rc<Shard>, m: Moved) {
    if shard.draining() {
        // Too late to join: the socket closes when `m` drops.
        if let Some(ip) = m.slot_ip {
            limits::release_ws_slot(shard, ip);
        }
        return;
    }
    let start = Start {
        slot_ip: m.slot_ip,
        pending: m.pending.into_vec(),
        handshake: Some(m.handshake.into_vec()),
        trace: m.trace,
    };
    let room = m.room;
    shard.adopt(m.socket, move |shard, socket, entry| {
        session::run(shard, socket, entry, start, Relay::new(room))
    });
}
