//! The one WebSocket session driver, generic over a [`Handler`].
//!
//! Owns everything a WebSocket session does whatever its endpoint: the outbox, reading into
//! the shard's scratch buffer and decoding frames in place (only an incomplete frame is
//! copied out), the per-socket message rates, control frames (ping → pong, pong, the close
//! handshake echoing the peer's code), protocol errors (close with the codec's code), the end
//! of the session (flush, count, give the WebSocket slot back) and the hand-off of the socket
//! to another shard when the handler asks for it. A handler (relay room, typed game protocol,
//! test echo) only says what a data message means.
//!
//! One task per connection: the session ([`Driver`], a hand-written future) runs in the
//! connection's task and owns its socket. Frames pushed to its outbox are written by the
//! shard's flusher (`shards::io::run_flusher`), not by a writer task of the session; the
//! session writes only what the flusher could not (a full socket: it waits for room while it
//! goes on reading) and the final frames.
//!
//! Each session carries its span ([`SessionTrace`], one pointer when tracing is off), created
//! at the upgrade, moved with the socket on a hand-off and closed with the close code. A typed
//! session runs inside it ([`Handler::IN_SPAN`]); a relay session does not enter it on every
//! poll (the hottest path): its rare log lines enter it themselves.
//!
//! Must not touch a room, a game or storage: those are the handlers'.

mod driver;
mod events;
mod handler;

use std::future::poll_fn;
use std::net::IpAddr;
use std::rc::Rc;
use std::task::Poll;
use std::time::Instant;

use shards::outbox::OutState;
use shards::stats::{self as counters, Disconnect};
use shards::{io, ConnEntry, Outbox, Socket};

pub use driver::Driver;
pub use handler::{Handler, Next, Session};

use crate::app::Shard;
use crate::limits;
use crate::telemetry::spans::SessionTrace;

/// How a session starts on this shard.
#[derive(Debug, Default)]
pub struct Start {
    /// The client IP holding a WebSocket slot: given back when the session ends, carried
    /// along when the socket moves to another shard.
    pub slot_ip: Option<IpAddr>,
    /// Bytes read after the handshake (or before a hand-off) and not decoded yet.
    pub pending: Vec<u8>,
    /// The `101` answer when it is not written yet: it leads the outbox, so it goes out
    /// before anything else queued for this socket.
    pub handshake: Option<Vec<u8>>,
    /// The session's span and counts (empty when telemetry is off); it moves with the socket.
    pub trace: SessionTrace,
}

/// A WebSocket session with `handler` on this shard, until the socket closes or moves to
/// another shard: the future the connection's task runs.
pub fn run<H: Handler + Unpin + 'static>(
    shard: Rc<Shard>,
    socket: Socket,
    entry: Rc<ConnEntry>,
    start: Start,
    handler: H,
) -> Driver<H> {
    Driver::new(shard, socket, entry, start, handler)
}

/// The boxed steps of a session: each owns what it needs (handles are cheap `Rc` clones), runs
/// inside the session's span when the handler asks for it, and gives the handler and the trace
/// back.
mod steps {
    use tracing::Instrument;

    use super::driver::{Back, Held, Step};
    use super::*;

