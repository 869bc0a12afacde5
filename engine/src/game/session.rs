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

use super::cmd::{self, Cmd, Next as Step};
use super::events::ServerEvent;
use super::protocol::ProtoError;
use super::{GameMsg, Moving, SessionState};
use crate::app::Shard;
use crate::msg::ShardMsg;
use crate::session::{self, Handler, Next, Session, Start};
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
        Cmd {
            s,
            state: &mut self.state,
            room: &mut self.room,
        }
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
    };
    shard.adopt(socket, move |shard, socket, entry| {
        session::run(shard, socket, entry, start, Game::resume(state, inbox))
    });
}

impl Handler for Game {
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
            match cmd::handle(&mut self.cmd(s), &msg).await {
                Step::Continue => {}
                Step::Migrate(owner) => {
                    self.inbox.push_front(msg);
                    return Next::Move(owner);
                }
            }
        }
        Next::Continue
    }

    async fn close(&mut self, s: &Session<'_>) {
        let mut c = self.cmd(s);
        cmd::rooms::leave(&mut c, false);
        cmd::queue::withdraw(&mut c).await;
    }

    fn leave(&mut self, s: &Session<'_>) {
        cmd::rooms::leave(&mut self.cmd(s), false);
    }

    fn moved(self, socket: MovedFd, slot_ip: Option<IpAddr>, pending: Vec<u8>) -> Option<ShardMsg> {
        Some(ShardMsg::Game(GameMsg::Adopt(Box::new(Moving {
            socket,
            slot_ip,
            state: self.state,
            inbox: self.inbox.into_iter().collect(),
            pending,
        }))))
    }
}
