//! A relay WebSocket session on the shard that owns its room.
//!
//! The reader task decodes frames straight out of the shard's scratch buffer
//! and broadcasts each data message as one encoded frame shared by every other
//! member; the writer task drains this connection's outbox with vectored
//! sends. Payloads are relayed unchanged and never parsed, stored or logged
//! (the one exception is a test hook, enabled only by `ROOMCORE_TEST_HOOKS`).
//! Per-socket message rates are enforced here; a panic while handling a room
//! message closes that room only.

use std::cell::RefCell;
use std::net::{IpAddr, SocketAddr};
use std::panic::AssertUnwindSafe;
use std::rc::Rc;
use std::time::Instant;

use glommio::net::TcpStream;
use glommio::spawn_local;
use shards::outbox::OutState;
use shards::room::Member;
use shards::stats::{CrashScope, Disconnect, FrameIn, FrameOut, Limit, Validation};
use shards::{stats, Frame, Outbox, RoomId};
use tungstenite::protocol::frame::coding::{Control, Data, OpCode};

use crate::conn;
use crate::io::{self, Stream};
use crate::limits::{self, Admit, RateClass, WsRate};
use crate::shard::{fd_of, ConnEntry, Shard};
use crate::ws::{self, Decoder, Flow, WsError, WsEvent};

/// The text message that panics inside a room handler when test hooks are on.
pub const TEST_PANIC_MESSAGE: &[u8] = b"__roomcore_test_panic__";

/// How a relay session starts: its room, the client IP holding a WebSocket slot (given back
/// when the session ends), bytes the client sent after its handshake that were already read,
/// and the `101` answer, which the session sends as the socket joins the room (no await
/// between the two), so a client that has its 101 receives every message sent after it.
pub struct Start {
    pub room: RoomId,
    pub slot_ip: Option<IpAddr>,
    pub pending: Vec<u8>,
    pub handshake: Vec<u8>,
}

/// A [`Start`] whose 101 waits at the head of the session's outbox (so the session future,
/// held by every idle socket, carries no copy of it).
pub struct Prepared {
    room: RoomId,
    slot_ip: Option<IpAddr>,
    pending: Vec<u8>,
    outbox: Rc<Outbox>,
}

impl Start {
    /// The session's outbox, created with the 101 in it.
    pub fn prepare(self, cfg: &crate::config::Config) -> Prepared {
        let outbox = Outbox::new(cfg.ws.max_buffered_bytes);
        let _ = outbox.push_control(self.handshake.into());
        Prepared {
            room: self.room,
            slot_ip: self.slot_ip,
            pending: self.pending,
            outbox,
        }
    }
}

/// Serve a socket handed over by another shard.
pub async fn adopt(shard: Rc<Shard>, stream: TcpStream, peer: SocketAddr, start: Prepared) {
    let entry = shard.register(fd_of(&stream), peer);
    let work = run(&shard, Rc::new(RefCell::new(stream)), &entry, start);
    conn::guarded(&shard, &entry, work).await;
}

fn notice(code: &str, message: &str) -> Frame {
    let body = serde_json::json!({"type": "error", "code": code, "message": message});
    ws::encode(OpCode::Data(Data::Text), body.to_string().as_bytes())
}

/// Run the session until the socket closes, then give back the WebSocket slot (per-IP and
/// total limits) of `start.slot_ip`.
pub async fn run(shard: &Rc<Shard>, stream: Rc<Stream>, entry: &Rc<ConnEntry>, start: Prepared) {
    let Prepared {
        room,
        slot_ip,
        pending,
        outbox,
    } = start;
    let client = slot_ip.unwrap_or(entry.peer.ip());
    session(shard, stream, entry, room, client, pending, outbox).await;
    if let Some(ip) = slot_ip {
        limits::release_ws_slot(shard, ip);
    }
}

