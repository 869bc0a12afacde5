//! The one WebSocket session driver, generic over a [`Handler`].
//!
//! Owns everything a WebSocket session does whatever its endpoint: the outbox and its
//! writer task, reading into the shard's scratch buffer and decoding frames in place (only
//! an incomplete frame is copied out), the per-socket message rates, control frames (ping →
//! pong, pong, the close handshake echoing the peer's code), protocol errors (close with the
//! codec's code), the end of the session (flush, count, give the WebSocket slot back) and
//! the hand-off of the socket to another shard when the handler asks for it. A handler
//! (relay room, typed game protocol, test echo) only says what a data message means.
//!
//! Must not touch a room, a game or storage: those are the handlers'.

mod handler;

use std::cell::Cell;
use std::future::Future;
use std::net::IpAddr;
use std::rc::Rc;
use std::time::Instant;

use glommio::spawn_local;
use shards::outbox::OutState;
use shards::stats::{self as counters, Disconnect};
use shards::{io, ConnEntry, Outbox, Stream};
use tungstenite::protocol::frame::coding::{Control, OpCode};

pub use handler::{Handler, Next, Session};

use crate::app::Shard;
use crate::limits::{self, Admit, WsRate};
use crate::stats::{FrameIn, FrameOut, Limit, Validation};
use crate::ws::{self, Decoder, Flow, WsError, WsEvent};

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
}

/// How the read loop ended.
enum End {
    /// The socket closed (or the session ended it).
    Closed,
    /// The handler asked to move to shard `owner`; `pending` is what was not decoded yet.
    Moved { owner: usize, pending: Vec<u8> },
}

/// Run a WebSocket session with `handler` until the socket closes or moves to another shard.
///
/// The awaits a session takes once (the handler's `open`, the end of the session, the
/// hand-off) are boxed: the future that lives as long as the socket holds a pointer for each,
/// not their states (idle memory per WebSocket). Written as a function returning an `async
/// move` block, not an `async fn`: an `async fn` keeps a second copy of its arguments.
pub fn run<'a, H: Handler + 'a>(
    shard: &'a Rc<Shard>,
    stream: Rc<Stream>,
    entry: &'a Rc<ConnEntry>,
    start: Start,
    mut handler: H,
) -> impl Future<Output = ()> + 'a {
    async move {
        let cfg = &shard.app.config;
        let outbox = Outbox::new(cfg.ws.max_buffered_bytes);
        if let Some(h) = start.handshake {
            let _ = outbox.push_control(h.into());
        }
        entry.last_ping.set(Instant::now());
        *entry.session.borrow_mut() = Some(outbox.clone());
        counters::inc(&shard.app.stats.websockets);
        let writer = spawn_local(io::run_writer(stream.clone(), entry.fd, outbox.clone()));
        let ctx = Session {
            shard,
            entry,
            outbox: &outbox,
            client: start.slot_ip.unwrap_or(entry.peer.ip()),
        };
        let end = if Box::pin(handler.open(&ctx)).await {
            read_loop(&ctx, &stream, &mut handler, start.pending).await
        } else {
            End::Closed
        };
        match end {
            End::Closed => Box::pin(closed(&ctx, &mut handler, writer, start.slot_ip)).await,
            End::Moved { owner, pending } => {
                handler.leave(&ctx);
                // Flush what is queued, then hand the socket over.
                outbox.close_with(None);
                let moving = async {
                    finish(shard, entry, &outbox, writer).await;
                    entry.deadline.set(None);
                    hand_off(shard, stream, entry, owner, start.slot_ip, pending, handler).await;
                };
                Box::pin(moving).await;
            }
        }
    }
}

/// The session ends here: the handler closes, the writer flushes, the counts and the
/// WebSocket slot are given back.
async fn closed<H: Handler>(
    ctx: &Session<'_>,
    handler: &mut H,
    writer: glommio::Task<()>,
    slot_ip: Option<IpAddr>,
) {
    let (shard, outbox) = (ctx.shard, ctx.outbox);
    handler.close(ctx).await;
    if outbox.state() == OutState::Open {
        // The peer went away without a close frame.
        outbox.set_reason(Disconnect::Eof);
        outbox.kill(None);
    }
    finish(shard, ctx.entry, outbox, writer).await;
    shard
        .app
        .stats
        .disconnects
        .inc(outbox.reason().unwrap_or(Disconnect::Eof) as usize);
    if let Some(ip) = slot_ip {
        limits::release_ws_slot(shard, ip);
    }
}

