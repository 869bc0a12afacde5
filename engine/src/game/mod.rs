//! Game rooms over the typed protocol of `GET /ws`: chess, the party game,
//! reconnection with grace, matchmaking, and their persistence.
//!
//! Owns [`Games`], one per shard: the game rooms this shard owns
//! (`shard_for(room_id)`), the matchmaking queues it owns
//! (`shard_for("mm:{mode}:{region}")`) and their tickets, and the tick
//! histogram. Cross-shard traffic is [`GameMsg`], inside `ShardMsg::Game`. A
//! socket joining a room owned by another shard moves there with its session
//! state ([`session`]), as relay sockets do: every message of a room is handled
//! on one core.
//!
//! - [`protocol`]: client messages, validation, error codes, name escaping.
//! - [`events`]: every server message as a type, serialised in one place;
//!   [`views`]: the room state inside them.
//! - [`session`]: the session handler of `GET /ws` (queue, hand-off).
//! - [`cmd`]: one module per command family (session, rooms, chess, party,
//!   reconnect, queue): parse → apply → typed events.
//! - [`service`]: what the WebSocket session and the HTTP API both ask of the game
//!   layer (matchmaking tickets, room lists, live games).
//! - [`owner`]: `GameMsg` on the shard that owns the room or queue; [`tick`]: the
//!   periodic pass (timers, grace, matching); [`matches`]: a formed match becomes a room
//!   and its players are told; [`tickets`]: ticket status. In a cluster the queues and
//!   tickets live in Redis instead (`cluster::matchmaker`).
//! - [`rooms`]: a room's members, seats, event log, snapshots.
//! - [`chess`], [`party`], [`matchmaking`]: the pure state machines.
//! - [`reconnect`]: reconnect tokens; [`store`]: snapshots and finished games.

pub mod chess;
pub mod cmd;
pub mod events;
pub mod matches;
pub mod matchmaking;
pub mod owner;
pub mod party;
pub mod protocol;
pub mod reconnect;
pub mod rooms;
pub mod service;
pub mod session;
pub mod store;
pub mod tick;
pub mod tickets;
#[cfg(test)]
mod ts;
pub mod views;

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

use shards::{shard_for, MovedFd, Reply};

use crate::app::Shard;
use matchmaking::{ModeSpec, Queue, QueueError, Ticket};
use protocol::Kind;
use rooms::{Room, User};
use tickets::{TicketView, Tickets};
use views::{RoomState, RoomSummary};

pub use owner::handle;
pub use store::{chess_finished, record, save_room, snapshot_all, stop};
pub use tick::start;

/// Rooms one shard lists in answer to `list_rooms` (keeps the answer small).
pub const LIST_MAX: usize = 100;

/// The `kind` column of game room snapshots.
pub const SNAPSHOT_KIND: &str = "game";

/// Wall-clock milliseconds (persisted clocks survive restarts).
pub fn now_ms() -> u64 {
    storage::now_ms().max(0) as u64
}

/// A session's state as it travels with its socket between shards.
#[derive(Debug, Clone, Default)]
pub struct SessionState {
    pub user: Option<User>,
    /// The matchmaking queue key and ticket this session waits on.
    pub queued: Option<(String, String)>,
}

/// A typed WebSocket moving to the shard that owns the room it joins.
#[derive(Debug)]
pub struct Moving {
    pub socket: MovedFd,
    /// The client IP holding a per-IP WebSocket slot (released where the socket ends).
    pub slot_ip: Option<std::net::IpAddr>,
    pub state: SessionState,
    /// Decoded messages still to handle (the first one caused the move).
    pub inbox: Vec<Vec<u8>>,
    /// Raw bytes read but not decoded yet.
    pub pending: Vec<u8>,
    /// The session's span (it goes on on the new shard).
    pub trace: crate::telemetry::spans::SessionTrace,
}

/// A match room to create on its owner shard.
#[derive(Debug)]
pub struct MatchRoom {
    pub id: String,
    pub mode: ModeSpec,
    /// Users by seat.
    pub seats: Vec<User>,
    /// The owner's claim (cluster; 0 on a single node).
    pub epoch: i64,
    /// The match span: the room's creation is its child.
    pub trace: crate::telemetry::SpanLink,
}

