//! One typed WebSocket session of `GET /ws`.
//!
//! The reader decodes frames from the shard's scratch buffer (as relay
//! sessions do) and queues the text messages; each is then parsed
//! ([`protocol::parse`]) and handled in order, which may await (storage,
//! other shards). Every refused message gets a typed `error` reply echoing
//! its `seq`; only WebSocket protocol violations close the socket. The writer
//! drains the session's outbox.
//!
//! A session lives on the shard that accepted it until it joins (or
//! reconnects to) a room owned by another shard: then it stops reading at the
//! message boundary, lets its writer flush, and moves — dup'ed fd, session
//! state, undecoded bytes and the messages still to handle — to the owner in
//! `GameMsg::Adopt`, which replays the `join_room`/`reconnect` there. From
//! then on every message of the room is handled on the room's core.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{FromRawFd, IntoRawFd, OwnedFd};
use std::rc::Rc;
use std::time::Instant;

use glommio::net::TcpStream;
use glommio::spawn_local;
use serde_json::{json, Value};
use shards::outbox::OutState;
use shards::stats::{Disconnect, Limit};
use shards::{stats, Outbox};
use tungstenite::protocol::frame::coding::{Control, Data, OpCode};

use super::actions::{Next, Session};
use super::{GameMsg, Moving, SessionState};
use crate::io::{self, Stream};
use crate::limits::{self, Admit, WsRate};
use crate::shard::{fd_of, ConnEntry, Shard};
use crate::ws::{self, Decoder, Flow, WsError, WsEvent};
use crate::{conn, log};

/// Serve a session socket handed over by another shard.
pub async fn adopt(shard: Rc<Shard>, m: Box<Moving>) {
    let Moving {
        fd,
        peer,
        slot_ip,
        state,
        inbox,
        pending,
    } = *m;
    // SAFETY: the fd was dup'ed for us by the sending shard and is owned by
    // `fd`; ownership passes to the new stream.
    let stream = unsafe { TcpStream::from_raw_fd(fd.into_raw_fd()) };
    let entry = shard.register(fd_of(&stream), peer);
    let work = run(
        &shard,
        Rc::new(RefCell::new(stream)),
        &entry,
        slot_ip,
        pending,
        state,
        inbox,
    );
    conn::guarded(&shard, &entry, work).await;
}

/// One JSON text frame.
pub(super) fn text(v: &Value) -> shards::Frame {
    ws::encode(OpCode::Data(Data::Text), v.to_string().as_bytes())
}

