//! Socket I/O for connection tasks: a connection's [`Socket`] (its descriptor and one
//! readiness slot in the reactor), reads into the shard's shared scratch buffer, whole
//! writes, and vectored writes of an outbox. No protocol knowledge: bytes in, bytes out.
//!
//! A socket is read with a non-blocking `recv` while data may be waiting and otherwise waits
//! for its multishot readiness poll (glommio patch 7, `vendor/README.md`), so the scratch
//! buffer is borrowed only for the duration of one poll: an idle connection holds no read
//! buffer, no glommio stream and no `Source`, only a 32-byte slot in the reactor.

use std::cell::{Cell, RefCell};
use std::future::poll_fn;
use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use glommio::net::{SocketReady, HANGUP, READABLE, WRITABLE};

use crate::outbox::{OutState, Outbox};

/// One connection's socket: the descriptor (closed on drop) and its readiness.
#[derive(Debug)]
pub struct Socket {
    /// Dropped first: its polls are cancelled before the descriptor closes.
    ready: SocketReady,
    fd: OwnedFd,
    /// Data may be waiting: try `recv` before waiting for the poll.
    rx_maybe: Cell<bool>,
    /// The poll reported the peer's shutdown, a hang-up or an error. A short read does not
    /// consume those and no new completion will come for them, so from then on every read
    /// tries `recv` until it reports the end (or the error).
    rx_end: Cell<bool>,
}

impl Socket {
    /// Take ownership of a connected, non-blocking TCP socket and register it with this
    /// shard's reactor.
    pub fn new(fd: OwnedFd) -> Socket {
        Socket {
            ready: SocketReady::new(fd.as_raw_fd()),
            fd,
            rx_maybe: Cell::new(true),
            rx_end: Cell::new(false),
        }
    }

    /// The descriptor.
    pub fn fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Read once into `buf`; `Ok(0)` is end of stream.
    pub fn poll_read(&self, cx: &Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        let fd = self.fd();
        loop {
            if self.rx_maybe.get() || self.rx_end.get() {
                // SAFETY: `buf` is valid for `buf.len()` bytes; `fd` is our socket.
                let r = unsafe {
                    libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), libc::MSG_DONTWAIT)
                };
                if r >= 0 {
                    let n = r as usize;
                    // A short read drained the socket; a full one may have left more.
                    self.rx_maybe.set(n == 0 || n == buf.len());
                    return Poll::Ready(Ok(n));
                }
                let e = io::Error::last_os_error();
                match e.kind() {
                    io::ErrorKind::WouldBlock => self.rx_maybe.set(false),
                    io::ErrorKind::Interrupted => continue,
                    _ => return Poll::Ready(Err(e)),
                }
            }
            match self.ready.poll(fd, READABLE, cx) {
                Poll::Ready(ev) => {
                    if ev & HANGUP != 0 {
                        self.rx_end.set(true);
                    }
                    self.rx_maybe.set(true);
                }
                Poll::Pending => return Poll::Pending,
            }
        }
    }

    /// Ready once the socket may take more bytes (or reported a hang-up or an error).
    pub fn poll_writable(&self, cx: &Context<'_>) -> Poll<()> {
        self.ready.poll(self.fd(), WRITABLE, cx).map(|ev| {
            // The slot reports a hang-up once, to whichever interest asks first: the reads
            // must still learn of it (a peer's FIN is not reported again).
            if ev & HANGUP != 0 {
                self.rx_end.set(true);
            }
        })
    }

    /// Read once into `scratch`; `Ok(0)` is end of stream.
    pub async fn read_some(&self, scratch: &RefCell<Vec<u8>>) -> io::Result<usize> {
        poll_fn(|cx| self.poll_read(cx, &mut scratch.borrow_mut()[..])).await
    }

    /// Write all of `data`.
    pub async fn write_all(&self, mut data: &[u8]) -> io::Result<()> {
        while !data.is_empty() {
            match send(self.fd(), data)? {
                Some(0) => return Err(io::ErrorKind::WriteZero.into()),
                Some(n) => data = &data[n..],
                None => poll_fn(|cx| self.poll_writable(cx)).await,
            }
        }
        Ok(())
    }
}

/// One non-blocking `send`; `Ok(None)` = would block.
fn send(fd: RawFd, data: &[u8]) -> io::Result<Option<usize>> {
    loop {
        // SAFETY: `data` is valid for its length; `fd` is the caller's socket.
        let r = unsafe {
            libc::send(
                fd,
                data.as_ptr().cast(),
                data.len(),
                libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT,
            )
        };
        if r >= 0 {
            return Ok(Some(r as usize));
        }
        let e = io::Error::last_os_error();
        match e.kind() {
            io::ErrorKind::Interrupted => continue,
            io::ErrorKind::WouldBlock => return Ok(None),
            _ => return Err(e),
        }
    }
}

const IOV_BATCH: usize = 64;

