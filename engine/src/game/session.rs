//! The typed game protocol of `GET /ws` as a session handler.
//!
//! Text messages are queued as they are decoded (the payload is copied: handling may await
//! storage or another shard) and handled in order after each batch by [`super::actions`].
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

use serde_json::{json, Value};
use shards::outbox::OutState;
use shards::MovedFd;

use super::actions::{self, Next as Step};
use super::{GameMsg, Moving, SessionState};
use crate::app::Shard;
use crate::msg::ShardMsg;
use crate::session::{self, Handler, Next, Session, Start};
use crate::ws::{self, Flow};

/// One JSON text frame.
pub(super) fn text(v: &Value) -> shards::Frame {
    ws::text_frame(v.to_string().as_bytes())
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

    /// Run `f` on the action context of this session.
    async fn with<R>(
        &mut self,
        s: &Session<'_>,
        f: impl AsyncFnOnce(&mut actions::Session<'_>) -> R,
    ) -> R {
        let mut a = actions::Session {
            shard: s.shard,
            entry: s.entry,
            outbox: s.outbox.clone(),
            state: std::mem::take(&mut self.state),
            room: self.room.take(),
        };
        let r = f(&mut a).await;
        self.state = a.state;
        self.room = a.room;
        r
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
    shard.adopt(socket, move |shard, stream, entry| async move {
        session::run(&shard, stream, &entry, start, Game::resume(state, inbox)).await;
    });
}

impl Handler for Game {
    fn message(&mut self, s: &Session<'_>, is_text: bool, payload: &[u8]) -> Flow {
        if is_text {
            self.inbox.push_back(payload.to_vec());
        } else {
            let _ = s.outbox.push_control(text(&json!({
                "type": "error", "code": "invalid_message",
                "message": "binary messages are not supported; send JSON text"})));
        }
        Flow::Continue
    }

    fn rate_limited(&mut self, s: &Session<'_>, ping: bool, _strikes: u32) {
        // A refused ping is dropped unanswered; a refused message is answered.
        if !ping && s.outbox.state() == OutState::Open {
            let _ = s.outbox.push_control(text(&json!({
                "type": "error", "code": "rate_limited",
                "message": "message rate limit exceeded; message dropped"})));
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
            match self.with(s, async |a| a.handle(&msg).await).await {
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
        self.with(s, async |a| a.end().await).await;
    }

    fn leave(&mut self, s: &Session<'_>) {
        if self.room.is_some() {
            let mut a = actions::Session {
                shard: s.shard,
                entry: s.entry,
                outbox: s.outbox.clone(),
                state: std::mem::take(&mut self.state),
                room: self.room.take(),
            };
            a.leave(false);
            self.state = a.state;
            self.room = a.room;
        }
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