/// Bound the time the writer may take to flush the final frames, wait for it, and take the
/// session out of the connection table's view.
async fn finish(shard: &Shard, entry: &ConnEntry, outbox: &Outbox, writer: glommio::Task<()>) {
    if outbox.state() == OutState::Open {
        outbox.kill(None);
    }
    entry
        .deadline
        .set(Some(Instant::now() + shard.app.config.ws.close_timeout));
    writer.await;
    counters::dec(&shard.app.stats.websockets);
    *entry.session.borrow_mut() = None;
}

async fn hand_off<H: Handler>(
    shard: &Rc<Shard>,
    stream: Rc<Stream>,
    entry: &ConnEntry,
    owner: usize,
    slot_ip: Option<IpAddr>,
    pending: Vec<u8>,
    handler: H,
) {
    let give_back = || {
        if let Some(ip) = slot_ip {
            limits::release_ws_slot(shard, ip);
        }
    };
    let moved = match shard.release(stream, entry.peer) {
        Ok(m) => m,
        Err(e) => {
            log!(Warn, "cannot hand socket to owner shard", error = e);
            return give_back();
        }
    };
    let Some(msg) = handler.moved(moved, slot_ip, pending) else {
        return give_back();
    };
    if let Err(e) = shard.hand_off(owner, msg).await {
        log!(Warn, "cannot hand socket to owner shard", error = e);
        give_back();
    }
}

/// Decode, check and hand over every frame until the socket closes, the session closes it,
/// or the handler moves it. (A function returning an `async move` block: see [`run`].)
fn read_loop<'a, H: Handler>(
    ctx: &'a Session<'a>,
    stream: &'a Stream,
    handler: &'a mut H,
    mut partial: Vec<u8>,
) -> impl Future<Output = End> + 'a {
    async move {
        let shard = ctx.shard;
        let s = &shard.app.stats;
        let mut decoder = Decoder::new(shard.app.config.ws.max_message_bytes);
        let mut rate = WsRate::new(Instant::now());
        // One clock read per batch of frames read together, not one per message.
        let batch_now = Cell::new(Instant::now());
        let mut done = false;
        // Bytes that arrived with the handshake (or the hand-off), and messages that travelled
        // with a hand-off, come first.
        if !partial.is_empty() || handler.has_work() {
            let r = decoder.decode(&mut partial, |ev| {
                on_event(ctx, handler, &mut rate, batch_now.get(), ev)
            });
            match r {
                Ok(n) => {
                    partial.drain(..n);
                }
                Err(e) => {
                    fail(ctx, e);
                    done = true;
                }
            }
            if let Next::Move(owner) = handler.after_batch(ctx).await {
                return End::Moved {
                    owner,
                    pending: partial,
                };
            }
        }
        while !done && ctx.outbox.state() == OutState::Open {
            let n = match io::read_some(stream, &shard.scratch).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            let started = Instant::now();
            batch_now.set(started);
            let mut on = |ev: WsEvent<'_>| on_event(ctx, handler, &mut rate, started, ev);
            let result = if partial.is_empty() {
                // The common case: decode in the scratch buffer, keep only an incomplete frame.
                let mut buf = shard.scratch.borrow_mut();
                let r = decoder.decode(&mut buf[..n], &mut on);
                if let Ok(used) = r {
                    if used < n {
                        partial.extend_from_slice(&buf[used..n]);
                    }
                }
                r.map(|_| ())
            } else {
                partial.extend_from_slice(&shard.scratch.borrow()[..n]);
                let r = decoder.decode(&mut partial, &mut on);
                if let Ok(used) = r {
                    partial.drain(..used);
                    if partial.is_empty() {
                        partial = Vec::new();
                    }
                }
                r.map(|_| ())
            };
            s.ws_handle_latency.observe(started.elapsed().as_secs_f64());
            if let Err(e) = result {
                fail(ctx, e);
                done = true;
            }
            if let Next::Move(owner) = handler.after_batch(ctx).await {
                return End::Moved {
                    owner,
                    pending: partial,
                };
            }
        }
        End::Closed
    }
}

