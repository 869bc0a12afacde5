//! Relay rooms on `GET /ws/relay/{room}`: the session handler, and the hand-off of a new
//! socket to the shard that owns its room.
//!
//! A socket upgraded on another shard moves to the room's owner before its session starts
//! ([`handoff`]), so every message of a room is handled on
//! one core with no per-message cross-shard traffic. Each data message is encoded once and
//! the same frame goes to every other member ([`rooms::RelayRoom::broadcast`]). Payloads are
//! relayed unchanged and never parsed, stored or logged (the one exception is a test hook,
//! enabled only by `--test-hooks`). A panic while handling a room's message closes that room
//! only (1011).
//!
//! - [`handoff`]: starting a session on the room's owner.
//! - [`rooms`]: the shard's room table and a room's members.

pub mod handoff;
pub mod rooms;

pub use handoff::{adopt, start, Moved, Started};

use std::panic::AssertUnwindSafe;
use std::rc::Rc;
use std::time::Instant;

use shards::stats::Disconnect;
use shards::{io, Frame};
use tungstenite::protocol::frame::coding::{Data, OpCode};

use crate::app::Shard;
use crate::limits::{self, RateClass};
use crate::room_id::RoomId;
use crate::session::{Handler, Next, Session};
use crate::stats::{CrashScope, FrameOut, Limit};
use crate::ws::{self, Flow};
use rooms::{Member, RelayRoom};

/// The text message that panics inside a room handler when test hooks are on.
pub const TEST_PANIC_MESSAGE: &[u8] = b"__roomcore_test_panic__";

/// Membership of one socket in a room; leaving is tied to its drop, so a session that ends
/// in any way (a panic included) leaves its room.
struct Joined {
    shard: Rc<Shard>,
    room: Rc<RelayRoom>,
    conn: u64,
}

impl Drop for Joined {
    fn drop(&mut self) {
        self.shard.app.relay.leave(&self.room, self.conn);
    }
}

/// The relay handler of one session.
pub struct Relay {
    room_id: RoomId,
    joined: Option<Joined>,
    /// Chaos latency is configured: each batch waits it out (`after_batch`).
    delay: bool,
    /// This session's share of the node's subscription to the room's cluster channel.
    interest: Option<crate::cluster::shard::Interest>,
}

impl Relay {
    pub(super) fn new(room_id: RoomId) -> Relay {
        Relay {
            room_id,
            joined: None,
            delay: false,
            interest: None,
        }
    }
}

/// Close every member of `room` after a crash in its handler and drop the room.
fn close_room(shard: &Rc<Shard>, room: &RelayRoom, close: &Frame) {
    let deadline = Instant::now() + shard.app.config.ws.close_timeout;
    for m in room.members() {
        m.outbox.set_reason(Disconnect::Crash);
        m.outbox.close_with(Some(close.clone()));
        if let Some(e) = shard.conns.get(m.conn) {
            e.deadline.set(Some(deadline));
        }
    }
    shard.app.relay.remove(room);
}

impl Handler for Relay {
    async fn open(&mut self, s: &Session<'_>) -> bool {
        let shard = s.shard;
        let cfg = &shard.app.config;
        self.delay = !cfg.observability.chaos_latency.is_zero();
        // Creating a room counts against the creator's per-minute allowance.
        let per_min = cfg.limits.max_room_creates_per_ip_per_min;
        let allowed = shard.app.relay.contains(&self.room_id)
            || per_min == 0
            || limits::rate_check(shard, s.client, RateClass::RoomCreate, per_min)
                .await
                .allowed;
        // In a cluster the node listens to the room's channel before the 101, so a client
        // holding its 101 also gets what members on other nodes send after it.
        if let Some(c) = &shard.app.cluster {
            let (interest, first) = c.interest(shard, self.room_id.as_str());
            if first {
                interest.subscribe().await;
            }
            self.interest = Some(interest);
        }
        // The 101 leads the outbox; it goes out now, and the join follows with no await in
        // between, so a client holding its 101 gets every message sent after it. A fresh
        // socket takes it at once; what it would not take, the flusher sends first.
        if io::try_send_outbox(s.entry.fd, s.outbox).is_err() {
            s.outbox.kill(None);
            return false;
        }
        if !allowed {
            shard
                .app
                .stats
                .rate_limited
                .inc(Limit::RoomCreates as usize);
            s.notice(
                "rate_limited",
                "too many rooms created from this address; try again later",
            );
            s.outbox.set_reason(Disconnect::RateLimited);
            s.outbox
                .close_with(Some(ws::close_frame(1008, "room creation rate limit")));
            return false;
        }
        let member = Member {
            conn: s.entry.id,
            outbox: s.outbox.clone(),
        };
        let room = shard.app.relay.join(&self.room_id, member);
        self.joined = Some(Joined {
            shard: shard.clone(),
            room,
            conn: s.entry.id,
        });
        true
    }

