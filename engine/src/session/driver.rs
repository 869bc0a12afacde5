//! The session's future: what one WebSocket session holds between two wake-ups.
//!
//! Written by hand, not as an `async fn`, so the state a session keeps while idle is exactly
//! these fields (no copies of arguments, no storage of finished awaits): the connection's
//! handles, the socket, the handler, the decoder, the rate windows and the incomplete frame.
//! What a session does once or now and then (the handler's `open`, its `after_batch`, the
//! close and the hand-off) runs as a boxed step that borrows nothing: it takes the handler and
//! the session's trace (and, for the last steps, the socket) and gives them back when it is
//! done.

use std::cell::RefCell;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Instant;

use shards::outbox::OutState;
use shards::{io, ConnEntry, Outbox, Socket};

use super::events::{fail, on_event};
use super::{steps, Handler, Next, Session, Start};
use crate::app::Shard;
use crate::limits::WsRate;
use crate::telemetry::spans::SessionTrace;
use crate::ws::{Decoder, WsEvent};

/// A boxed step of a session; it gives back what it took.
pub(super) type Step<H> = Pin<Box<dyn Future<Output = Back<H>>>>;

/// What a step takes and gives back: the handler and the session's span (one pointer when
/// tracing is off).
pub(super) struct Held<H> {
    pub(super) h: H,
    pub(super) trace: SessionTrace,
}

/// What a step gives back.
pub(super) enum Back<H> {
    /// `open` ran: the handler, and whether the session goes on.
    Opened(Held<H>, bool),
    /// `after_batch` ran.
    Batch(Held<H>, Next),
    /// The session ended (closed, or handed to another shard).
    Done,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// The handler's `open` runs.
    Opening,
    /// Reading and decoding frames.
    Reading,
    /// A protocol error closed the session: no more reads; it ends after the batch.
    Stopped,
    /// The close or hand-off step runs.
    Ending,
}

/// One WebSocket session on this shard (the future its connection's task runs).
pub struct Driver<H: Handler + Unpin + 'static> {
    /// The step in progress, if any. Declared first: it is dropped before the rest.
    step: Option<Step<H>>,
    shard: Rc<Shard>,
    entry: Rc<ConnEntry>,
    outbox: Rc<Outbox>,
    /// `None` once the last step took it.
    socket: Option<Socket>,
    /// The handler and the trace; `None` while a step holds them.
    held: Option<Held<H>>,
    decoder: Decoder,
    rate: WsRate,
    /// An incomplete frame (empty, and unallocated, between frames).
    partial: Vec<u8>,
    /// The client IP holding a WebSocket slot.
    slot_ip: Option<IpAddr>,
    phase: Phase,
    /// The session waits for the peer's next bytes. A close queued meanwhile by someone else
    /// (the drain's 1001, a relay room closing) does not end the wait: the session goes on
    /// reading until the peer answers (its close frame, or EOF) or the close deadline shuts
    /// the socket down. A close queued by the session itself ends it after the batch.
    waiting: bool,
}

