// roomcore patch 7: the readiness of a socket its owner reads and writes with its own system
// calls (`recv`, `sendmsg`): a 32-byte slot in the reactor instead of a `Source` per poll.

use std::{
    io,
    marker::PhantomData,
    os::unix::io::{FromRawFd, IntoRawFd, RawFd},
    task::{Context, Poll},
};

use crate::net::AcceptedTcpStream;

pub use crate::sys::ready::{HANGUP, READABLE, WRITABLE};

/// Readiness of one socket on this executor: a multishot read-readiness poll armed from the
/// start and kept while the value lives (re-armed if the kernel ends it), and a one-shot
/// write-readiness poll while the owner waits for room in the send buffer.
///
/// [`SocketReady::poll`] reports what happened since it last returned: `READABLE` (the
/// socket became readable at least once), `WRITABLE`, and `HANGUP` (the peer shut its side
/// down, hung up, or the socket has an error; reported once, whatever was asked). A report
/// means "try the system call", not that it will succeed: the owner reads until `EAGAIN` or
/// a short read before waiting again, since a multishot poll only reports new wake-ups.
///
/// Dropping it cancels its polls. The owner keeps the descriptor open while it lives (the
/// kernel holds the file until the polls are gone, so closing it right after the drop is
/// fine).
#[derive(Debug)]
pub struct SocketReady {
    idx: u32,
    gen: u32,
    _not_send: PhantomData<*const ()>,
}

impl SocketReady {
    /// Register socket `fd` with this executor's reactor.
    pub fn new(fd: RawFd) -> SocketReady {
        let (idx, gen) = crate::executor().reactor().sys.ready_new(fd);
        SocketReady {
            idx,
            gen,
            _not_send: PhantomData,
        }
    }

    /// The events of `want` (`READABLE`, `WRITABLE`, or both), plus `HANGUP`, seen since the
    /// last call; otherwise `cx` is woken when one comes. `fd` is the registered socket.
    pub fn poll(&self, fd: RawFd, want: u8, cx: &Context<'_>) -> Poll<u8> {
        match crate::executor().try_reactor() {
            Some(r) => r.sys.ready_poll(self.idx, self.gen, fd, want, cx),
            None => Poll::Ready(HANGUP),
        }
    }
}

impl Drop for SocketReady {
    fn drop(&mut self) {
        if let Some(r) = crate::executor().try_reactor() {
            r.sys.ready_drop(self.idx, self.gen);
        }
    }
}

impl IntoRawFd for AcceptedTcpStream {
    /// roomcore patch 7: the accepted descriptor, for an owner that reads and writes it with
    /// its own system calls (see [`SocketReady`]).
    fn into_raw_fd(self) -> RawFd {
        self.take_fd()
    }
}

/// The descriptor of an accepted socket, and its peer's address; on an error the descriptor
/// is closed.
pub fn accepted_fd(a: AcceptedTcpStream) -> io::Result<(RawFd, std::net::SocketAddr)> {
    let fd = a.into_raw_fd();
    // SAFETY: `fd` is the accepted socket, ours alone; `ManuallyDrop` keeps it open.
    let sock = std::mem::ManuallyDrop::new(unsafe { socket2::Socket::from_raw_fd(fd) });
    let peer = sock
        .peer_addr()
        .and_then(|a| a.as_socket().ok_or_else(|| io::ErrorKind::InvalidInput.into()));
    if peer.is_err() {
        // SAFETY: as above; nobody else holds it.
        unsafe { libc::close(fd) };
    }
    peer.map(|p| (fd, p))
}
