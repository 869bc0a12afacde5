//! A connection's outbound queue: encoded frames waiting to be written, and the shard's
//! flush list.
//!
//! Owns the queue, its byte bound, the lifecycle state and the waker of the task that owns
//! the connection. Frames are `Rc<[u8]>` so one encoded broadcast frame is shared by every
//! recipient on the shard. It never touches a socket itself: a push puts the outbox on the
//! shard's flush list (once, however many frames follow), and the shard's one flusher task
//! ([`crate::io::run_flusher`]) writes every listed outbox after the tasks that ran before it
//! in the same turn of the event loop, one `sendmsg` each. The owning task is woken only when
//! it must act: the socket is full (it waits for room and writes the rest itself), or the
//! outbox is closing or dead. An outbox with no socket (the application's session of a socket
//! that lives elsewhere) is drained by a consumer task of its own, which
//! [`Outbox::poll_ready`] wakes on every push.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::mem::MaybeUninit;
use std::os::fd::RawFd;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use crate::stats::Disconnect;

/// One encoded WebSocket frame (header + payload), shared among recipients.
pub type Frame = Rc<[u8]>;

/// Why a push was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushError {
    /// The connection is closing or dead; nothing more is queued.
    Closed,
    /// The queue would exceed its byte bound: the receiver is a slow consumer.
    Full,
}

/// Lifecycle of the outbound side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutState {
    /// Accepting frames.
    Open,
    /// A final frame (usually a close frame) is queued; flush it, then close.
    Closing,
    /// Close now: the queue was dropped (slow consumer, shutdown deadline, error).
    Dead,
}

#[derive(Debug)]
struct Inner {
    queue: VecDeque<Frame>,
    /// The task that owns the connection.
    waker: Option<Waker>,
}

/// How far control frames (pongs, pings, notices, error replies) may go past the data bound:
/// enough for them to reach a consumer that is near its bound, not enough for a peer that sends
/// pings or bad messages and never reads to grow the queue without end.
pub const CONTROL_HEADROOM: usize = 64 * 1024;

/// On the shard's flush list.
const LISTED: u8 = 1;
/// The socket did not take everything: the owner waits for room and writes the rest.
const BLOCKED: u8 = 2;
/// No socket: a consumer task drains the queue itself and is woken by every push
/// ([`Outbox::poll_ready`]).
const WATCHED: u8 = 4;

/// Bounded queue of frames for one connection (96 bytes with its `Rc`).
#[derive(Debug)]
pub struct Outbox {
    inner: RefCell<Inner>,
    /// Bytes of the head frame already written.
    head_offset: Cell<u32>,
    /// Bytes queued and not yet written (bounded by `limit` for data frames).
    queued: Cell<u32>,
    limit: u32,
    /// The socket the flusher writes to; -1 while no session is attached.
    fd: Cell<RawFd>,
    state: Cell<OutState>,
    /// Why the connection is ending, once someone decided (for metrics).
    reason: Cell<Option<Disconnect>>,
    flags: Cell<u8>,
}

/// The largest bound an outbox keeps (queued bytes are counted in 32 bits).
const MAX_LIMIT: usize = u32::MAX as usize - 2 * CONTROL_HEADROOM;

impl Outbox {
    /// An empty outbox that refuses data frames past `limit` queued bytes.
    pub fn new(limit: usize) -> Rc<Self> {
        Rc::new(Outbox {
            inner: RefCell::new(Inner {
                queue: VecDeque::new(),
                waker: None,
            }),
            head_offset: Cell::new(0),
            queued: Cell::new(0),
            limit: limit.min(MAX_LIMIT) as u32,
            fd: Cell::new(-1),
            state: Cell::new(OutState::Open),
            reason: Cell::new(None),
            flags: Cell::new(0),
        })
    }

    /// Record why the connection ends (the first reason wins).
    pub fn set_reason(&self, r: Disconnect) {
        if self.reason.get().is_none() {
            self.reason.set(Some(r));
        }
    }

