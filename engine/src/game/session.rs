//! The typed game protocol of `GET /ws` as a session handler.
//!
//! Text messages are queued as they are decoded (the payload is copied: handling may await
//! storage or another shard) and handled in order after each batch by [`super::cmd`].
//! Every refused message gets a typed `error` reply echoing its `seq`; only WebSocket
//! protocol violations close the socket. Binary messages are refused.
//!
//! A session lives on the shard that accepted it until it joins (or reconnects to) a room
//! owned by another shard: then it stops at that message boundary and moves — dup'ed fd,
//! session state, undecoded bytes and the messages still to handle — to the owner in
//! `GameMsg::Adopt`, which replays the `join_room`/`reconnect` there. From then on every
//! message of the room is handled on the room's core.

use std::collections::VecDeque;
use std::net::IpAddr;
use std::rc::Rc;

use shards::outbox::OutState;
use shards::MovedFd;
use tracing::Instrument;

use super::cmd::{self, Cmd, Next as Step};
use super::events::ServerEvent;
use super::protocol::{ClientMsg, ProtoError};
use super::{GameMsg, Moving, SessionState};
use crate::app::Shard;
use crate::cluster::wire::NodeMsg;
use crate::msg::ShardMsg;
use crate::session::{self, Handler, Next, Session, Start};
use crate::telemetry::spans::{self, SessionTrace};
use crate::ws::Flow;

/// A typed refusal that echoes no `seq` (a control frame).
fn refuse(s: &Session<'_>, code: &'static str, message: &str) {
    let e = ProtoError::new(code, message);
    let _ = s.outbox.push_control(
        ServerEvent::Error {
            code: e.code,
            message: e.message,
            seq: None,
        }
        .frame(),
    );
}

/// The game handler of one session.
#[derive(Debug, Default)]
pub struct Game {
    state: SessionState,
    /// The room (owned by this shard) this socket is in.
    room: Option<String>,
    /// Decoded messages not handled yet.
    inbox: VecDeque<Vec<u8>>,
}

impl Game {
    /// A session resumed with the state and messages it carried from another shard.
    pub fn resume(state: SessionState, inbox: Vec<Vec<u8>>) -> Game {
        Game {
            state,
            room: None,
            inbox: inbox.into(),
        }
    }

    /// The command context of this session.
    fn cmd<'a>(&'a mut self, s: &'a Session<'a>) -> Cmd<'a> {
        Cmd::local(s, &mut self.state, &mut self.room)
    }
}

/// Messages a session answers itself even while its room is on another node.
fn local_only(raw: &[u8]) -> bool {
    matches!(
        super::protocol::parse(raw).1,
        Ok(ClientMsg::Ping | ClientMsg::ListRooms { .. })
    )
}

impl Game {
    /// Send one message of this session to the node that owns its room.
    fn forward(&self, s: &Session<'_>, room: &str, node: &str, msg: Vec<u8>) {
        let (Some(c), Some(user)) = (&s.shard.app.cluster, &self.state.user) else {
            return;
        };
        let m = NodeMsg::Forward {
            from: c.cluster.node_id().to_string(),
            conn: s.entry.id,
            ip: s.client.to_string(),
            user_id: user.id,
            user_name: user.name.clone(),
            room: room.to_string(),
            text: String::from_utf8_lossy(&msg).into_owned(),
        };
        c.cluster.send_node(node, &m);
    }
}

/// Serve a session socket handed over by another shard (`GameMsg::Adopt`).
pub fn adopt(shard: &Rc<Shard>, m: Moving) {
    let Moving {
        socket,
        slot_ip,
        state,
        inbox,
        pending,
        trace,
    } = m;
    if shard.draining() {
        // Too late to join: the socket closes when `socket` drops.
        if let Some(ip) = slot_ip {
            crate::limits::release_ws_slot(shard, ip);
        }
        return;
    }
    let start = Start {
        slot_ip,
        pending,
        handshake: None,
        trace,
    };
    // The session runs inside its span (`Handler::IN_SPAN`), here as on the first shard.
    shard.adopt(socket, move |shard, socket, entry| {
        session::run(shard, socket, entry, start, Game::resume(state, inbox))
    });
}