    fn message(&mut self, s: &Session<'_>, text: bool, payload: &[u8]) -> Flow {
        let shard = s.shard;
        let st = &shard.app.stats;
        let Some(joined) = &self.joined else {
            return Flow::Stop;
        };
        if shard.app.chaos_error() {
            s.trace.chaos("error");
            s.trace.span().in_scope(|| {
                tracing::warn!(
                    conn = s.entry.id,
                    room = %self.room_id,
                    chaos.injected = true,
                    "chaos.type" = "error",
                    "chaos: dropped a websocket message"
                )
            });
            s.notice("chaos_injected", "message dropped by chaos injection");
            return Flow::Continue;
        }
        let op = if text { Data::Text } else { Data::Binary };
        let hooks = shard.app.config.server.test_hooks;
        let handled = std::panic::catch_unwind(AssertUnwindSafe(|| {
            if hooks && text && payload == TEST_PANIC_MESSAGE {
                panic!("test hook: panic inside a room handler");
            }
            let frame = ws::encode(OpCode::Data(op), payload);
            let d = joined.room.broadcast(s.entry.id, &frame, |ob| {
                ob.set_reason(Disconnect::SlowConsumer);
                ob.kill(Some(ws::close_frame(1008, "slow consumer")));
            });
            (d, frame)
        }));
        match handled {
            Ok((d, frame)) => {
                // Other nodes' members: one publish of the same bytes, whatever their number.
                if let Some(i) = &self.interest {
                    i.publish(&frame);
                }
                s.trace.delivered(d.delivered);
                st.ws_messages_out_total
                    .set(st.ws_messages_out_total.get() + d.delivered);
                st.frames_out.add(FrameOut::Relay as usize, d.delivered);
                st.slow_consumers_total
                    .set(st.slow_consumers_total.get() + d.slow);
                Flow::Continue
            }
            Err(_) => {
                st.crashes.inc(CrashScope::Room as usize);
                crate::telemetry::report::panic_caught_in(
                    "room",
                    Some(self.room_id.as_str()),
                    s.trace.span(),
                );
                s.trace.span().in_scope(|| {
                    log!(
                        Error,
                        "panic in room handler: closing the room",
                        room = self.room_id,
                        conn = s.entry.id
                    )
                });
                close_room(
                    shard,
                    &joined.room,
                    &ws::close_frame(1011, "internal error"),
                );
                Flow::Stop
            }
        }
    }

    fn rate_limited(&mut self, s: &Session<'_>, _ping: bool, strikes: u32) {
        if strikes == 1 {
            s.notice(
                "rate_limited",
                "message rate limit exceeded; message dropped",
            );
        }
    }

    fn has_work(&self) -> bool {
        self.delay
    }

    async fn after_batch(&mut self, s: &Session<'_>) -> Next {
        if let Some(d) = s.shard.app.chaos_delay() {
            s.trace.chaos("latency");
            glommio::timer::sleep(d).await;
        }
        Next::Continue
    }

    async fn close(&mut self, _s: &Session<'_>) {
        self.joined = None;
        self.interest = None;
    }
}

/// A frame a member on another node sent to room `room` of this shard: every local member
/// gets it (the sender is not here).
pub fn deliver_remote(shard: &Shard, room: &str, frame: Vec<u8>) {
    let Some(room) = RoomId::parse(room)
        .ok()
        .and_then(|id| shard.app.relay.get(&id))
    else {
        return;
    };
    let frame: Frame = frame.into();
    let d = room.broadcast(u64::MAX, &frame, |ob| {
        ob.set_reason(Disconnect::SlowConsumer);
        ob.kill(Some(ws::close_frame(1008, "slow consumer")));
    });
    let st = &shard.app.stats;
    st.ws_messages_out_total
        .set(st.ws_messages_out_total.get() + d.delivered);
    st.frames_out.add(FrameOut::Relay as usize, d.delivered);
    st.slow_consumers_total
        .set(st.slow_consumers_total.get() + d.slow);
}
