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
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd};
use std::rc::Rc;

use glommio::net::TcpStream;
use glommio::spawn_local;

use crate::app::App;
use crate::conn::ConnEntry;
use crate::io::Stream;
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
    /// Give up this shard's handle on `stream`: the returned descriptor is the only one left.
    /// `stream` must be the last handle (the writer task has ended).
    pub fn release(&self, stream: Rc<Stream>, peer: SocketAddr) -> io::Result<MovedFd> {
        let fd = stream.borrow().as_raw_fd();
        // SAFETY: dup of a socket we own; the copy is owned by `OwnedFd` and the original is
        // closed when `stream` drops (close, not shutdown).
        let dup = unsafe { libc::dup(fd) };
        drop(stream);
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
        W: FnOnce(Rc<Shard<A>>, Rc<Stream>, Rc<ConnEntry>) -> F + 'static,
        F: Future<Output = ()> + 'static,
    {
        // SAFETY: the fd was dup'ed for us by the sending shard and is owned by `moved.fd`;
        // ownership passes to the new stream.
        let stream = unsafe { TcpStream::from_raw_fd(moved.fd.into_raw_fd()) };
        let entry = self.register(&stream, moved.peer);
        let fut = work(
            self.clone(),
            Rc::new(std::cell::RefCell::new(stream)),
            entry.clone(),
        );
        spawn_local(Guarded::new(self.clone(), entry, fut)).detach();
    }
}