impl Handler for Game {
    const IN_SPAN: bool = true;

    fn message(&mut self, s: &Session<'_>, is_text: bool, payload: &[u8]) -> Flow {
        if is_text {
            self.inbox.push_back(payload.to_vec());
        } else {
            refuse(
                s,
                "invalid_message",
                "binary messages are not supported; send JSON text",
            );
        }
        Flow::Continue
    }

    fn rate_limited(&mut self, s: &Session<'_>, ping: bool, _strikes: u32) {
        // A refused ping is dropped unanswered; a refused message is answered.
        if !ping && s.outbox.state() == OutState::Open {
            refuse(
                s,
                "rate_limited",
                "message rate limit exceeded; message dropped",
            );
        }
    }

    fn has_work(&self) -> bool {
        !self.inbox.is_empty()
    }

    async fn after_batch(&mut self, s: &Session<'_>) -> Next {
        while let Some(msg) = self.inbox.pop_front() {
            if s.outbox.state() != OutState::Open {
                return Next::Continue;
            }
            // In a room on another node: the room's messages go there.
            let attached = s
                .shard
                .app
                .cluster
                .as_ref()
                .and_then(|c| c.attached.node_of(s.entry.id));
            if let Some((room, node)) = attached {
                if !local_only(&msg) {
                    self.forward(s, &room, &node, msg);
                    continue;
                }
            }
            let span = spans::game_message(s.shard.id);
            let user = || self.state.user.as_ref().map(|u| u.id);
            let before = crate::telemetry::enabled().then(|| (self.room.clone(), user()));
            spans::game_done(&span, self.room.as_deref(), user());
            if s.shard.app.config.server.test_hooks && msg == crate::relay::TEST_PANIC_MESSAGE {
                span.in_scope(|| panic!("test hook: panic inside a game session"));
            }
            let step = cmd::handle(&mut self.cmd(s), &msg)
                .instrument(span.clone())
                .await;
            if let Some((room, was)) = before {
                let now = self.state.user.as_ref().map(|u| u.id);
                spans::game_done(&span, self.room.as_deref(), now);
                if room != self.room || was != now {
                    spans::game_done(s.trace.span(), self.room.as_deref(), now);
                }
            }
            match step {
                Step::Continue => {}
                Step::Migrate(owner) => {
                    self.inbox.push_front(msg);
                    return Next::Move(owner);
                }
                Step::Remote { room, node } => {
                    if let Some(c) = &s.shard.app.cluster {
                        c.attached.attach(s.entry.id, &room, &node);
                    }
                    self.forward(s, &room, &node, msg);
                }
            }
        }
        Next::Continue
    }

    async fn close(&mut self, s: &Session<'_>) {
        if let Some(c) = &s.shard.app.cluster {
            if let Some((room, node)) = c.attached.detach(s.entry.id) {
                let m = NodeMsg::Gone {
                    from: c.cluster.node_id().to_string(),
                    conn: s.entry.id,
                    room,
                };
                c.cluster.send_node(&node, &m);
            }
        }
        let mut c = self.cmd(s);
        cmd::rooms::leave(&mut c, false);
        cmd::queue::withdraw(&mut c).await;
    }

    fn leave(&mut self, s: &Session<'_>) {
        cmd::rooms::leave(&mut self.cmd(s), false);
    }

    fn moved(
        self,
        socket: MovedFd,
        slot_ip: Option<IpAddr>,
        pending: Vec<u8>,
        trace: SessionTrace,
    ) -> Option<ShardMsg> {
        Some(ShardMsg::Game(GameMsg::Adopt(Box::new(Moving {
            socket,
            slot_ip,
            state: self.state,
            inbox: self.inbox.into_iter().collect(),
            pending,
            trace,
        }))))
    }
}
