//! Moving a socket to another shard.
//!
//! A connection whose work belongs to another shard (its room's owner) gives up its own
//! handle: [`Shard::release`] `dup`s the descriptor into a [`MovedFd`] and closes the
//! original (close, not shutdown: the peer sees nothing). The application puts the
//! `MovedFd` into one of its messages, with whatever state travels along, and sends it
//! with [`Shard::hand_off`]; the owner wraps it in its own stream with [`Shard::adopt`],
//! which registers it and runs the application's work under crash isolation.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::os::fd::{FromRawFd, OwnedFd};
use std::rc::Rc;

use glommio::spawn_local;

use crate::app::App;
use crate::conn::ConnEntry;
use crate::io::Socket;
use crate::mesh::MeshError;
use crate::shard::{Guarded, Shard};
use crate::stats;

/// A socket on its way to another shard (`Send`).
#[derive(Debug)]
pub struct MovedFd {
    pub fd: OwnedFd,
    pub peer: SocketAddr,
}

impl<A: App> Shard<A> {
    /// Give up this shard's handle on `socket`: the returned descriptor is the only one left.
    pub fn release(&self, socket: Socket, peer: SocketAddr) -> io::Result<MovedFd> {
        // SAFETY: dup of a socket we own; the copy is owned by `OwnedFd` and the original is
        // closed when `socket` drops (close, not shutdown).
        let dup = unsafe { libc::dup(socket.fd()) };
        drop(socket);
        if dup < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `dup` is a fresh descriptor nobody else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(dup) };
        Ok(MovedFd { fd, peer })
    }

    /// Send a message carrying a [`MovedFd`] to `owner` (counted as a hand-off).
    pub async fn hand_off(&self, owner: usize, msg: A::Msg) -> Result<(), MeshError> {
        self.mesh.send(owner, msg).await?;
        stats::inc(&self.counters.handoffs_total);
        Ok(())
    }

    /// Serve a socket another shard handed over: register it here and run `work` under
    /// crash isolation in a task of its own.
    pub fn adopt<F, W>(self: &Rc<Self>, moved: MovedFd, work: W)
    where
        W: FnOnce(Rc<Shard<A>>, Socket, Rc<ConnEntry>) -> F + 'static,
        F: Future<Output = ()> + 'static,
    {
        // The fd was dup'ed for us by the sending shard; ownership passes to the new socket.
        let socket = Socket::new(moved.fd);
        let entry = self.register(&socket, moved.peer);
        let fut = work(self.clone(), socket, entry.clone());
        spawn_local(Guarded::new(self.clone(), entry, fut)).detach();
    }
}
