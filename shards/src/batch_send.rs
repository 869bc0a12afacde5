//! One io_uring submission for the sends of a flusher run: every listed outbox's queued frames
//! become one `IORING_OP_SEND` (one frame) or `IORING_OP_SENDMSG` (several) on a small ring private to this shard thread, submitted with
//! one `io_uring_enter` that waits for them all, instead of one `sendmsg` system call per
//! socket. Every send carries `MSG_DONTWAIT`, which io_uring honours by completing a send that
//! would block with `-EAGAIN` at once (never by parking it), so every completion is in by the
//! time the call returns and the iovecs on this function's heap outlive the kernel's use.
//!
//! Owns only that ring and its scratch arrays; the outboxes' state machine stays in
//! [`crate::io`]. Off (the flusher keeps a `sendmsg` per socket) when `ROOMCORE_BATCH_SENDS=0`
//! or when the kernel refuses the ring.

use std::cell::RefCell;
use std::io;
use std::mem::MaybeUninit;
use std::ops::Deref;
use std::os::fd::RawFd;

use io_uring::{opcode, types, IoUring};

use crate::outbox::Outbox;

/// Sends per submission (the ring's size).
const RING: usize = 128;
/// Frames per send (as the per-socket path).
const IOV: usize = 64;

struct Ring {
    ring: IoUring,
    msgs: Vec<libc::msghdr>,
    iovs: Vec<[MaybeUninit<libc::iovec>; IOV]>,
}

thread_local! {
    static RING_OF_SHARD: RefCell<Option<Ring>> = RefCell::new(open());
}

fn open() -> Option<Ring> {
    if std::env::var("ROOMCORE_BATCH_SENDS").is_ok_and(|v| v == "0") {
        return None;
    }
    let ring = IoUring::new(RING as u32).ok()?;
    Some(Ring {
        ring,
        // SAFETY: msghdr is plain data; zeroed is its empty value.
        msgs: (0..RING).map(|_| unsafe { std::mem::zeroed() }).collect(),
        iovs: (0..RING).map(|_| [MaybeUninit::uninit(); IOV]).collect(),
    })
}

/// What one send did: bytes written, would block, or the socket's error.
pub(crate) type Sent = io::Result<Option<usize>>;

/// Send the head of every outbox of `batch` (its descriptor and outbox), at most [`RING`] at a
/// time, and call `done` with each result in order. False (nothing sent) when batched sends
/// are off: the caller sends one by one.
pub(crate) fn send_heads<O: Deref<Target = Outbox>>(
    batch: &[(RawFd, O)],
    mut done: impl FnMut(usize, Sent),
) -> bool {
    RING_OF_SHARD.with(|cell| {
        let mut guard = cell.borrow_mut();
        let Some(r) = guard.as_mut() else {
            return false;
        };
        for (chunk_no, chunk) in batch.chunks(RING).enumerate() {
            let base = chunk_no * RING;
            let mut queued = 0usize;
            let mut answered = [false; RING];
            for (k, (fd, ob)) in chunk.iter().enumerate() {
                let n = ob.fill_iovecs(&mut r.iovs[k]);
                if n == 0 {
                    answered[k] = true;
                    done(base + k, Ok(Some(0)));
                    continue;
                }
                let flags = libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT;
                let sqe = if n == 1 {
                    // One frame (the common case at moderate load): a plain SEND, which
                    // spares the kernel copying a msghdr and an iovec array in.
                    // SAFETY: written by fill_iovecs just above.
                    let one = unsafe { r.iovs[k][0].assume_init() };
                    opcode::Send::new(types::Fd(*fd), one.iov_base.cast(), one.iov_len as u32)
                        .flags(flags)
                        .build()
                } else {
                    let msg = &mut r.msgs[k];
                    msg.msg_iov = r.iovs[k].as_mut_ptr().cast();
                    msg.msg_iovlen = n as _;
                    opcode::SendMsg::new(types::Fd(*fd), msg as *const libc::msghdr)
                        .flags(flags as u32)
                        .build()
                }
                .user_data(k as u64);
                // SAFETY: the msghdr and its iovecs live in `r` and are not touched until
                // every completion of this chunk is reaped below; the ring has RING entries.
                if unsafe { r.ring.submission().push(&sqe) }.is_err() {
                    answered[k] = true;
                    done(base + k, Ok(None));
                    continue;
                }
                queued += 1;
            }
            let mut reaped = 0usize;
            let mut broken = false;
            while reaped < queued {
                match r.ring.submit_and_wait(queued - reaped) {
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        tracing::warn!(error = %e, "batched sends off: io_uring_enter failed");
                        broken = true;
                    }
                }
                for cqe in r.ring.completion() {
                    let k = cqe.user_data() as usize;
                    let res = cqe.result();
                    let sent = if res >= 0 {
                        chunk[k].1.advance(res as usize);
                        Ok(Some(res as usize))
                    } else if res == -libc::EAGAIN {
                        Ok(None)
                    } else {
                        Err(io::Error::from_raw_os_error(-res))
                    };
                    answered[k] = true;
                    done(base + k, sent);
                    reaped += 1;
                }
                if broken {
                    break;
                }
            }
            if broken {
                // The ring itself failed, not a socket: from now on one send per socket.
                // A send not reaped is answered "would block" (its owner waits for room and
                // writes it), and the ring is leaked rather than freed under the kernel.
                for (k, _) in answered[..chunk.len()]
                    .iter()
                    .enumerate()
                    .filter(|(_, a)| !**a)
                {
                    done(base + k, Ok(None));
                }
                std::mem::forget(guard.take());
                return true;
            }
        }
        true
    })
}
