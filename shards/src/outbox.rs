//! A connection's outbound queue: encoded frames waiting for its writer task.
//!
//! Owns the queue, its byte bound and the waker of the writer. Frames are
//! `Rc<[u8]>` so one encoded broadcast frame is shared by every recipient on the
//! shard. It never touches a socket: the writer task (engine) drains it with
//! [`Outbox::fill_iovecs`] + [`Outbox::advance`].

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
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
    /// Bytes of `queue[0]` already written.
    head_offset: usize,
    waker: Option<Waker>,
    /// A writer blocked on a full socket: woken only by a kill, not by every push (it could not
    /// write the new frame anyway).
    kill_waker: Option<Waker>,
}

/// How far control frames (pongs, pings, notices, error replies) may go past the data bound:
/// enough for them to reach a consumer that is near its bound, not enough for a peer that sends
/// pings or bad messages and never reads to grow the queue without end.
pub const CONTROL_HEADROOM: usize = 64 * 1024;

/// Bounded queue of frames for one connection.
#[derive(Debug)]
pub struct Outbox {
    inner: RefCell<Inner>,
    /// Bytes queued and not yet written (bounded by `limit` for data frames).
    queued: Cell<usize>,
    limit: usize,
    state: Cell<OutState>,
    /// Why the connection is ending, once someone decided (for metrics).
    reason: Cell<Option<Disconnect>>,
}

impl Outbox {
    /// An empty outbox that refuses data frames past `limit` queued bytes.
    pub fn new(limit: usize) -> Rc<Self> {
        Rc::new(Outbox {
            inner: RefCell::new(Inner {
                queue: VecDeque::new(),
                head_offset: 0,
                waker: None,
                kill_waker: None,
            }),
            queued: Cell::new(0),
            limit,
            state: Cell::new(OutState::Open),
            reason: Cell::new(None),
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
        self.queued.get()
    }

    /// Queue a data frame, refusing it past the byte bound.
    pub fn push(&self, frame: Frame) -> Result<(), PushError> {
        if self.state.get() != OutState::Open {
            return Err(PushError::Closed);
        }
        if self.queued.get() + frame.len() > self.limit {
            return Err(PushError::Full);
        }
        self.enqueue(frame);
        Ok(())
    }

    /// Queue a control frame (pong, ping, notice, error reply): it may pass the data bound by
    /// [`CONTROL_HEADROOM`]. Past that the peer is not reading what its own frames cause: it is
    /// a slow consumer, and the queue is dropped as by [`Outbox::kill`] (`Full`).
    pub fn push_control(&self, frame: Frame) -> Result<(), PushError> {
        if self.state.get() != OutState::Open {
            return Err(PushError::Closed);
        }
        if self.queued.get() + frame.len() > self.limit.saturating_add(CONTROL_HEADROOM) {
            self.set_reason(Disconnect::SlowConsumer);
            self.kill(None);
            return Err(PushError::Full);
        }
        self.enqueue(frame);
        Ok(())
    }

    /// Queue `last` (if any) as the final frame and stop accepting more. The
    /// writer flushes what is queued and then closes the socket.
    pub fn close_with(&self, last: Option<Frame>) {
        if self.state.get() != OutState::Open {
            return;
        }
        if let Some(f) = last {
            self.enqueue(f);
        }
        self.state.set(OutState::Closing);
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
            inner.queue.clear();
            inner.head_offset = 0;
            self.queued.set(0);
            if let Some(f) = last {
                self.queued.set(f.len());
                inner.queue.push_back(f);
            }
        }
        self.state.set(OutState::Dead);
        self.wake();
        if let Some(w) = self.inner.borrow_mut().kill_waker.take() {
            w.wake();
        }
    }

    fn enqueue(&self, frame: Frame) {
        self.queued.set(self.queued.get() + frame.len());
        let mut inner = self.inner.borrow_mut();
        inner.queue.push_back(frame);
        if let Some(w) = inner.waker.take() {
            w.wake();
        }
    }

    fn wake(&self) {
        if let Some(w) = self.inner.borrow_mut().waker.take() {
            w.wake();
        }
    }

    /// Wake `cx` when the outbox is killed (a writer blocked on a full socket); pushes do not.
    pub fn wake_on_kill(&self, cx: &Context<'_>) {
        let mut inner = self.inner.borrow_mut();
        match &inner.kill_waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => inner.kill_waker = Some(cx.waker().clone()),
        }
    }

    /// Ready when there is something to write or the state left `Open`.
    pub fn poll_ready(&self, cx: &mut Context<'_>) -> Poll<()> {
        let mut inner = self.inner.borrow_mut();
        if !inner.queue.is_empty() || self.state.get() != OutState::Open {
            return Poll::Ready(());
        }
        match &inner.waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => inner.waker = Some(cx.waker().clone()),
        }
        Poll::Pending
    }

    /// Whether nothing is left to write.
    pub fn is_empty(&self) -> bool {
        self.inner.borrow().queue.is_empty()
    }

    /// Point `iov` at the queued bytes (head first); returns how many entries
    /// were filled. The pointers stay valid until the next mutation.
    pub fn fill_iovecs(&self, iov: &mut [libc::iovec]) -> usize {
        let inner = self.inner.borrow();
        let mut n = 0;
        for (i, frame) in inner.queue.iter().enumerate() {
            if n == iov.len() {
                break;
            }
            let bytes: &[u8] = if i == 0 {
                &frame[inner.head_offset..]
            } else {
                frame
            };
            iov[n] = libc::iovec {
                iov_base: bytes.as_ptr() as *mut libc::c_void,
                iov_len: bytes.len(),
            };
            n += 1;
        }
        n
    }

    /// The unwritten part of the head frame, copied (for the readiness path).
    pub fn with_head<R>(&self, f: impl FnOnce(&[u8]) -> R) -> Option<R> {
        let inner = self.inner.borrow();
        inner.queue.front().map(|fr| f(&fr[inner.head_offset..]))
    }

    /// Mark `written` bytes as sent, popping finished frames.
    pub fn advance(&self, mut written: usize) {
        self.queued.set(self.queued.get().saturating_sub(written));
        let mut inner = self.inner.borrow_mut();
        while written > 0 {
            let Some(front_len) = inner.queue.front().map(|f| f.len()) else {
                break;
            };
            let left = front_len - inner.head_offset;
            if written >= left {
                written -= left;
                inner.queue.pop_front();
                inner.head_offset = 0;
            } else {
                inner.head_offset += written;
                written = 0;
            }
        }
        if inner.queue.is_empty() && inner.queue.capacity() > 64 {
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
    fn a_writer_blocked_on_the_socket_wakes_on_kill_not_on_push() {
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
        o.wake_on_kill(&cx);
        o.push(frame(5)).unwrap();
        o.push_control(frame(5)).unwrap();
        assert_eq!(count.0.load(Ordering::SeqCst), 0, "pushes do not wake it");
        o.kill(None);
        assert_eq!(count.0.load(Ordering::SeqCst), 1, "the kill does");
    }

    #[test]
    fn advance_handles_partial_writes() {
        let o = Outbox::new(100);
        o.push(frame(5)).unwrap();
        o.push(frame(5)).unwrap();
        o.advance(3);
        let mut iov = [libc::iovec {
            iov_base: std::ptr::null_mut(),
            iov_len: 0,
        }; 4];
        assert_eq!(o.fill_iovecs(&mut iov), 2);
        assert_eq!(iov[0].iov_len, 2);
        assert_eq!(iov[1].iov_len, 5);
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
