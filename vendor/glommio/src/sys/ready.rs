// roomcore patch 7: socket readiness without a `Source`.
//
// A socket that only ever waits for "readable" (a multishot poll armed for its whole life)
// and, now and then, "writable" (a one-shot poll while its send buffer is full) does not
// need the 472-byte `InnerSource` (behind an `Rc<RefCell<..>>`, plus a `Vec` of wakers) that
// every glommio request carries. This table keeps one 32-byte slot per socket instead:
// a generation, the polls it has in the kernel, the events seen since the owner last looked
// and one waker. Its completions are told apart from the sources' by the top bit of their
// `user_data`; they never touch the source map.
//
// A slot lives until its owner drops it AND every request it queued has ended (its final
// completion arrived, or it was dropped before it was submitted): only then can its index
// be reused, so a late completion never reaches another socket.

use std::task::Waker;

/// `user_data` of a readiness request: this bit, the write bit, the generation (30 bits,
/// shifted by 32) and the slot index (32 bits).
pub(crate) const READY_TAG: u64 = 1 << 63;
const WRITE_BIT: u64 = 1 << 62;
const GEN_MASK: u32 = (1 << 30) - 1;

/// The owner holds the slot.
const LIVE: u8 = 1;
/// A multishot read-readiness poll is queued or in the kernel.
const READ_ARMED: u8 = 2;
/// A one-shot write-readiness poll is queued or in the kernel.
const WRITE_ARMED: u8 = 4;

/// Reported to the owner: the socket became readable.
pub const READABLE: u8 = 1;
/// Reported to the owner: the socket may take more bytes.
pub const WRITABLE: u8 = 2;
/// The peer shut its side down, hung up, or the socket has an error.
pub const HANGUP: u8 = 4;

#[derive(Debug)]
struct Slot {
    gen: u32,
    /// Next free slot while free.
    next_free: u32,
    flags: u8,
    /// Events since the owner last took them.
    events: u8,
    /// Requests queued or in the kernel.
    inflight: u8,
    waker: Option<Waker>,
}

/// What the ring must do for a slot.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Arm {
    None,
    /// Queue a multishot read-readiness poll with this `user_data`.
    Read(u64),
    /// Queue a one-shot write-readiness poll with this `user_data`.
    Write(u64),
    /// Both.
    Both(u64, u64),
}

/// The readiness slots of one reactor.
#[derive(Debug, Default)]
pub(crate) struct ReadyTable {
    slots: Vec<Slot>,
    free: Option<u32>,
}

fn user_data(idx: u32, gen: u32, write: bool) -> u64 {
    READY_TAG | if write { WRITE_BIT } else { 0 } | (u64::from(gen & GEN_MASK) << 32) | idx as u64
}

fn split(ud: u64) -> (u32, u32, bool) {
    (ud as u32, (ud >> 32) as u32 & GEN_MASK, ud & WRITE_BIT != 0)
}

impl ReadyTable {
    /// A new live slot: `(index, generation)`.
    pub(crate) fn alloc(&mut self) -> (u32, u32) {
        let idx = match self.free {
            Some(i) => {
                self.free = match self.slots[i as usize].next_free {
                    u32::MAX => None,
                    n => Some(n),
                };
                i
            }
            None => {
                self.slots.push(Slot {
                    gen: 0,
                    next_free: u32::MAX,
                    flags: 0,
                    events: 0,
                    inflight: 0,
                    waker: None,
                });
                (self.slots.len() - 1) as u32
            }
        };
        let s = &mut self.slots[idx as usize];
        s.flags = LIVE;
        s.events = 0;
        (idx, s.gen)
    }

    fn live(&mut self, idx: u32, gen: u32) -> Option<&mut Slot> {
        self.slots
            .get_mut(idx as usize)
            .filter(|s| s.flags & LIVE != 0 && s.gen == gen)
    }

