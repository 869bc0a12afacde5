//! A relay WebSocket session on the shard that owns its room.
//!
//! The reader task decodes frames straight out of the shard's scratch buffer
//! and broadcasts each data message as one encoded frame shared by every other
//! member; the writer task drains this connection's outbox with vectored
//! sends. Payloads are relayed unchanged and never parsed, stored or logged.

use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Instant;

use glommio::net::TcpStream;
use glommio::spawn_local;
use shards::outbox::OutState;
use shards::room::Member;
use shards::{stats, Outbox, RoomId};
use tungstenite::protocol::frame::coding::{Control, Data, OpCode};

use crate::io::{self, Stream};
use crate::shard::{fd_of, ConnEntry, Shard};
use crate::ws::{self, Decoder, Flow, WsError, WsEvent};

/// Serve a socket handed over by another shard.
pub async fn adopt(
    shard: Rc<Shard>,
    stream: TcpStream,
    peer: SocketAddr,
    room: RoomId,
    pending: Vec<u8>,
) {
    let entry = shard.register(fd_of(&stream), peer);
    run(&shard, Rc::new(RefCell::new(stream)), &entry, room, pending).await;
    shard.deregister(&entry);
}

/// Run the session until the socket closes.
pub async fn run(
    shard: &Rc<Shard>,
    stream: Rc<Stream>,
    entry: &Rc<ConnEntry>,
    room_id: RoomId,
    mut partial: Vec<u8>,
) {
    let cfg = shard.config.clone();
    let outbox = Outbox::new(cfg.ws_max_buffered_bytes);
    *entry.outbox.borrow_mut() = Some(outbox.clone());
    entry.last_ping.set(Instant::now());
    stats::inc(&shard.stats.websockets);
    let room = shard.rooms.join(
        &room_id,
        Member {
            conn: entry.id,
            outbox: outbox.clone(),
        },
    );
    let writer = spawn_local(writer(stream.clone(), entry.fd, outbox.clone()));

    let mut decoder = Decoder::new(cfg.ws_max_message_bytes);
    let slow_close = ws::close_frame(1008, "slow consumer");
    let mut done = false;
    // Handle one decoded event; returns whether to stop reading.
    let mut on_event = |ev: WsEvent<'_>| -> Flow {
        match ev {
            WsEvent::Message { text, payload } => {
                stats::inc(&shard.stats.ws_messages_in_total);
                let op = if text { Data::Text } else { Data::Binary };
                let frame = ws::encode(OpCode::Data(op), payload);
                let d = room.broadcast(entry.id, &frame, |ob| ob.kill(Some(slow_close.clone())));
                let s = &shard.stats;
                s.ws_messages_out_total
                    .set(s.ws_messages_out_total.get() + d.delivered);
                s.slow_consumers_total
                    .set(s.slow_consumers_total.get() + d.slow);
                Flow::Continue
            }
            WsEvent::Ping(p) => {
                let _ = outbox.push_control(ws::encode(OpCode::Control(Control::Pong), p));
                Flow::Continue
            }
            WsEvent::Pong(_) => {
                entry.ping_sent.set(None);
                Flow::Continue
            }
            WsEvent::Close { code, .. } => {
                // Echo the peer's code (1000 for an empty close), then close.
                outbox.close_with(Some(ws::close_frame(code.unwrap_or(1000), "")));
                Flow::Stop
            }
        }
    };
    let fail = |e: WsError| {
        stats::inc(&shard.stats.ws_protocol_errors_total);
        outbox.close_with(Some(ws::close_frame(e.close_code(), e.reason())));
    };

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
        let result = if partial.is_empty() {
            let mut s = shard.scratch.borrow_mut();
            let r = decoder.decode(&mut s[..n], &mut on_event);
            if let Ok(used) = r {
                if used < n {
                    partial.extend_from_slice(&s[used..n]);
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
        if let Err(e) = result {
            fail(e);
            done = true;
        }
    }

    shard.rooms.leave(&room, entry.id);
    stats::dec(&shard.stats.websockets);
    if outbox.state() == OutState::Open {
        // The peer went away without a close frame.
        outbox.kill(None);
    }
    // Bound the time the writer may take to flush the final frames.
    entry
        .deadline
        .set(Some(Instant::now() + cfg.ws_close_timeout));
    writer.await;
    *entry.outbox.borrow_mut() = None;
}

/// Drain the outbox into the socket until the session closes.
async fn writer(stream: Rc<Stream>, fd: i32, outbox: Rc<Outbox>) {
    loop {
        std::future::poll_fn(|cx| outbox.poll_ready(cx)).await;
        match outbox.state() {
            OutState::Open => {
                if io::flush_outbox(&stream, fd, &outbox).await.is_err() {
                    outbox.kill(None);
                    io::shutdown(fd);
                    return;
                }
            }
            OutState::Closing => {
                // Flush the final frames; the reader or the deadline ends the socket.
                if io::flush_outbox(&stream, fd, &outbox).await.is_err() {
                    io::shutdown(fd);
                }
                return;
            }
            OutState::Dead => {
                // Best effort: one non-blocking send of what is left, then close.
                let _ = io::try_send_outbox(fd, &outbox);
                io::shutdown(fd);
                return;
            }
        }
    }
}