/// Run the session until the socket closes or moves to another shard.
/// `slot_ip` holds a WebSocket slot (per-IP limits), given back at the end
/// (or carried along when the socket moves).
pub async fn run(
    shard: &Rc<Shard>,
    stream: Rc<Stream>,
    entry: &Rc<ConnEntry>,
    slot_ip: Option<IpAddr>,
    mut partial: Vec<u8>,
    state: SessionState,
    replay: Vec<Vec<u8>>,
) {
    let cfg = shard.config.clone();
    let outbox = Outbox::new(cfg.ws.max_buffered_bytes);
    *entry.outbox.borrow_mut() = Some(outbox.clone());
    entry.last_ping.set(Instant::now());
    stats::inc(&shard.stats.websockets);
    let writer = spawn_local(io::run_writer(stream.clone(), entry.fd, outbox.clone()));
    let mut s = Session {
        shard,
        entry,
        outbox: outbox.clone(),
        state,
        room: None,
    };
    let inbox: RefCell<VecDeque<Vec<u8>>> = RefCell::new(replay.into());
    let mut decoder = Decoder::new(cfg.ws.max_message_bytes);
    let mut rate = WsRate::new(Instant::now());
    let mut done = false;
    let mut migrate_to = None;
    'outer: loop {
        loop {
            let next = inbox.borrow_mut().pop_front();
            let Some(msg) = next else { break };
            if outbox.state() != OutState::Open {
                break 'outer;
            }
            match s.handle(&msg).await {
                Next::Continue => {}
                Next::Migrate(owner) => {
                    inbox.borrow_mut().push_front(msg);
                    migrate_to = Some(owner);
                    break 'outer;
                }
            }
        }
        if done || outbox.state() != OutState::Open {
            break;
        }
        // Counts a message or ping against the socket's rate limits; after
        // WS_RATE_LIMIT_CLOSE_AFTER refusals in a row the socket is closed with 1008.
        let admitted = |rate: &mut WsRate, len: usize| -> bool {
            let verdict = rate.admit(&cfg.limits, len, Instant::now());
            if verdict == Admit::Ok {
                return true;
            }
            let which = if verdict == Admit::Bytes {
                Limit::WsBytes
            } else {
                Limit::WsMessages
            };
            shard.stats.rate_limited.inc(which as usize);
            if cfg.limits.ws_rate_limit_close_after > 0
                && rate.strikes >= cfg.limits.ws_rate_limit_close_after
            {
                log!(
                    Info,
                    "websocket closed for flooding",
                    conn = entry.id,
                    client = entry.peer.ip()
                );
                outbox.set_reason(Disconnect::RateLimited);
                outbox.close_with(Some(ws::close_frame(1008, "rate limit exceeded")));
            }
            false
        };
        let mut on_event = |ev: WsEvent<'_>| -> Flow {
            match ev {
                WsEvent::Message {
                    text: is_text,
                    payload,
                } => {
                    stats::inc(&shard.stats.ws_messages_in_total);
                    if !admitted(&mut rate, payload.len()) {
                        if outbox.state() == OutState::Open {
                            let _ = outbox.push_control(text(&json!({
                                "type": "error", "code": "rate_limited",
                                "message": "message rate limit exceeded; message dropped"})));
                        }
                        return Flow::Continue;
                    }
                    if is_text {
                        inbox.borrow_mut().push_back(payload.to_vec());
                    } else {
                        let _ = outbox.push_control(text(&json!({
                            "type": "error", "code": "invalid_message",
                            "message": "binary messages are not supported; send JSON text"})));
                    }
                    Flow::Continue
                }
                WsEvent::Ping(p) => {
                    // Pings count against the message rate (a ping costs a pong); one over it
                    // is dropped unanswered.
                    if !admitted(&mut rate, p.len()) {
                        return Flow::Continue;
                    }
                    // Refused only when the peer lets control frames pile up unread (the
                    // outbox then drops it as a slow consumer).
                    match outbox.push_control(ws::encode(OpCode::Control(Control::Pong), p)) {
                        Ok(()) => Flow::Continue,
                        Err(_) => Flow::Stop,
                    }
                }
                WsEvent::Pong(_) => {
                    entry.ping_sent.set(None);
                    Flow::Continue
                }
                WsEvent::Close { code, .. } => {
                    outbox.set_reason(Disconnect::ClientClose);
                    outbox.close_with(Some(ws::close_frame(code.unwrap_or(1000), "")));
                    Flow::Stop
                }
            }
        };
        let fail = |e: WsError| {
            stats::inc(&shard.stats.ws_protocol_errors_total);
            outbox.set_reason(Disconnect::ProtocolError);
            outbox.close_with(Some(ws::close_frame(e.close_code(), e.reason())));
        };
        if !partial.is_empty() && !decoder.in_fragment() {
            // Bytes that arrived with the handshake (or the hand-off).
            match decoder.decode(&mut partial, &mut on_event) {
                Ok(n) => {
                    partial.drain(..n);
                }
                Err(e) => {
                    fail(e);
                    done = true;
                }
            }
            if !inbox.borrow().is_empty() || done {
                continue;
            }
        }
        let n = match io::read_some(&stream, &shard.scratch).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        partial.extend_from_slice(&shard.scratch.borrow()[..n]);
        match decoder.decode(&mut partial, &mut on_event) {
            Ok(used) => {
                partial.drain(..used);
                if partial.is_empty() {
                    partial = Vec::new();
                }
            }
            Err(e) => {
                fail(e);
                done = true;
            }
        }
    }

    if let Some(owner) = migrate_to {
        if s.room.is_some() {
            s.leave(false);
        }
        // Flush what is queued, then hand the socket over.
        outbox.close_with(None);
        entry
            .deadline
            .set(Some(Instant::now() + cfg.ws.close_timeout));
        writer.await;
        entry.deadline.set(None);
        stats::dec(&shard.stats.websockets);
        *entry.outbox.borrow_mut() = None;
        let inbox = inbox.into_inner();
        hand_off(
            shard, stream, entry.peer, owner, slot_ip, s.state, inbox, partial,
        )
        .await;
        return;
    }
    s.end().await;
    if outbox.state() == OutState::Open {
        outbox.set_reason(Disconnect::Eof);
        outbox.kill(None);
    }
    entry
        .deadline
        .set(Some(Instant::now() + cfg.ws.close_timeout));
    writer.await;
    let reason = outbox.reason().unwrap_or(Disconnect::Eof);
    shard.stats.disconnects.inc(reason as usize);
    stats::dec(&shard.stats.websockets);
    *entry.outbox.borrow_mut() = None;
    if let Some(ip) = slot_ip {
        limits::release_ws_slot(shard, ip);
    }
}

#[allow(clippy::too_many_arguments)]
async fn hand_off(
    shard: &Rc<Shard>,
    stream: Rc<Stream>,
    peer: SocketAddr,
    owner: usize,
    slot_ip: Option<IpAddr>,
    state: SessionState,
    inbox: VecDeque<Vec<u8>>,
    pending: Vec<u8>,
) {
    let fd = fd_of(&stream.borrow());
    // SAFETY: dup of a socket we own; the copy is owned by `OwnedFd` and the
    // original is closed when `stream` drops.
    let dup = unsafe { libc::dup(fd) };
    drop(stream);
    let release = || {
        if let Some(ip) = slot_ip {
            limits::release_ws_slot(shard, ip);
        }
    };
    if dup < 0 {
        log!(Warn, "cannot hand game socket to owner shard");
        release();
        return;
    }
    // SAFETY: `dup` is a fresh descriptor nobody else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(dup) };
    let msg = GameMsg::Adopt(Box::new(Moving {
        fd,
        peer,
        slot_ip,
        state,
        inbox: inbox.into_iter().collect(),
        pending,
    }));
    let boxed: Box<dyn std::any::Any + Send> = Box::new(msg);
    match shard
        .mesh
        .send(owner, shards::ShardMsg::Game { msg: boxed })
        .await
    {
        Ok(()) => stats::inc(&shard.stats.migrated_out_total),
        Err(e) => {
            log!(Warn, "cannot hand game socket to owner shard", error = e);
            release();
        }
    }
}