impl<H: Handler + Unpin + 'static> Driver<H> {
    pub(super) fn new(
        shard: Rc<Shard>,
        socket: Socket,
        entry: Rc<ConnEntry>,
        start: Start,
        handler: H,
    ) -> Driver<H> {
        let ws = &shard.app.config.ws;
        let outbox = Outbox::new(ws.max_buffered_bytes);
        if let Some(h) = start.handshake {
            let _ = outbox.push_control(h.into());
        }
        let now = Instant::now();
        entry.last_ping.set(now);
        *entry.session.borrow_mut() = Some(outbox.clone());
        shards::stats::inc(&shard.app.stats.websockets);
        let client = start.slot_ip.unwrap_or(entry.peer.ip());
        let held = Held {
            h: handler,
            trace: start.trace,
        };
        let step = steps::open(shard.clone(), entry.clone(), outbox.clone(), client, held);
        Driver {
            step: Some(step),
            decoder: Decoder::new(ws.max_message_bytes),
            rate: WsRate::new(now),
            shard,
            entry,
            outbox,
            socket: Some(socket),
            held: None,
            partial: start.pending,
            slot_ip: start.slot_ip,
            phase: Phase::Opening,
            waiting: false,
        }
    }

    fn client(&self) -> IpAddr {
        self.slot_ip.unwrap_or(self.entry.peer.ip())
    }

    /// Start the handler's `after_batch` if it has work.
    fn maybe_batch(&mut self) {
        if !self.held.as_ref().is_some_and(|h| h.h.has_work()) {
            return;
        }
        let held = self.held.take().expect("the handler is here between steps");
        self.step = Some(steps::batch(
            self.shard.clone(),
            self.entry.clone(),
            self.outbox.clone(),
            self.client(),
            held,
        ));
    }

    /// The session ends here: the close step takes the handler and the socket.
    fn end(&mut self) {
        self.phase = Phase::Ending;
        let (Some(h), Some(socket)) = (self.held.take(), self.socket.take()) else {
            unreachable!("the close step starts once");
        };
        self.step = Some(steps::closed(
            self.shard.clone(),
            self.entry.clone(),
            self.outbox.clone(),
            socket,
            h,
            self.slot_ip,
        ));
    }

    /// The handler asked to move the socket to shard `owner`.
    fn move_to(&mut self, owner: usize) {
        self.phase = Phase::Ending;
        let (Some(h), Some(socket)) = (self.held.take(), self.socket.take()) else {
            unreachable!("the hand-off step starts once");
        };
        self.step = Some(steps::moved(
            self.shard.clone(),
            self.entry.clone(),
            self.outbox.clone(),
            socket,
            h,
            self.slot_ip,
            owner,
            std::mem::take(&mut self.partial),
        ));
    }

    /// `open` said the session goes on: bytes that arrived with the handshake (or the
    /// hand-off), and messages that travelled with a hand-off, come first.
    fn opened(&mut self) {
        self.phase = Phase::Reading;
        let work = self.held.as_ref().is_some_and(|h| h.h.has_work());
        if !self.partial.is_empty() || work {
            let mut partial = std::mem::take(&mut self.partial);
            match self.decode(&mut partial, Instant::now()) {
                Ok(n) => {
                    partial.drain(..n);
                }
                Err(()) => self.phase = Phase::Stopped,
            }
            self.partial = partial;
            self.maybe_batch();
        }
        if self.partial.is_empty() {
            // An idle session keeps no buffer (this one held the HTTP request).
            self.partial = Vec::new();
        }
    }

    /// Decode the frames at the front of `buf`; `Ok(used)`, or `Err` after a protocol error
    /// (the session closes with its code).
    fn decode(&mut self, buf: &mut [u8], now: Instant) -> Result<usize, ()> {
        let Driver {
            shard,
            entry,
            outbox,
            held,
            decoder,
            rate,
            slot_ip,
            ..
        } = self;
        let Held { h: handler, trace } = held.as_mut().expect("the handler is here between steps");
        let ctx = Session {
            shard,
            entry,
            outbox,
            client: slot_ip.unwrap_or(entry.peer.ip()),
            trace,
        };
        let r = decoder.decode(buf, |ev: WsEvent<'_>| {
            on_event(&ctx, handler, rate, now, ev)
        });
        r.map_err(|e| fail(&ctx, e))
    }

    /// `n` bytes were read into the scratch buffer.
    fn on_read(&mut self, n: usize) {
        let started = Instant::now();
        let shard = self.shard.clone();
        let result = if self.partial.is_empty() {
            // The common case: decode in the scratch buffer, keep only an incomplete frame.
            let mut buf = shard.scratch.borrow_mut();
            let r = self.decode(&mut buf[..n], started);
            if let Ok(used) = r {
                if used < n {
                    self.partial.extend_from_slice(&buf[used..n]);
                }
            }
            r
        } else {
            let mut partial = std::mem::take(&mut self.partial);
            partial.extend_from_slice(&shard.scratch.borrow()[..n]);
            let r = self.decode(&mut partial, started);
            if let Ok(used) = r {
                partial.drain(..used);
                if partial.is_empty() {
                    partial = Vec::new();
                }
            }
            self.partial = partial;
            r
        };
        shard
            .app
            .stats
            .ws_handle_latency
            .observe(started.elapsed().as_secs_f64());
        // A protocol error, or a close queued by this batch or while the session waited for
        // it: the session ends after the batch.
        if result.is_err() || self.outbox.state() != OutState::Open {
            self.phase = Phase::Stopped;
        }
        self.maybe_batch();
    }
}

