//! Test hook `GET /ws/_test/echo` (only with `--test-hooks` / `ROOMCORE_TEST_HOOKS=1`;
//! otherwise the path answers 404): a WebSocket that sends every data message back to its
//! sender unchanged, text as text and binary as binary.
//!
//! It exists so a conformance suite (Autobahn|Testsuite cases 1–7 and 10, run by
//! `engine/tests/autobahn.rs`) can exercise the WebSocket code the relay and game sessions
//! share: the same [`Decoder`] (limits, UTF-8, fragmentation, control-frame and close rules),
//! the same per-socket message rates, [`Outbox`] and writer ([`io::run_writer`]), and the same
//! connection entry, so pings, deadlines and the drain treat it like any other WebSocket. The
//! session lives on the shard that accepted it (no room, no hand-off).

use std::cell::Cell;
use std::net::IpAddr;
use std::rc::Rc;
use std::time::Instant;

use glommio::spawn_local;
use shards::outbox::{OutState, PushError};
use shards::stats::{Disconnect, FrameIn, FrameOut, Limit, Validation};
use shards::{stats, Outbox};
use tungstenite::protocol::frame::coding::{Control, Data, OpCode};

use crate::io::{self, Stream};
use crate::limits::{self, Admit, WsRate};
use crate::shard::{ConnEntry, Shard};
use crate::ws::{self, Decoder, Flow, WsError, WsEvent};

/// The path of the echo endpoint.
pub const PATH: &str = "/ws/_test/echo";

/// Run an echo session whose `101` answer was already written, until the socket closes; then
/// give back the WebSocket slot of `slot_ip`. `partial` holds bytes the client sent right
/// after its handshake.
pub async fn run(
    shard: &Rc<Shard>,
    stream: Rc<Stream>,
    entry: &Rc<ConnEntry>,
    slot_ip: Option<IpAddr>,
    mut partial: Vec<u8>,
) {
    let cfg = shard.config.clone();
    let outbox = Outbox::new(cfg.ws.max_buffered_bytes);
    *entry.outbox.borrow_mut() = Some(outbox.clone());
    entry.last_ping.set(Instant::now());
    stats::inc(&shard.stats.websockets);
    let writer = spawn_local(io::run_writer(stream.clone(), entry.fd, outbox.clone()));

    let mut decoder = Decoder::new(cfg.ws.max_message_bytes);
    let mut rate = WsRate::new(Instant::now());
    let batch_now = Cell::new(Instant::now());
    let s = &shard.stats;
    let mut on_event = |ev: WsEvent<'_>| -> Flow {
        // Data messages and pings count against the socket's rate limits, as on a relay.
        let counted = match &ev {
            WsEvent::Message { text, payload } => {
                let kind = if *text {
                    FrameIn::Text
                } else {
                    FrameIn::Binary
                };
                s.frames_in.inc(kind as usize);
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
            let verdict = rate.admit(&cfg.limits, len, batch_now.get());
            if verdict != Admit::Ok {
                let which = if verdict == Admit::Bytes {
                    Limit::WsBytes
                } else {
                    Limit::WsMessages
                };
                s.rate_limited.inc(which as usize);
                if cfg.limits.ws_rate_limit_close_after > 0
                    && rate.strikes >= cfg.limits.ws_rate_limit_close_after
                {
                    outbox.set_reason(Disconnect::RateLimited);
                    outbox.close_with(Some(ws::close_frame(1008, "rate limit exceeded")));
                    return Flow::Stop;
                }
                return Flow::Continue;
            }
        }
        match ev {
            WsEvent::Message { text, payload } => {
                let op = if text { Data::Text } else { Data::Binary };
                // Bounded by WS_MAX_BUFFERED_BYTES like a relayed message: a peer that does
                // not read its echoes is a slow consumer.
                match outbox.push(ws::encode(OpCode::Data(op), payload)) {
                    Ok(()) => {
                        s.frames_out.inc(FrameOut::Relay as usize);
                        Flow::Continue
                    }
                    Err(PushError::Full) => {
                        stats::inc(&s.slow_consumers_total);
                        outbox.set_reason(Disconnect::SlowConsumer);
                        outbox.kill(Some(ws::close_frame(1008, "slow consumer")));
                        Flow::Stop
                    }
                    Err(PushError::Closed) => Flow::Stop,
                }
            }
            WsEvent::Ping(p) => {
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
        stats::inc(&s.ws_protocol_errors_total);
        s.validation_errors.inc(Validation::Ws as usize);
        outbox.set_reason(Disconnect::ProtocolError);
        outbox.close_with(Some(ws::close_frame(e.close_code(), e.reason())));
        s.frames_out.inc(FrameOut::Close as usize);
    };

    let mut done = false;
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
        batch_now.set(Instant::now());
        let result = if partial.is_empty() {
            let mut buf = shard.scratch.borrow_mut();
            decoder.decode(&mut buf[..n], &mut on_event).map(|used| {
                partial.extend_from_slice(&buf[used..n]);
            })
        } else {
            partial.extend_from_slice(&shard.scratch.borrow()[..n]);
            decoder.decode(&mut partial, &mut on_event).map(|used| {
                partial.drain(..used);
            })
        };
        if let Err(e) = result {
            fail(e);
            done = true;
        }
    }

    if outbox.state() == OutState::Open {
        // The peer went away without a close frame.
        outbox.set_reason(Disconnect::Eof);
        outbox.kill(None);
    }
    // Bound the time the writer may take to flush the final frames.
    entry
        .deadline
        .set(Some(Instant::now() + cfg.ws.close_timeout));
    writer.await;
    s.disconnects
        .inc(outbox.reason().unwrap_or(Disconnect::Eof) as usize);
    stats::dec(&s.websockets);
    *entry.outbox.borrow_mut() = None;
    if let Some(ip) = slot_ip {
        limits::release_ws_slot(shard, ip);
    }
}