    /// Take the events of `want` seen since the last call, or remember `waker` and say which
    /// polls must be armed to learn of them.
    pub(crate) fn poll(&mut self, idx: u32, gen: u32, want: u8, waker: &Waker) -> (u8, Arm) {
        let Some(s) = self.live(idx, gen) else {
            return (READABLE | WRITABLE | HANGUP, Arm::None);
        };
        // A hang-up (or error) answers any interest: the next syscall reports it.
        let got = s.events & (want | HANGUP);
        if got != 0 {
            s.events &= !got;
            return (got, Arm::None);
        }
        match &s.waker {
            Some(w) if w.will_wake(waker) => {}
            _ => s.waker = Some(waker.clone()),
        }
        let read = want & READABLE != 0 && s.flags & READ_ARMED == 0;
        let write = want & WRITABLE != 0 && s.flags & WRITE_ARMED == 0;
        if read {
            s.flags |= READ_ARMED;
            s.inflight += 1;
        }
        if write {
            s.flags |= WRITE_ARMED;
            s.inflight += 1;
        }
        let arm = match (read, write) {
            (true, true) => Arm::Both(user_data(idx, gen, false), user_data(idx, gen, true)),
            (true, false) => Arm::Read(user_data(idx, gen, false)),
            (false, true) => Arm::Write(user_data(idx, gen, true)),
            (false, false) => Arm::None,
        };
        (0, arm)
    }

    /// Arm the read poll of a fresh slot (a socket wants to know when data arrives from the
    /// start, so that its first wait does not need a round trip).
    pub(crate) fn arm_read(&mut self, idx: u32, gen: u32) -> Option<u64> {
        let s = self.live(idx, gen)?;
        if s.flags & READ_ARMED != 0 {
            return None;
        }
        s.flags |= READ_ARMED;
        s.inflight += 1;
        Some(user_data(idx, gen, false))
    }

    /// The owner gives the slot up: the `user_data` of the requests to cancel.
    pub(crate) fn release(&mut self, idx: u32, gen: u32) -> (Option<u64>, Option<u64>) {
        let Some(s) = self.live(idx, gen) else {
            return (None, None);
        };
        s.flags &= !LIVE;
        s.waker = None;
        let read = (s.flags & READ_ARMED != 0).then(|| user_data(idx, gen, false));
        let write = (s.flags & WRITE_ARMED != 0).then(|| user_data(idx, gen, true));
        if s.inflight == 0 {
            self.free_slot(idx);
        }
        (read, write)
    }

    fn free_slot(&mut self, idx: u32) {
        let next = self.free.unwrap_or(u32::MAX);
        let s = &mut self.slots[idx as usize];
        s.gen = s.gen.wrapping_add(1) & GEN_MASK;
        s.flags = 0;
        s.events = 0;
        s.waker = None;
        s.next_free = next;
        self.free = Some(idx);
    }

    /// One request of the slot ended without a completion (dropped before submission).
    fn ended(&mut self, idx: u32, write: bool) {
        let s = &mut self.slots[idx as usize];
        s.inflight -= 1;
        s.flags &= !if write { WRITE_ARMED } else { READ_ARMED };
        if s.inflight == 0 && s.flags & LIVE == 0 {
            self.free_slot(idx);
        }
    }

    /// Whether a queued request is still wanted when it is about to be submitted; one that is
    /// not is dropped here and counts as ended.
    pub(crate) fn submit(&mut self, ud: u64) -> bool {
        let (idx, gen, write) = split(ud);
        match self.slots.get(idx as usize) {
            Some(s) if s.gen == gen && s.flags & LIVE != 0 => true,
            Some(s) if s.gen == gen => {
                self.ended(idx, write);
                false
            }
            _ => false,
        }
    }