/// A protocol violation: close with the codec's code.
fn fail(ctx: &Session<'_>, e: WsError) {
    let s = &ctx.shard.app.stats;
    log!(
        Debug,
        "websocket protocol error",
        conn = ctx.entry.id,
        reason = e.reason()
    );
    counters::inc(&s.ws_protocol_errors_total);
    s.validation_errors.inc(Validation::Ws as usize);
    ctx.outbox.set_reason(Disconnect::ProtocolError);
    ctx.outbox
        .close_with(Some(ws::close_frame(e.close_code(), e.reason())));
    s.frames_out.inc(FrameOut::Close as usize);
}

/// Count a data message or ping against the socket's rates; `false` = refused (the handler
/// was told, and past `WS_RATE_LIMIT_CLOSE_AFTER` refusals in a row the socket closes 1008).
fn admitted<H: Handler>(
    ctx: &Session<'_>,
    handler: &mut H,
    rate: &mut WsRate,
    now: Instant,
    len: usize,
    ping: bool,
) -> Result<bool, Flow> {
    let cfg = &ctx.shard.app.config.limits;
    let verdict = rate.admit(cfg, len, now);
    if verdict == Admit::Ok {
        return Ok(true);
    }
    let which = if verdict == Admit::Bytes {
        Limit::WsBytes
    } else {
        Limit::WsMessages
    };
    ctx.shard.app.stats.rate_limited.inc(which as usize);
    if cfg.ws_rate_limit_close_after > 0 && rate.strikes >= cfg.ws_rate_limit_close_after {
        log!(
            Info,
            "websocket closed for flooding",
            conn = ctx.entry.id,
            client = ctx.client
        );
        ctx.outbox.set_reason(Disconnect::RateLimited);
        ctx.outbox
            .close_with(Some(ws::close_frame(1008, "rate limit exceeded")));
        return Err(Flow::Stop);
    }
    handler.rate_limited(ctx, ping, rate.strikes);
    Ok(false)
}

/// One decoded event.
fn on_event<H: Handler>(
    ctx: &Session<'_>,
    handler: &mut H,
    rate: &mut WsRate,
    now: Instant,
    ev: WsEvent<'_>,
) -> Flow {
    let s = &ctx.shard.app.stats;
    match ev {
        WsEvent::Message { text, payload } => {
            s.frames_in
                .inc(if text { FrameIn::Text } else { FrameIn::Binary } as usize);
            counters::inc(&s.ws_messages_in_total);
            match admitted(ctx, handler, rate, now, payload.len(), false) {
                Ok(true) => handler.message(ctx, text, payload),
                Ok(false) => Flow::Continue,
                Err(stop) => stop,
            }
        }
        WsEvent::Ping(p) => {
            s.frames_in.inc(FrameIn::Ping as usize);
            // Pings count against the message rate (a ping costs a pong); a refused one
            // gets no pong.
            match admitted(ctx, handler, rate, now, p.len(), true) {
                Ok(true) => {}
                Ok(false) => return Flow::Continue,
                Err(stop) => return stop,
            }
            // Refused only when the peer lets control frames pile up unread: the outbox then
            // treats it as a slow consumer and stops.
            match ctx
                .outbox
                .push_control(ws::encode(OpCode::Control(Control::Pong), p))
            {
                Ok(()) => {
                    s.frames_out.inc(FrameOut::Pong as usize);
                    Flow::Continue
                }
                Err(_) => Flow::Stop,
            }
        }
        WsEvent::Pong(_) => {
            s.frames_in.inc(FrameIn::Pong as usize);
            ctx.entry.pong();
            Flow::Continue
        }
        WsEvent::Close { code, .. } => {
            s.frames_in.inc(FrameIn::Close as usize);
            ctx.outbox.set_reason(Disconnect::ClientClose);
            // Echo the peer's code (1000 for an empty close), then close.
            ctx.outbox
                .close_with(Some(ws::close_frame(code.unwrap_or(1000), "")));
            s.frames_out.inc(FrameOut::Close as usize);
            Flow::Stop
        }
    }
}