impl<H: Handler + Unpin + 'static> Future for Driver<H> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        // A typed session's reads run inside its span (its steps enter it themselves).
        let span = match &this.held {
            Some(held) if H::IN_SPAN => Some(held.trace.span().clone()),
            _ => None,
        };
        let _entered = span.as_ref().map(tracing::Span::enter);
        loop {
            if let Some(step) = this.step.as_mut() {
                if this.phase != Phase::Ending {
                    if let Some(socket) = &this.socket {
                        write_blocked(&this.outbox, socket, cx);
                    }
                }
                let Poll::Ready(back) = step.as_mut().poll(cx) else {
                    return Poll::Pending;
                };
                this.step = None;
                match back {
                    Back::Opened(h, ok) => {
                        this.held = Some(h);
                        // Attached after `open`: the flusher writes nothing (the relay's 101
                        // included) before the handler joined its room.
                        if let Some(socket) = &this.socket {
                            this.outbox.attach(socket.fd());
                        }
                        if ok {
                            this.opened();
                        } else {
                            this.end();
                        }
                    }
                    Back::Batch(h, next) => {
                        this.held = Some(h);
                        if let Next::Move(owner) = next {
                            this.move_to(owner);
                        }
                    }
                    Back::Done => return Poll::Ready(()),
                }
                continue;
            }
            match this.phase {
                Phase::Reading => {
                    let socket = this.socket.as_ref().expect("reading needs the socket");
                    let read =
                        next_read(&this.outbox, socket, &this.shard.scratch, this.waiting, cx);
                    this.waiting = read.is_pending();
                    match read {
                        Poll::Pending => return Poll::Pending,
                        Poll::Ready(Some(n)) => this.on_read(n),
                        Poll::Ready(None) => this.end(),
                    }
                }
                Phase::Stopped => this.end(),
                Phase::Opening | Phase::Ending => unreachable!("a step runs in these phases"),
            }
        }
    }
}

impl<H: Handler + Unpin + 'static> Drop for Driver<H> {
    fn drop(&mut self) {
        // Whatever ended the session (a panic included), nothing writes to its socket through
        // the outbox any more.
        self.outbox.detach();
    }
}

/// While the socket is full, wait for room and write what the flusher could not; a write
/// error kills the outbox (the session then ends).
fn write_blocked(outbox: &Outbox, socket: &Socket, cx: &Context<'_>) {
    while outbox.is_blocked() && outbox.state() != OutState::Dead {
        if socket.poll_writable(cx).is_pending() {
            return;
        }
        match io::send_outbox(socket.fd(), outbox) {
            Ok(true) => outbox.set_blocked(false),
            Ok(false) => {}
            Err(_) => {
                outbox.kill(None);
                io::shutdown(socket.fd());
            }
        }
    }
}

/// The next read of the session: `Some(n)` bytes in `scratch`, `None` when the socket
/// ended, the outbox is dead, or it is closing and the session was not already waiting for
/// the peer (`waiting`: see [`Driver`]). Meanwhile it writes what a full socket held up.
fn next_read(
    outbox: &Outbox,
    socket: &Socket,
    scratch: &RefCell<Vec<u8>>,
    waiting: bool,
    cx: &Context<'_>,
) -> Poll<Option<usize>> {
    write_blocked(outbox, socket, cx);
    match outbox.state() {
        OutState::Open => {}
        OutState::Closing if waiting => {}
        OutState::Closing | OutState::Dead => return Poll::Ready(None),
    }
    match socket.poll_read(cx, &mut scratch.borrow_mut()[..]) {
        Poll::Ready(Ok(0) | Err(_)) => Poll::Ready(None),
        Poll::Ready(Ok(n)) => Poll::Ready(Some(n)),
        Poll::Pending => {
            outbox.register(cx);
            Poll::Pending
        }
    }
}
