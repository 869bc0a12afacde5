//! The commands of the typed protocol, one module per family. Each parses nothing itself
//! (`protocol::parse` did), applies the message to the room or queue it names, and answers
//! with typed events ([`super::events`]).
//!
//! - [`session`]: `hello`, `ping`.
//! - [`rooms`]: `list_rooms`, `create_room`, `join_room`, `leave_room`, `state`.
//! - [`chess`]: `move`, `resign`, `offer_draw`, `accept_draw`, `decline_draw`.
//! - [`party`]: `claim_slot`, `update_settings`, `start`, `switch`, `pause`, `resume`,
//!   `reset`, `eliminate`.
//! - [`reconnect`]: the `reconnect` message.
//! - [`queue`]: `queue`, `cancel_queue`.
//!
//! Commands run on the shard that owns the session's room. A message for a room owned by
//! another shard (`join_room`, `reconnect`) answers [`Next::Migrate`]: the session moves
//! there and the message is handled again on the owner.

pub mod chess;
pub mod party;
pub mod queue;
pub mod reconnect;
pub mod rooms;
pub mod session;

use std::net::IpAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use shards::shard_for;
use shards::stats::Disconnect;
use shards::Outbox;

use super::events::{Done, ServerEvent};
use super::protocol::{self, ClientMsg, ProtoError};
use super::reconnect as tokens;
use super::rooms::{Member, Room, User};
use super::{now_ms, SessionState};
use crate::app::Shard;
use crate::cluster::games::{self, Route};
use crate::room_id::RoomId;
use crate::session::Session;
use crate::stats::Validation;
use crate::telemetry::spans::{self, SessionTrace};

/// What the session does after a message.
pub enum Next {
    Continue,
    /// Move to this shard (the message is handled there).
    Migrate(usize),
    /// The room is owned by another node: forward this message and the session's room
    /// messages there.
    Remote {
        room: String,
        node: String,
    },
}

/// One session's command context: where it runs and what it holds. The session is a
/// socket of this shard, or (in a cluster) a socket of another node whose room this shard
/// owns: `remote`.
pub struct Cmd<'a> {
    pub shard: &'a Rc<Shard>,
    /// The session's connection id (unique on this shard).
    pub conn: u64,
    /// The client's IP.
    pub ip: IpAddr,
    /// Where the session's frames go.
    pub outbox: &'a Rc<Outbox>,
    pub state: &'a mut SessionState,
    /// The room (owned by this shard) this socket is in.
    pub room: &'a mut Option<String>,
    /// The socket is on another node (its messages were forwarded here).
    pub remote: bool,
    /// The session's span (none for a socket of another node).
    pub trace: &'a SessionTrace,
}

impl Cmd<'_> {
    /// The command context of a socket of this shard.
    pub fn local<'a>(
        s: &'a Session<'a>,
        state: &'a mut SessionState,
        room: &'a mut Option<String>,
    ) -> Cmd<'a> {
        Cmd {
            shard: s.shard,
            conn: s.entry.id,
            ip: s.entry.peer.ip(),
            outbox: s.outbox,
            state,
            room,
            remote: false,
            trace: s.trace,
        }
    }

    pub fn shard(&self) -> &Rc<Shard> {
        self.shard
    }

    /// This socket's connection id.
    pub fn conn(&self) -> u64 {
        self.conn
    }

    /// The public URL of this node, in a cluster (sent in `joined`).
    pub fn owner_url(&self) -> Option<String> {
        self.shard
            .app
            .cluster
            .as_ref()
            .map(|c| c.cluster.public_url().to_string())
    }

    /// Send an event to this socket; a full outbox is a slow consumer.
    pub fn send(&self, e: ServerEvent) {
        if self.outbox.push(e.frame()).is_err() {
            self.outbox.set_reason(Disconnect::SlowConsumer);
            self.outbox.kill(None);
        }
    }

    /// Refuse a message (a control frame: it passes a full data bound by the headroom).
    pub fn error(&self, seq: Option<u64>, e: &ProtoError) {
        let _ = self.outbox.push_control(
            ServerEvent::Error {
                code: e.code,
                message: e.message.clone(),
                seq,
            }
            .frame(),
        );
    }

    /// Answer `ok` with `done`'s fields.
    pub fn ok(&self, seq: Option<u64>, done: Done) {
        self.send(ServerEvent::Ok(Done { seq, ..done }));
    }

    pub fn user(&self) -> Result<User, ProtoError> {
        self.state.user.clone().ok_or_else(|| {
            ProtoError::new(
                "unauthenticated",
                "send {\"type\":\"hello\",\"token\":...} first",
            )
        })
    }

    /// This socket as a room member.
    pub fn member(&self, user: &User) -> Member {
        Member {
            conn: self.conn(),
            user: user.clone(),
            outbox: self.outbox.clone(),
        }
    }

    /// Run `f` on the session's room (`f` gets the room, this connection and the time).
    pub fn in_room<T>(
        &self,
        f: impl FnOnce(&mut Room, u64, u64) -> Result<T, ProtoError>,
    ) -> Result<T, ProtoError> {
        let id = self.room.clone().ok_or_else(not_in_room)?;
        let mut rooms = self.shard().app.games.rooms.borrow_mut();
        let room = rooms.get_mut(&id).ok_or_else(not_in_room)?;
        f(room, self.conn(), now_ms())
    }

    /// Wait (at most 5 s) until this shard restored its rooms.
    pub async fn wait_restored(&self) {
        let until = Instant::now() + Duration::from_secs(5);
        while !self.shard().app.games.restored.get() && Instant::now() < until {
            glommio::timer::sleep(Duration::from_millis(20)).await;
        }
    }
}