    /// Why the connection ends, if decided.
    pub fn reason(&self) -> Option<Disconnect> {
        self.reason.get()
    }

    /// Current lifecycle state.
    pub fn state(&self) -> OutState {
        self.state.get()
    }

    /// Bytes waiting to be written.
    pub fn queued_bytes(&self) -> usize {
        self.queued.get() as usize
    }

    /// Queue a data frame, refusing it past the byte bound.
    pub fn push(self: &Rc<Self>, frame: Frame) -> Result<(), PushError> {
        if self.state.get() != OutState::Open {
            return Err(PushError::Closed);
        }
        if self.queued_bytes() + frame.len() > self.limit as usize {
            return Err(PushError::Full);
        }
        self.enqueue(frame);
        self.list();
        Ok(())
    }

    /// Queue a control frame (pong, ping, notice, error reply): it may pass the data bound by
    /// [`CONTROL_HEADROOM`]. Past that the peer is not reading what its own frames cause: it is
    /// a slow consumer, and the queue is dropped as by [`Outbox::kill`] (`Full`).
    pub fn push_control(self: &Rc<Self>, frame: Frame) -> Result<(), PushError> {
        if self.state.get() != OutState::Open {
            return Err(PushError::Closed);
        }
        if self.queued_bytes() + frame.len() > self.limit as usize + CONTROL_HEADROOM {
            self.set_reason(Disconnect::SlowConsumer);
            self.kill(None);
            return Err(PushError::Full);
        }
        self.enqueue(frame);
        self.list();
        Ok(())
    }

    /// Queue `last` (if any) as the final frame and stop accepting more. The flusher writes
    /// what is queued; the owner is woken, and closes the socket once the peer answered (or
    /// its deadline passed).
    pub fn close_with(self: &Rc<Self>, last: Option<Frame>) {
        if self.state.get() != OutState::Open {
            return;
        }
        if let Some(f) = last {
            self.enqueue(f);
        }
        self.state.set(OutState::Closing);
        if !self.is_empty() {
            self.list();
        }
        self.wake();
    }

    /// Drop everything queued and close now; `last` is a best-effort final
    /// frame (written only if the socket takes it without waiting).
    pub fn kill(&self, last: Option<Frame>) {
        if self.state.get() == OutState::Dead {
            return;
        }
        {
            let mut inner = self.inner.borrow_mut();
            inner.queue = VecDeque::new();
            self.head_offset.set(0);
            self.queued.set(0);
            if let Some(f) = last {
                self.queued.set(f.len() as u32);
                inner.queue.push_back(f);
            }
        }
        self.state.set(OutState::Dead);
        self.wake();
    }

    fn enqueue(&self, frame: Frame) {
        self.queued
            .set(self.queued.get().saturating_add(frame.len() as u32));
        self.inner.borrow_mut().queue.push_back(frame);
    }

    /// Put this outbox on the shard's flush list unless it is there already, is blocked (its
    /// owner writes it) or has no socket; an outbox drained by a consumer task wakes it.
    fn list(self: &Rc<Self>) {
        let flags = self.flags.get();
        if flags & WATCHED != 0 {
            self.wake();
            return;
        }
        if flags & (LISTED | BLOCKED) != 0 || self.fd.get() < 0 {
            return;
        }
        self.flags.set(self.flags.get() | LISTED);
        crate::io::list_for_flush(self.clone());
    }

    fn wake(&self) {
        if let Some(w) = self.inner.borrow_mut().waker.take() {
            w.wake();
        }
    }

