//! The task of one accepted connection ([`Conn`]): its HTTP phase, boxed so that its state
//! (buffers, the request loop) is freed when the connection upgrades, then the WebSocket
//! session the upgrade starts, held inline: an idle WebSocket's task is the session's
//! [`session::Driver`] and little else. A relay socket whose room another shard owns runs the
//! short boxed hand-off instead.
//!
//! Must not parse HTTP or touch a session's frames: those are the HTTP loop's (`super`) and the
//! session driver's.

use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use shards::{ConnEntry, Socket};

use super::{http_loop, HttpEnd, Upgrade};
use crate::app::Shard;
use crate::session::{self, Start};
use crate::{echo, game, relay};

/// Serve one accepted connection until it closes (the runtime catches a panic in it).
pub fn serve(shard: Rc<Shard>, socket: Socket, entry: Rc<ConnEntry>) -> Conn {
    Conn(Phase::Http(Box::pin(async move {
        let end = http_loop(&shard, &socket, &entry).await;
        (end, socket, shard, entry)
    })))
}

/// What the HTTP phase gives back.
type HttpDone = (HttpEnd, Socket, Rc<Shard>, Rc<ConnEntry>);

/// One connection's task. The HTTP phase is boxed (its state is freed when the connection
/// upgrades), and a WebSocket session runs inline, so an idle WebSocket holds one allocation
/// for its task: the session's [`session::Driver`] and little else. The session's span (its
/// `Start::trace`, a child of the upgrade request's span) goes into the driver: typed sessions
/// run inside it, a relay session enters it only for its rare log lines.
pub struct Conn(Phase);

enum Phase {
    Http(Pin<Box<dyn Future<Output = HttpDone>>>),
    Relay(session::Driver<relay::Relay>),
    /// The game handler's state is boxed: the task stays relay-sized.
    Game(session::Driver<Box<game::session::Game>>),
    Echo(session::Driver<echo::Echo>),
    /// A socket on its way to another shard.
    Moving(Pin<Box<dyn Future<Output = ()>>>),
    Done,
}

impl Phase {
    /// The session an upgrade starts (or nothing when the connection closed).
    fn upgraded(done: HttpDone) -> Phase {
        let (end, socket, shard, entry) = done;
        let HttpEnd::Upgrade {
            kind,
            client,
            pending,
            handshake,
            trace,
        } = end
        else {
            return Phase::Done;
        };
        let start = Start {
            slot_ip: Some(client),
            pending,
            handshake,
            trace,
        };
        match kind {
            Upgrade::Relay(room) => match relay::start(shard, socket, entry, room, start) {
                relay::Started::Here(d) => Phase::Relay(d),
                relay::Started::Moving(f) => Phase::Moving(f),
            },
            Upgrade::Game => {
                let game = Box::new(game::session::Game::default());
                Phase::Game(session::run(shard, socket, entry, start, game))
            }
            Upgrade::Echo => Phase::Echo(session::run(shard, socket, entry, start, echo::Echo)),
        }
    }
}

impl Future for Conn {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut self.get_mut().0;
        loop {
            return match this {
                Phase::Http(f) => match f.as_mut().poll(cx) {
                    Poll::Ready(done) => {
                        *this = Phase::upgraded(done);
                        continue;
                    }
                    Poll::Pending => Poll::Pending,
                },
                Phase::Relay(d) => Pin::new(d).poll(cx),
                Phase::Game(d) => Pin::new(d).poll(cx),
                Phase::Echo(d) => Pin::new(d).poll(cx),
                Phase::Moving(f) => f.as_mut().poll(cx),
                Phase::Done => Poll::Ready(()),
            };
        }
    }
}
