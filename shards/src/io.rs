//! Socket I/O for connection tasks: readiness-based reads into the shard's shared
//! scratch buffer, whole writes, vectored writes of an outbox, and the outbox
//! writer task. No protocol knowledge: bytes in, bytes out.
//!
//! glommio's non-buffered `TcpStream` reads with a non-blocking `recv` and only
//! waits on readiness, so the buffer is borrowed just for the duration of one
//! poll: an idle connection holds no read buffer of its own.

use std::cell::RefCell;
use std::future::poll_fn;
use std::io;
use std::os::fd::RawFd;
use std::pin::Pin;
use std::task::Poll;

use futures_lite::{AsyncRead, AsyncWrite};
use glommio::net::TcpStream;
use std::rc::Rc;

use crate::outbox::{OutState, Outbox};

/// Shared handle to one connection's socket (reader and writer tasks).
pub type Stream = RefCell<TcpStream>;

/// Read once into `scratch`; `Ok(0)` is end of stream.
pub async fn read_some(stream: &Stream, scratch: &RefCell<Vec<u8>>) -> io::Result<usize> {
    poll_fn(|cx| {
        let mut s = stream.borrow_mut();
        let mut buf = scratch.borrow_mut();
        Pin::new(&mut *s).poll_read(cx, &mut buf[..])
    })
    .await
}

/// Write all of `data`.
pub async fn write_all(stream: &Stream, mut data: &[u8]) -> io::Result<()> {
    while !data.is_empty() {
        let n = poll_fn(|cx| Pin::new(&mut *stream.borrow_mut()).poll_write(cx, data)).await?;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        data = &data[n..];
    }
    Ok(())
}

const IOV_BATCH: usize = 64;

/// One non-blocking vectored send of the outbox's head; `Ok(None)` = would block.
pub fn try_send_outbox(fd: RawFd, outbox: &Outbox) -> io::Result<Option<usize>> {
    let mut iov = [libc::iovec {
        iov_base: std::ptr::null_mut(),
        iov_len: 0,
    }; IOV_BATCH];
    let n = outbox.fill_iovecs(&mut iov);
    if n == 0 {
        return Ok(Some(0));
    }
    // SAFETY: msghdr is plain data; iov points at `n` initialised entries whose
    // buffers the outbox keeps alive until `advance` (after this call).
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = iov.as_mut_ptr();
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

/// Write everything queued in `outbox` (coalesced with `sendmsg`), waiting for
/// writability when the socket is full.
pub async fn flush_outbox(stream: &Stream, fd: RawFd, outbox: &Outbox) -> io::Result<()> {
    while !outbox.is_empty() {
        if try_send_outbox(fd, outbox)?.is_some() {
            continue;
        }
        // Full socket: let glommio wait for writability (it writes the head if
        // the socket became writable in between). A kill (slow consumer,
        // shutdown deadline) ends the wait at once: the peer is not reading.
        let n = poll_fn(|cx| {
            if outbox.state() == OutState::Dead {
                return Poll::Ready(Err(io::ErrorKind::ConnectionAborted.into()));
            }
            let mut s = stream.borrow_mut();
            let p = match outbox.with_head(|head| Pin::new(&mut *s).poll_write(cx, head)) {
                Some(p) => p,
                None => Poll::Ready(Ok(0)),
            };
            if p.is_pending() {
                outbox.wake_on_kill(cx);
            }
            p
        })
        .await?;
        outbox.advance(n);
    }
    Ok(())
}

/// A WebSocket's writer task: drain `outbox` into the socket until the session
/// closes. `Closing` flushes the final frames and leaves the socket to the
/// reader (or its deadline); `Dead` makes one non-blocking attempt and shuts
/// the socket down.
pub async fn run_writer(stream: Rc<Stream>, fd: RawFd, outbox: Rc<Outbox>) {
    loop {
        std::future::poll_fn(|cx| outbox.poll_ready(cx)).await;
        match outbox.state() {
            OutState::Open => {
                if flush_outbox(&stream, fd, &outbox).await.is_err() {
                    outbox.kill(None);
                    shutdown(fd);
                    return;
                }
            }
            OutState::Closing => {
                if flush_outbox(&stream, fd, &outbox).await.is_err() {
                    shutdown(fd);
                }
                return;
            }
            OutState::Dead => {
                let _ = try_send_outbox(fd, &outbox);
                shutdown(fd);
                return;
            }
        }
    }
}

/// Shut a socket down in both directions: wakes any task waiting on it.
pub fn shutdown(fd: RawFd) {
    // SAFETY: shutdown on a possibly stale fd number only returns an error.
    unsafe {
        libc::shutdown(fd, libc::SHUT_RDWR);
    }
}