    /// A completion: `result` is the poll mask (or `-errno`), `more` whether the request
    /// stays in the kernel. Returns the waker to wake, if any.
    pub(crate) fn complete(&mut self, ud: u64, result: i32, more: bool) -> Option<Waker> {
        let (idx, gen, write) = split(ud);
        let s = self.slots.get_mut(idx as usize).filter(|s| s.gen == gen)?;
        if s.flags & LIVE != 0 {
            let hup = libc::POLLRDHUP | libc::POLLHUP | libc::POLLERR;
            s.events |= if write { WRITABLE } else { READABLE };
            if !write && result == -libc::EINVAL {
                // A kernel without multishot polls (before 5.13): one-shot polls from now on.
                crate::net::stream::MULTISHOT_POLL_UNSUPPORTED
                    .store(true, std::sync::atomic::Ordering::Relaxed);
            } else if result < 0 || result as libc::c_short & hup != 0 {
                s.events |= HANGUP;
            }
        }
        if !more {
            self.ended(idx, write);
        }
        self.live(idx, gen).and_then(|s| s.waker.take())
    }

    /// Whether `ud` is a readiness request.
    pub(crate) fn is_ready(ud: u64) -> bool {
        ud & READY_TAG != 0
    }

    /// Live slots and slots waiting for their last completion (for tests and statistics).
    #[allow(dead_code)]
    pub(crate) fn used(&self) -> usize {
        self.slots.iter().filter(|s| s.flags != 0 || s.inflight != 0).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::task::Wake;

    struct W;
    impl Wake for W {
        fn wake(self: Arc<Self>) {}
    }

    #[test]
    fn a_slot_is_reused_only_after_its_last_completion() {
        let w = Waker::from(Arc::new(W));
        let mut t = ReadyTable::default();
        let (i, g) = t.alloc();
        let read = t.arm_read(i, g).unwrap();
        assert!(t.submit(read));
        assert_eq!(t.poll(i, g, READABLE, &w), (0, Arm::None));
        assert!(t.complete(read, libc::POLLIN as i32, true).is_some());
        assert_eq!(t.poll(i, g, READABLE, &w).0, READABLE);
        // Blocked on a write: a one-shot poll.
        let (got, arm) = t.poll(i, g, WRITABLE, &w);
        assert_eq!(got, 0);
        let Arm::Write(write) = arm else { panic!("{arm:?}") };
        assert!(t.submit(write));
        assert!(t.complete(write, libc::POLLOUT as i32, false).is_some());
        assert_eq!(t.poll(i, g, WRITABLE, &w).0, WRITABLE);
        // Dropped with the read poll in the kernel: the slot waits for its final completion.
        assert_eq!(t.release(i, g), (Some(read), None));
        assert_eq!(t.used(), 1);
        let (j, _) = t.alloc();
        assert_ne!(i, j);
        assert!(t.complete(read, -libc::ECANCELED, false).is_none());
        assert_eq!(t.used(), 1);
        let (k, gk) = t.alloc();
        assert_eq!(k, i);
        assert_ne!(gk, g);
    }

    #[test]
    fn a_request_dropped_before_submission_ends() {
        let w = Waker::from(Arc::new(W));
        let mut t = ReadyTable::default();
        let (i, g) = t.alloc();
        let (_, arm) = t.poll(i, g, READABLE, &w);
        let Arm::Read(read) = arm else { panic!() };
        t.release(i, g);
        assert!(!t.submit(read));
        assert_eq!(t.used(), 0);
    }

    #[test]
    fn hangup_answers_any_interest_once() {
        let w = Waker::from(Arc::new(W));
        let mut t = ReadyTable::default();
        let (i, g) = t.alloc();
        let read = t.arm_read(i, g).unwrap();
        t.submit(read);
        t.complete(read, (libc::POLLIN | libc::POLLRDHUP) as i32, true);
        assert_eq!(t.poll(i, g, WRITABLE, &w).0, HANGUP);
        assert_eq!(t.poll(i, g, READABLE, &w).0, READABLE);
        assert_eq!(t.poll(i, g, READABLE, &w).0, 0);
    }
}