/// Cross-shard game traffic (inside `ShardMsg::Game`). Handlers never await
/// another shard: replies go back on oneshots.
#[derive(Debug)]
pub enum GameMsg {
    /// Take over a session socket.
    Adopt(Box<Moving>),
    /// Push a text message to socket `conn` of this shard.
    Deliver { conn: u64, text: String },
    /// Summaries of this shard's rooms.
    List {
        kind: Option<Kind>,
        reply: Reply<Vec<RoomSummary>>,
    },
    /// Create a matched room here.
    CreateMatchRoom {
        room: Box<MatchRoom>,
        reply: Reply<bool>,
    },
    /// Add a ticket to a queue this shard owns.
    Enqueue(Box<EnqueueReq>),
    /// Remove a ticket (by id, or every ticket of `user`).
    Cancel(Box<CancelReq>),
    /// Status of a ticket of a queue this shard owns, if it is `user`'s.
    Ticket {
        id: String,
        user: i64,
        reply: Reply<Option<TicketView>>,
    },
    /// The live state of a room this shard owns.
    Live {
        room: String,
        reply: Reply<Option<RoomState>>,
    },
    /// In a cluster: the owner node of game room `room` left and this node is next in its
    /// rendezvous order: bring it back from its snapshot here.
    TakeOver { room: String },
}

/// A ticket for a queue this shard owns (`GameMsg::Enqueue`).
#[derive(Debug)]
pub struct EnqueueReq {
    pub key: String,
    pub mode: ModeSpec,
    pub ticket: Ticket,
    pub reply: Reply<Result<(), QueueError>>,
}

/// Withdraw a ticket by id, or every ticket of `user` (`GameMsg::Cancel`).
#[derive(Debug)]
pub struct CancelReq {
    pub key: String,
    pub ticket: Option<String>,
    pub user: i64,
    pub reply: Reply<bool>,
}

// Game traffic rides inside `ShardMsg`: keep it small.
const _: () = assert!(std::mem::size_of::<GameMsg>() <= 48);

/// One shard's game state (not `Send`).
pub struct Games {
    /// The game knobs (shared read-only).
    pub cfg: crate::config::GamesArgs,
    /// Rooms this shard owns; at most `max_rooms / shards` (rounded up).
    /// Rooms leave when nobody is in them and no game is under way.
    pub rooms: RefCell<HashMap<String, Room>>,
    /// Matchmaking queues this shard owns, by key `mm:{mode}:{region}`.
    pub queues: RefCell<HashMap<String, Queue>>,
    /// Tickets of the queues this shard owns; matched and cancelled ones leave after
    /// `MM_TICKET_TTL_SECS`.
    pub tickets: Tickets,
    /// Duration of each game tick (for `/metrics`:
    /// `roomcore_game_tick_duration_seconds`).
    pub tick_hist: shards::metrics::Histogram,
    /// Set once snapshots are restored.
    pub restored: Cell<bool>,
    next_ticket: Cell<u64>,
}

impl std::fmt::Debug for Games {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Games")
            .field("rooms", &self.rooms.borrow().len())
            .finish_non_exhaustive()
    }
}

impl Games {
    /// The game tables of one shard.
    pub fn new(config: &crate::config::Config) -> Games {
        Games {
            cfg: config.games.clone(),
            rooms: RefCell::new(HashMap::new()),
            queues: RefCell::new(HashMap::new()),
            tickets: Tickets::default(),
            tick_hist: shards::metrics::Histogram::latency(),
            restored: Cell::new(false),
            next_ticket: Cell::new(1),
        }
    }

    /// Rooms one shard may hold.
    pub fn per_shard_limit(&self, shards: usize) -> usize {
        self.cfg.per_shard_limit(shards)
    }
}

/// A fresh room id with `prefix`; `local` picks one this shard owns.
pub fn room_id(prefix: &str, shard: &Rc<Shard>, local: bool) -> String {
    loop {
        let id = format!("{prefix}-{}", reconnect::random_hex(5));
        if !local || shard_for(&id, shard.shards()) == shard.id {
            return id;
        }
    }
}

/// Queue key of (mode, region).
pub fn queue_key(mode: &str, region: &str) -> String {
    format!("mm:{mode}:{region}")
}

/// A ticket id that names its queue (`{mode}.{region}.{n}-{random}`).
pub fn ticket_id(shard: &Rc<Shard>, mode: &str, region: &str) -> String {
    let games = &shard.app.games;
    let n = games.next_ticket.get();
    games.next_ticket.set(n + 1);
    format!(
        "{mode}.{region}.{}{n}-{}",
        shard.id,
        reconnect::random_hex(4)
    )
}

/// The queue key a ticket id names.
pub fn key_of_ticket(id: &str) -> Option<String> {
    let mut it = id.splitn(3, '.');
    let (m, r) = (it.next()?, it.next()?);
    it.next()?;
    Some(queue_key(m, r))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_ticket_keys() {
        assert_eq!(store::date_of(0), "1970.01.01");
        assert_eq!(store::date_of(1_700_000_000_000), "2023.11.14");
        assert_eq!(
            key_of_ticket("chess.eu.01-ab").as_deref(),
            Some("mm:chess:eu")
        );
        assert_eq!(key_of_ticket("bad"), None);
    }
}