    /// The owning task is woken (once) by the next kill, close, or a full socket.
    pub fn register(&self, cx: &Context<'_>) {
        let mut inner = self.inner.borrow_mut();
        match &inner.waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => inner.waker = Some(cx.waker().clone()),
        }
    }

    /// Ready when the state left `Open` (registering the owner otherwise).
    pub fn poll_closed(&self, cx: &Context<'_>) -> Poll<OutState> {
        match self.state.get() {
            OutState::Open => {
                self.register(cx);
                Poll::Pending
            }
            s => Poll::Ready(s),
        }
    }

    /// For an outbox with no socket, drained by a consumer task of its own (a session whose
    /// socket is on another node): ready when something is queued or the state left `Open`;
    /// otherwise the task is woken by the next push, close or kill.
    pub fn poll_ready(&self, cx: &Context<'_>) -> Poll<()> {
        self.flags.set(self.flags.get() | WATCHED);
        if !self.is_empty() || self.state.get() != OutState::Open {
            return Poll::Ready(());
        }
        self.register(cx);
        Poll::Pending
    }

    /// The session's socket: from now on pushes are written by the shard's flusher.
    pub fn attach(self: &Rc<Self>, fd: RawFd) {
        self.fd.set(fd);
        if !self.is_empty() {
            self.list();
        }
    }

    /// The session ends or its socket moves: nothing writes to `fd` through this outbox any
    /// more (the flusher may still hold it on its list; it then finds no socket).
    pub fn detach(&self) {
        self.fd.set(-1);
    }

    /// The socket `fd` the flusher writes to, if attached.
    pub fn fd(&self) -> Option<RawFd> {
        Some(self.fd.get()).filter(|&fd| fd >= 0)
    }

    /// Whether the socket did not take everything and the owner writes the rest.
    pub fn is_blocked(&self) -> bool {
        self.flags.get() & BLOCKED != 0
    }

    /// The socket is full (`true`: the owner is woken to wait for room) or took everything.
    pub fn set_blocked(&self, blocked: bool) {
        let f = self.flags.get();
        if blocked {
            self.flags.set(f | BLOCKED);
            self.wake();
        } else {
            self.flags.set(f & !BLOCKED);
        }
    }

    /// Taken off the flush list (by the flusher).
    pub(crate) fn unlist(&self) {
        self.flags.set(self.flags.get() & !LISTED);
    }

    /// Whether nothing is left to write.
    pub fn is_empty(&self) -> bool {
        self.inner.borrow().queue.is_empty()
    }

    /// Point `iov` at the queued bytes (head first); returns how many entries
    /// were filled. The pointers stay valid until the next mutation.
    pub fn fill_iovecs(&self, iov: &mut [MaybeUninit<libc::iovec>]) -> usize {
        let inner = self.inner.borrow();
        let mut n = 0;
        for (i, frame) in inner.queue.iter().enumerate() {
            if n == iov.len() {
                break;
            }
            let bytes: &[u8] = if i == 0 {
                &frame[self.head_offset.get() as usize..]
            } else {
                frame
            };
            iov[n].write(libc::iovec {
                iov_base: bytes.as_ptr() as *mut libc::c_void,
                iov_len: bytes.len(),
            });
            n += 1;
        }
        n
    }

    /// The unwritten part of the head frame.
    pub fn with_head<R>(&self, f: impl FnOnce(&[u8]) -> R) -> Option<R> {
        let inner = self.inner.borrow();
        inner
            .queue
            .front()
            .map(|fr| f(&fr[self.head_offset.get() as usize..]))
    }

    /// Mark `written` bytes as sent, popping finished frames.
    pub fn advance(&self, mut written: usize) {
        self.queued
            .set(self.queued.get().saturating_sub(written as u32));
        let mut inner = self.inner.borrow_mut();
        let mut offset = self.head_offset.get() as usize;
        while written > 0 {
            let Some(front_len) = inner.queue.front().map(|f| f.len()) else {
                break;
            };
            let left = front_len - offset;
            if written >= left {
                written -= left;
                inner.queue.pop_front();
                offset = 0;
            } else {
                offset += written;
                written = 0;
            }
        }
        self.head_offset.set(offset as u32);
        // An idle connection keeps no queue buffer.
        if inner.queue.is_empty() && inner.queue.capacity() > 0 {
            inner.queue = VecDeque::new();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(n: usize) -> Frame {
        vec![7u8; n].into()
    }

    #[test]
    fn bound_refuses_data_but_not_control() {
        let o = Outbox::new(10);
        o.push(frame(6)).unwrap();
        assert_eq!(o.push(frame(6)), Err(PushError::Full));
        o.push_control(frame(6)).unwrap();
        assert_eq!(o.queued_bytes(), 12);
    }

    #[test]
    fn control_frames_past_the_headroom_make_a_slow_consumer() {
        let o = Outbox::new(10);
        o.push(frame(10)).unwrap();
        // pongs of a peer that never reads: accepted up to the headroom
        let pong = 127;
        let fit = CONTROL_HEADROOM / pong;
        for _ in 0..fit {
            o.push_control(frame(pong)).unwrap();
        }
        assert_eq!(o.state(), OutState::Open);
        assert_eq!(o.push_control(frame(pong)), Err(PushError::Full));
        assert_eq!(o.state(), OutState::Dead);
        assert_eq!(o.reason(), Some(Disconnect::SlowConsumer));
        assert_eq!(o.push_control(frame(1)), Err(PushError::Closed));
    }

    #[test]
    fn the_owner_wakes_on_kill_and_close_not_on_push() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        use std::sync::Arc;
        struct Count(AtomicUsize);
        impl std::task::Wake for Count {
            fn wake(self: Arc<Self>) {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(count.clone());
        let cx = Context::from_waker(&waker);
        let o = Outbox::new(100);
        o.register(&cx);
        o.push(frame(5)).unwrap();
        o.push_control(frame(5)).unwrap();
        assert_eq!(count.0.load(Ordering::SeqCst), 0, "pushes do not wake it");
        o.kill(None);
        assert_eq!(count.0.load(Ordering::SeqCst), 1, "the kill does");
        let o = Outbox::new(100);
        o.register(&cx);
        o.close_with(None);
        assert_eq!(count.0.load(Ordering::SeqCst), 2, "so does a close");
    }

    #[test]
    fn a_consumer_without_socket_is_woken_by_every_push() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        use std::sync::Arc;
        struct Count(AtomicUsize);
        impl std::task::Wake for Count {
            fn wake(self: Arc<Self>) {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(count.clone());
        let cx = Context::from_waker(&waker);
        let o = Outbox::new(100);
        assert!(o.poll_ready(&cx).is_pending());
        o.push(frame(5)).unwrap();
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        assert!(o.poll_ready(&cx).is_ready());
        o.advance(5);
        assert!(o.poll_ready(&cx).is_pending());
        o.close_with(None);
        assert_eq!(count.0.load(Ordering::SeqCst), 2);
        assert!(o.poll_ready(&cx).is_ready());
    }

    #[test]
    fn advance_handles_partial_writes() {
        let o = Outbox::new(100);
        o.push(frame(5)).unwrap();
        o.push(frame(5)).unwrap();
        o.advance(3);
        let mut iov = [MaybeUninit::<libc::iovec>::uninit(); 4];
        assert_eq!(o.fill_iovecs(&mut iov), 2);
        // SAFETY: the first two entries were filled.
        let (a, b) = unsafe { (iov[0].assume_init(), iov[1].assume_init()) };
        assert_eq!(a.iov_len, 2);
        assert_eq!(b.iov_len, 5);
        o.advance(7);
        assert!(o.is_empty());
        assert_eq!(o.queued_bytes(), 0);
    }

    #[test]
    fn closing_refuses_more_and_kill_drops_queue() {
        let o = Outbox::new(100);
        o.push(frame(5)).unwrap();
        o.close_with(Some(frame(2)));
        assert_eq!(o.push(frame(1)), Err(PushError::Closed));
        assert_eq!(o.state(), OutState::Closing);
        o.kill(Some(frame(3)));
        assert_eq!(o.queued_bytes(), 3);
        assert_eq!(o.state(), OutState::Dead);
    }
}