async fn session(
    shard: &Rc<Shard>,
    stream: Rc<Stream>,
    entry: &Rc<ConnEntry>,
    room_id: RoomId,
    client: IpAddr,
    mut partial: Vec<u8>,
    outbox: Rc<Outbox>,
) {
    let cfg = shard.config.clone();
    entry.last_ping.set(Instant::now());
    stats::inc(&shard.stats.websockets);
    let writer = spawn_local(io::run_writer(stream.clone(), entry.fd, outbox.clone()));

    // Creating a room counts against the creator's per-minute allowance.
    let allowed =
        if !shard.rooms.contains(&room_id) && cfg.limits.max_room_creates_per_ip_per_min > 0 {
            let d = limits::rate_check(
                shard,
                client,
                RateClass::RoomCreate,
                cfg.limits.max_room_creates_per_ip_per_min,
            )
            .await;
            d.allowed
        } else {
            true
        };
    // The 101 leads the outbox; it goes out now, before anything else can be queued for this
    // socket (broadcasts, pings, shutdown notices: the outbox is reachable only after it), and
    // the join follows with no await in between, so a client holding its 101 gets every
    // message sent after it. A fresh socket takes it at once; what it would not take, the
    // writer sends first.
    let answered = io::try_send_outbox(entry.fd, &outbox).is_ok();
    *entry.outbox.borrow_mut() = Some(outbox.clone());
    if !answered {
        outbox.kill(None);
        finish(shard, entry, &outbox, writer).await;
        return;
    }
    if !allowed {
        shard.stats.rate_limited.inc(Limit::RoomCreates as usize);
        let _ = outbox.push_control(notice(
            "rate_limited",
            "too many rooms created from this address; try again later",
        ));
        outbox.set_reason(Disconnect::RateLimited);
        outbox.close_with(Some(ws::close_frame(1008, "room creation rate limit")));
        finish(shard, entry, &outbox, writer).await;
        return;
    }
    let room = shard.rooms.join(
        &room_id,
        Member {
            conn: entry.id,
            outbox: outbox.clone(),
        },
    );
    *entry.room.borrow_mut() = Some(room.clone());

    let mut decoder = Decoder::new(cfg.ws.max_message_bytes);
    let slow_close = ws::close_frame(1008, "slow consumer");
    let crash_close = ws::close_frame(1011, "internal error");
    let mut rate = WsRate::new(Instant::now());
    // One clock read per batch of frames read together, not one per message.
    let batch_now = std::cell::Cell::new(Instant::now());
    let mut room_crashed = false;
    let s = &shard.stats;
    // Handle one decoded event; returns whether to stop reading.
    let mut on_event = |ev: WsEvent<'_>| -> Flow {
        // Data messages and pings count against the socket's rate limits (a ping costs a pong).
        let counted = match &ev {
            WsEvent::Message { text, payload } => {
                s.frames_in.inc(if *text {
                    FrameIn::Text
                } else {
                    FrameIn::Binary
                } as usize);
                stats::inc(&s.ws_messages_in_total);
                Some(payload.len())
            }
            WsEvent::Ping(p) => {
                s.frames_in.inc(FrameIn::Ping as usize);
                Some(p.len())
            }
            _ => None,
        };
        if let Some(len) = counted {
            match rate.admit(&cfg.limits, len, batch_now.get()) {
                Admit::Ok => {}
                verdict => {
                    let which = if verdict == Admit::Bytes {
                        Limit::WsBytes
                    } else {
                        Limit::WsMessages
                    };
                    s.rate_limited.inc(which as usize);
                    if cfg.limits.ws_rate_limit_close_after > 0
                        && rate.strikes >= cfg.limits.ws_rate_limit_close_after
                    {
                        log!(
                            Info,
                            "websocket closed for flooding",
                            conn = entry.id,
                            client = client,
                            room = room_id
                        );
                        outbox.set_reason(Disconnect::RateLimited);
                        outbox.close_with(Some(ws::close_frame(1008, "rate limit exceeded")));
                        return Flow::Stop;
                    }
                    if rate.strikes == 1 {
                        let _ = outbox.push_control(notice(
                            "rate_limited",
                            "message rate limit exceeded; message dropped",
                        ));
                        s.frames_out.inc(FrameOut::Notice as usize);
                    }
                    return Flow::Continue;
                }
            }
        }
        match ev {
            WsEvent::Message { text, payload } => {
                if shard.chaos_error() {
                    log!(
                        Warn,
                        "chaos: dropped a websocket message",
                        conn = entry.id,
                        room = room_id
                    );
                    let _ = outbox.push_control(notice(
                        "chaos_injected",
                        "message dropped by chaos injection",
                    ));
                    return Flow::Continue;
                }
                let op = if text { Data::Text } else { Data::Binary };
                let handled = std::panic::catch_unwind(AssertUnwindSafe(|| {
                    if cfg.server.test_hooks && text && payload == TEST_PANIC_MESSAGE {
                        panic!("test hook: panic inside a room handler");
                    }
                    let frame = ws::encode(OpCode::Data(op), payload);
                    room.broadcast(entry.id, &frame, |ob| {
                        ob.set_reason(Disconnect::SlowConsumer);
                        ob.kill(Some(slow_close.clone()));
                    })
                }));
                match handled {
                    Ok(d) => {
                        s.ws_messages_out_total
                            .set(s.ws_messages_out_total.get() + d.delivered);
                        s.frames_out.add(FrameOut::Relay as usize, d.delivered);
                        s.slow_consumers_total
                            .set(s.slow_consumers_total.get() + d.slow);
                        Flow::Continue
                    }
                    Err(_) => {
                        s.crashes.inc(CrashScope::Room as usize);
                        log!(
                            Error,
                            "panic in room handler: closing the room",
                            room = room_id,
                            conn = entry.id
                        );
                        shard.close_room(&room, &crash_close);
                        room_crashed = true;
                        Flow::Stop
                    }
                }
            }
            WsEvent::Ping(p) => {
                // Refused only when the peer lets control frames pile up unread: the outbox
                // then treats it as a slow consumer and stops.
                match outbox.push_control(ws::encode(OpCode::Control(Control::Pong), p)) {
                    Ok(()) => {
                        s.frames_out.inc(FrameOut::Pong as usize);
                        Flow::Continue
                    }
                    Err(_) => Flow::Stop,
                }
            }
            WsEvent::Pong(_) => {
                s.frames_in.inc(FrameIn::Pong as usize);
                entry.ping_sent.set(None);
                Flow::Continue
            }
            WsEvent::Close { code, .. } => {
                s.frames_in.inc(FrameIn::Close as usize);
                outbox.set_reason(Disconnect::ClientClose);
                // Echo the peer's code (1000 for an empty close), then close.
                outbox.close_with(Some(ws::close_frame(code.unwrap_or(1000), "")));
                s.frames_out.inc(FrameOut::Close as usize);
                Flow::Stop
            }
        }
    };
    let fail = |e: WsError| {
        log!(
            Debug,
            "websocket protocol error",
            conn = entry.id,
            room = room_id,
            reason = e.reason()
        );
        stats::inc(&s.ws_protocol_errors_total);
        s.validation_errors.inc(Validation::Ws as usize);
        outbox.set_reason(Disconnect::ProtocolError);
        outbox.close_with(Some(ws::close_frame(e.close_code(), e.reason())));
        s.frames_out.inc(FrameOut::Close as usize);
    };

    let mut done = false;
    // Bytes that arrived with the handshake come first.
    if !partial.is_empty() {
        match decoder.decode(&mut partial, &mut on_event) {
            Ok(n) => {
                partial.drain(..n);
            }
            Err(e) => {
                fail(e);
                done = true;
            }
        }
    }
    while !done && outbox.state() == OutState::Open {
        let n = match io::read_some(&stream, &shard.scratch).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let started = Instant::now();
        batch_now.set(started);
        let result = if partial.is_empty() {
            let mut buf = shard.scratch.borrow_mut();
            let r = decoder.decode(&mut buf[..n], &mut on_event);
            if let Ok(used) = r {
                if used < n {
                    partial.extend_from_slice(&buf[used..n]);
                }
            }
            r.map(|_| ())
        } else {
            partial.extend_from_slice(&shard.scratch.borrow()[..n]);
            let r = decoder.decode(&mut partial, &mut on_event);
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
            fail(e);
            done = true;
        }
        if let Some(d) = shard.chaos_delay() {
            glommio::timer::sleep(d).await;
        }
    }

    if !room_crashed {
        shard.rooms.leave(&room, entry.id);
    }
    *entry.room.borrow_mut() = None;
    if outbox.state() == OutState::Open {
        // The peer went away without a close frame.
        outbox.set_reason(Disconnect::Eof);
        outbox.kill(None);
    }
    finish(shard, entry, &outbox, writer).await;
}

/// Wait for the writer to flush, then count the ending.
async fn finish(shard: &Shard, entry: &ConnEntry, outbox: &Outbox, writer: glommio::Task<()>) {
    if outbox.state() == OutState::Open {
        outbox.kill(None);
    }
    // Bound the time the writer may take to flush the final frames.
    entry
        .deadline
        .set(Some(Instant::now() + shard.config.ws.close_timeout));
    writer.await;
    let reason = outbox.reason().unwrap_or(Disconnect::Eof);
    shard.stats.disconnects.inc(reason as usize);
    stats::dec(&shard.stats.websockets);
    *entry.outbox.borrow_mut() = None;
}