/// One non-blocking vectored send of the outbox's head; `Ok(None)` = would block.
pub fn try_send_outbox(fd: RawFd, outbox: &Outbox) -> io::Result<Option<usize>> {
    let mut iov = [MaybeUninit::<libc::iovec>::uninit(); IOV_BATCH];
    let n = outbox.fill_iovecs(&mut iov);
    if n == 0 {
        return Ok(Some(0));
    }
    // SAFETY: msghdr is plain data; iov points at `n` initialised entries whose
    // buffers the outbox keeps alive until `advance` (after this call).
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = iov.as_mut_ptr().cast();
    msg.msg_iovlen = n as _;
    loop {
        // SAFETY: fd is a socket owned by the caller's connection; msg is valid.
        let r = unsafe { libc::sendmsg(fd, &msg, libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT) };
        if r >= 0 {
            outbox.advance(r as usize);
            return Ok(Some(r as usize));
        }
        let e = io::Error::last_os_error();
        match e.kind() {
            io::ErrorKind::Interrupted => continue,
            io::ErrorKind::WouldBlock => return Ok(None),
            _ => return Err(e),
        }
    }
}

/// Write what `outbox` holds until it is empty (`Ok(true)`) or the socket is full
/// (`Ok(false)`).
pub fn send_outbox(fd: RawFd, outbox: &Outbox) -> io::Result<bool> {
    while !outbox.is_empty() {
        if try_send_outbox(fd, outbox)?.is_none() {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Shut a socket down in both directions: wakes any task waiting on it.
pub fn shutdown(fd: RawFd) {
    // SAFETY: shutdown on a possibly stale fd number only returns an error.
    unsafe {
        libc::shutdown(fd, libc::SHUT_RDWR);
    }
}

thread_local! {
    /// The outboxes to write at the flusher's next run, and the flusher's waker.
    static FLUSH: Flush = Flush::default();
}

#[derive(Default)]
struct Flush {
    listed: RefCell<Vec<Rc<Outbox>>>,
    waker: Cell<Option<Waker>>,
}

/// Put `outbox` on this shard's flush list (the outbox calls it once until it is written)
/// and wake the flusher if the list was empty.
pub(crate) fn list_for_flush(outbox: Rc<Outbox>) {
    FLUSH.with(|f| {
        let mut listed = f.listed.borrow_mut();
        listed.push(outbox);
        if listed.len() == 1 {
            if let Some(w) = f.waker.take() {
                w.wake();
            }
        }
    });
}

/// The shard's flusher: writes every outbox pushed to since its last run, one `sendmsg` of
/// all its queued frames each. It runs after the tasks that were already queued when the
/// first push woke it (the readers of the same turn of the event loop), so frames pushed by
/// several readers in one turn go out together, and a broadcast wakes one task instead of
/// one per recipient. A socket that does not take everything is handed to its owner
/// ([`Outbox::set_blocked`]), which waits for room.
pub async fn run_flusher() {
    let mut batch: Vec<Rc<Outbox>> = Vec::new();
    // The outboxes of a run with frames to write now (kept between runs: no allocation each).
    let mut ready: Vec<(RawFd, Rc<Outbox>)> = Vec::new();
    loop {
        poll_fn(|cx| {
            FLUSH.with(|f| {
                let mut listed = f.listed.borrow_mut();
                if listed.is_empty() {
                    f.waker.set(Some(cx.waker().clone()));
                    return Poll::Pending;
                }
                std::mem::swap(&mut *listed, &mut batch);
                Poll::Ready(())
            })
        })
        .await;
        flush_all(&batch, &mut ready);
        batch.clear();
        if batch.capacity() > 4096 {
            batch = Vec::new();
            ready = Vec::new();
        }
    }
}

/// Write every listed outbox: with two or more to write, in one io_uring submission
/// ([`crate::batch_send`]); else (or when that is off) one `sendmsg` each. `ready` is the
/// caller's scratch list, left empty.
fn flush_all(batch: &[Rc<Outbox>], ready: &mut Vec<(RawFd, Rc<Outbox>)>) {
    ready.extend(
        batch
            .iter()
            .filter_map(|ob| take_listed(ob).map(|fd| (fd, ob.clone()))),
    );
    let batched = ready.len() >= 2
        && crate::batch_send::send_heads(ready, |i, sent| {
            let (fd, ob) = &ready[i];
            match sent {
                // More than one send's worth of frames, or a partial write: finish here.
                Ok(Some(_)) if !ob.is_empty() => after_send(*fd, ob, send_outbox(*fd, ob)),
                Ok(Some(_)) => {}
                Ok(None) => ob.set_blocked(true),
                Err(e) => after_send(*fd, ob, Err(e)),
            }
        });
    if !batched {
        for (fd, ob) in ready.iter() {
            after_send(*fd, ob, send_outbox(*fd, ob));
        }
    }
    ready.clear();
}

/// Take `ob` off the flush list: its descriptor when it has frames to write now (not
/// closed, not dead, not waiting for its owner to find room).
fn take_listed(ob: &Outbox) -> Option<RawFd> {
    ob.unlist();
    let fd = ob.fd()?;
    let writable = !ob.is_blocked() && ob.state() != OutState::Dead && !ob.is_empty();
    writable.then_some(fd)
}

fn after_send(fd: RawFd, ob: &Outbox, sent: io::Result<bool>) {
    match sent {
        Ok(true) => {}
        Ok(false) => ob.set_blocked(true),
        Err(_) => {
            ob.kill(None);
            shutdown(fd);
        }
    }
}