pub fn not_in_room() -> ProtoError {
    ProtoError::new("not_in_room", "join a room first")
}

/// Handle one text message: parse, dispatch, answer a refusal with a typed error.
pub async fn handle(c: &mut Cmd<'_>, raw: &[u8]) -> Next {
    let (env, parsed) = protocol::parse_envelope(raw);
    let seq = env.seq;
    spans::game_parsed(
        c.trace.span(),
        env.kind.as_deref(),
        parsed.is_ok(),
        seq,
        env.traceparent.as_deref(),
    );
    let msg = match parsed {
        Ok(m) => m,
        Err(e) => {
            spans::game_refused(e.code);
            c.shard()
                .app
                .stats
                .validation_errors
                .inc(Validation::Ws as usize);
            c.error(seq, &e);
            return Next::Continue;
        }
    };
    match dispatch(c, seq, msg).await {
        Ok(n) => n,
        Err(e) => {
            spans::game_refused(e.code);
            c.error(seq, &e);
            Next::Continue
        }
    }
}

/// The room a room-bound message names, checked (`None`: the message is not room-bound).
fn bound_room<'m>(c: &Cmd<'_>, msg: &'m ClientMsg) -> Result<Option<&'m str>, ProtoError> {
    let Some(room) = msg.room_bound() else {
        return Ok(None);
    };
    let room = match msg {
        ClientMsg::Reconnect { token, .. } => tokens::room_of(token)
            .ok_or_else(|| ProtoError::new("invalid_token", "malformed reconnect token"))?,
        _ => room,
    };
    RoomId::parse(room).map_err(|e| ProtoError::new("not_found", e.to_string()))?;
    if matches!(msg, ClientMsg::JoinRoom { .. }) && c.room.is_some() {
        return Err(ProtoError::new(
            "already_in_room",
            "leave your room before joining another",
        ));
    }
    Ok(Some(room))
}

async fn dispatch(c: &mut Cmd<'_>, seq: Option<u64>, msg: ClientMsg) -> Result<Next, ProtoError> {
    match msg {
        ClientMsg::Hello { token } => {
            return session::hello(c, seq, &token).map(|_| Next::Continue)
        }
        ClientMsg::Ping => {
            c.send(ServerEvent::Pong { seq });
            return Ok(Next::Continue);
        }
        _ => {}
    }
    let user = c.user()?;
    // Messages handled by the room's owner: in a cluster its node first, then its shard.
    if let Some(room) = bound_room(c, &msg)? {
        let room = room.to_string();
        let cluster = c.shard().app.cluster.as_ref();
        if let (Some(cl), false) = (cluster, c.remote) {
            if let Route::Node(node) = games::route(cl, &room).await {
                queue::withdraw(c).await;
                return Ok(Next::Remote { room, node });
            }
        }
        let owner = shard_for(&room, c.shard().shards());
        if owner != c.shard().id {
            queue::withdraw(c).await;
            return Ok(Next::Migrate(owner));
        }
        c.wait_restored().await;
        if cluster.is_some() {
            games::ensure_here(c.shard(), &room).await;
        }
    }
    match msg {
        ClientMsg::Hello { .. } | ClientMsg::Ping => unreachable!("handled above"),
        ClientMsg::ListRooms { kind } => rooms::list(c, seq, kind).await,
        ClientMsg::CreateRoom { name, settings } => {
            rooms::create(c, seq, &user, name, settings).await?
        }
        ClientMsg::JoinRoom { room, role } => rooms::join(c, seq, &user, &room, role)?,
        ClientMsg::LeaveRoom => rooms::leave_cmd(c, seq)?,
        ClientMsg::State => rooms::state(c, seq)?,
        ClientMsg::Move { mv } => chess::play(c, seq, &mv).await?,
        ClientMsg::Resign
        | ClientMsg::OfferDraw
        | ClientMsg::AcceptDraw
        | ClientMsg::DeclineDraw => chess::action(c, seq, &msg)?,
        ClientMsg::ClaimSlot { .. }
        | ClientMsg::UpdateSettings { .. }
        | ClientMsg::Start
        | ClientMsg::Switch
        | ClientMsg::Pause
        | ClientMsg::Resume
        | ClientMsg::Reset
        | ClientMsg::Eliminate { .. } => party::action(c, seq, &user, msg)?,
        ClientMsg::Reconnect { token, last_seq } => {
            reconnect::reconnect(c, seq, &user, &token, last_seq)?
        }
        ClientMsg::Queue {
            mode,
            region,
            party,
        } => queue::queue(c, seq, &user, &mode, &region, &party).await?,
        ClientMsg::CancelQueue => queue::cancel(c, seq).await?,
    }
    Ok(Next::Continue)
}