    /// Box `fut`, inside the session's span if the handler runs in it.
    fn boxed<H: Handler + 'static>(
        span: Option<tracing::Span>,
        fut: impl std::future::Future<Output = Back<H>> + 'static,
    ) -> Step<H> {
        match span {
            Some(span) => Box::pin(fut.instrument(span)),
            None => Box::pin(fut),
        }
    }

    fn span_of<H: Handler>(held: &Held<H>) -> Option<tracing::Span> {
        H::IN_SPAN.then(|| held.trace.span().clone())
    }

    pub(super) fn open<H: Handler + 'static>(
        shard: Rc<Shard>,
        entry: Rc<ConnEntry>,
        outbox: Rc<Outbox>,
        client: IpAddr,
        mut held: Held<H>,
    ) -> Step<H> {
        boxed(span_of(&held), async move {
            let ctx = Session {
                shard: &shard,
                entry: &entry,
                outbox: &outbox,
                client,
                trace: &held.trace,
            };
            let ok = held.h.open(&ctx).await;
            Back::Opened(held, ok)
        })
    }

    pub(super) fn batch<H: Handler + 'static>(
        shard: Rc<Shard>,
        entry: Rc<ConnEntry>,
        outbox: Rc<Outbox>,
        client: IpAddr,
        mut held: Held<H>,
    ) -> Step<H> {
        boxed(span_of(&held), async move {
            let ctx = Session {
                shard: &shard,
                entry: &entry,
                outbox: &outbox,
                client,
                trace: &held.trace,
            };
            let next = held.h.after_batch(&ctx).await;
            Back::Batch(held, next)
        })
    }

    /// The session ends here: the handler closes, the final frames are flushed, the span is
    /// closed with the close code, the counts and the WebSocket slot are given back.
    pub(super) fn closed<H: Handler + 'static>(
        shard: Rc<Shard>,
        entry: Rc<ConnEntry>,
        outbox: Rc<Outbox>,
        socket: Socket,
        mut held: Held<H>,
        slot_ip: Option<IpAddr>,
    ) -> Step<H> {
        boxed(span_of(&held), async move {
            let ctx = Session {
                shard: &shard,
                entry: &entry,
                outbox: &outbox,
                client: slot_ip.unwrap_or(entry.peer.ip()),
                trace: &held.trace,
            };
            held.h.close(&ctx).await;
            if outbox.state() == OutState::Open {
                // The peer went away without a close frame.
                outbox.set_reason(Disconnect::Eof);
                outbox.kill(None);
            }
            finish(&shard, &entry, &outbox, &socket).await;
            let reason = outbox.reason().unwrap_or(Disconnect::Eof);
            held.trace.closed(reason);
            shard.app.stats.disconnects.inc(reason as usize);
            if let Some(ip) = slot_ip {
                limits::release_ws_slot(&shard, ip);
            }
            Back::Done
        })
    }

    /// The handler asked to move: leave, flush what is queued, hand the socket (and the span)
    /// over.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn moved<H: Handler + 'static>(
        shard: Rc<Shard>,
        entry: Rc<ConnEntry>,
        outbox: Rc<Outbox>,
        socket: Socket,
        mut held: Held<H>,
        slot_ip: Option<IpAddr>,
        owner: usize,
        pending: Vec<u8>,
    ) -> Step<H> {
        boxed(span_of(&held), async move {
            let ctx = Session {
                shard: &shard,
                entry: &entry,
                outbox: &outbox,
                client: slot_ip.unwrap_or(entry.peer.ip()),
                trace: &held.trace,
            };
            held.h.leave(&ctx);
            outbox.close_with(None);
            finish(&shard, &entry, &outbox, &socket).await;
            entry.deadline.set(None);
            held.trace.moved(owner);
            hand_off(&shard, socket, &entry, owner, slot_ip, pending, held).await;
            Back::Done
        })
    }
}

/// Write the final frames within `WS_CLOSE_TIMEOUT` (the housekeeping tick shuts the socket
/// down past it) and take the session out of the connection table's view. A closing outbox
/// is flushed; a dead one gets one non-blocking attempt, then the socket is shut down.
async fn finish(shard: &Shard, entry: &ConnEntry, outbox: &Outbox, socket: &Socket) {
    if outbox.state() == OutState::Open {
        outbox.kill(None);
    }
    entry
        .deadline
        .set(Some(Instant::now() + shard.app.config.ws.close_timeout));
    let fd = socket.fd();
    if outbox.state() == OutState::Closing {
        loop {
            match io::send_outbox(fd, outbox) {
                Ok(true) => break,
                Ok(false) => {
                    // Wait for room; a kill (slow consumer, deadline) ends the wait.
                    poll_fn(|cx| {
                        if outbox.state() == OutState::Dead {
                            return Poll::Ready(());
                        }
                        outbox.register(cx);
                        socket.poll_writable(cx)
                    })
                    .await;
                    if outbox.state() == OutState::Dead {
                        io::shutdown(fd);
                        break;
                    }
                }
                Err(_) => {
                    io::shutdown(fd);
                    break;
                }
            }
        }
    } else {
        let _ = io::try_send_outbox(fd, outbox);
        io::shutdown(fd);
    }
    outbox.detach();
    counters::dec(&shard.app.stats.websockets);
    *entry.session.borrow_mut() = None;
}

async fn hand_off<H: Handler>(
    shard: &Rc<Shard>,
    socket: Socket,
    entry: &ConnEntry,
    owner: usize,
    slot_ip: Option<IpAddr>,
    pending: Vec<u8>,
    held: driver::Held<H>,
) {
    let give_back = || {
        if let Some(ip) = slot_ip {
            limits::release_ws_slot(shard, ip);
        }
    };
    let moved = match shard.release(socket, entry.peer) {
        Ok(m) => m,
        Err(e) => {
            log!(Warn, "cannot hand socket to owner shard", error = e);
            return give_back();
        }
    };
    let Some(msg) = held.h.moved(moved, slot_ip, pending, held.trace) else {
        return give_back();
    };
    if let Err(e) = shard.hand_off(owner, msg).await {
        log!(Warn, "cannot hand socket to owner shard", error = e);
        give_back();
    }
}
