//! What a WebSocket endpoint plugs into the session driver: the [`Handler`] trait, and the
//! [`Session`] it is handed with every call (the shard, the connection, its outbox).

use std::net::IpAddr;
use std::rc::Rc;

use shards::{ConnEntry, MovedFd, Outbox};

use crate::app::Shard;
use crate::msg::ShardMsg;
use crate::stats::FrameOut;
use crate::telemetry::spans::SessionTrace;
use crate::ws::{self, Flow};

/// One session as its handler sees it.
pub struct Session<'a> {
    pub shard: &'a Rc<Shard>,
    pub entry: &'a Rc<ConnEntry>,
    /// Frames queued for this socket.
    pub outbox: &'a Rc<Outbox>,
    /// The client's IP (the peer, or the forwarded one from a trusted proxy).
    pub client: IpAddr,
    /// The session's span and its counts.
    pub trace: &'a SessionTrace,
}

impl Session<'_> {
    /// Queue a typed notice `{"type":"error","code":..,"message":..}` (a control frame: it
    /// may pass the data bound by the outbox's headroom).
    pub fn notice(&self, code: &str, message: &str) {
        let body = serde_json::json!({"type": "error", "code": code, "message": message});
        if self
            .outbox
            .push_control(ws::text_frame(body.to_string().as_bytes()))
            .is_ok()
        {
            self.shard
                .app
                .stats
                .frames_out
                .inc(FrameOut::Notice as usize);
        }
    }
}

/// What the session does after a batch of frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    Continue,
    /// Move the socket to this shard (the handler's [`Handler::moved`] says how).
    Move(usize),
}

/// An endpoint's part of a WebSocket session. Every method runs on the session's shard;
/// only [`Handler::open`], [`Handler::after_batch`] and [`Handler::close`] may await.
#[allow(async_fn_in_trait)]
pub trait Handler {
    /// Whether the session runs inside its span (typed protocols: the spans of their messages
    /// are its children). A relay session does not: entering a span on every poll of the
    /// hottest path costs; its rare log lines enter it themselves.
    const IN_SPAN: bool = false;

    /// The session starts (its socket is registered; the outbox is attached to it once this
    /// returns, so nothing queued meanwhile is written before): join a room, send
    /// the 101 if it was left to the session. `false` ends the session at once.
    async fn open(&mut self, _s: &Session<'_>) -> bool {
        true
    }

    /// One data message that passed the rate limits. The payload is borrowed from the
    /// read buffer: copy what must outlive the call.
    fn message(&mut self, s: &Session<'_>, text: bool, payload: &[u8]) -> Flow;

    /// A data message (`ping` false) or a ping was refused by the per-socket rate limits;
    /// `strikes` refusals in a row so far.
    fn rate_limited(&mut self, _s: &Session<'_>, _ping: bool, _strikes: u32) {}

    /// Whether [`Handler::after_batch`] has work: checked after every batch, and before the
    /// first read (messages that travelled with a hand-off).
    fn has_work(&self) -> bool {
        false
    }

    /// After a batch of frames read together, when [`Handler::has_work`] says so: work that
    /// awaits (storage, other shards) on what [`Handler::message`] queued. May ask to move
    /// the socket.
    async fn after_batch(&mut self, _s: &Session<'_>) -> Next {
        Next::Continue
    }

    /// The session ends here (the socket closed or is closing).
    async fn close(&mut self, _s: &Session<'_>) {}

    /// The socket is about to move: leave what this shard holds for it.
    fn leave(&mut self, _s: &Session<'_>) {}

    /// The message that carries the socket, this handler's state and the session's span to
    /// the new owner.
    fn moved(
        self,
        _socket: MovedFd,
        _slot_ip: Option<IpAddr>,
        _pending: Vec<u8>,
        _trace: SessionTrace,
    ) -> Option<ShardMsg>
    where
        Self: Sized,
    {
        None
    }
}

/// A boxed handler is a handler: a session whose handler state is large holds a pointer to
/// it (the typed game protocol's), so every session's future stays small.
impl<H: Handler> Handler for Box<H> {
    const IN_SPAN: bool = H::IN_SPAN;

    async fn open(&mut self, s: &Session<'_>) -> bool {
        (**self).open(s).await
    }

    fn message(&mut self, s: &Session<'_>, text: bool, payload: &[u8]) -> Flow {
        (**self).message(s, text, payload)
    }

    fn rate_limited(&mut self, s: &Session<'_>, ping: bool, strikes: u32) {
        (**self).rate_limited(s, ping, strikes);
    }

    fn has_work(&self) -> bool {
        (**self).has_work()
    }

    async fn after_batch(&mut self, s: &Session<'_>) -> Next {
        (**self).after_batch(s).await
    }

    async fn close(&mut self, s: &Session<'_>) {
        (**self).close(s).await;
    }

    fn leave(&mut self, s: &Session<'_>) {
        (**self).leave(s);
    }

    fn moved(
        self,
        socket: MovedFd,
        slot_ip: Option<IpAddr>,
        pending: Vec<u8>,
        trace: SessionTrace,
    ) -> Option<ShardMsg> {
        (*self).moved(socket, slot_ip, pending, trace)
    }
}
