//! Thin epoll wrapper with nanosecond wait timeouts (epoll_pwait2, falling back to epoll_wait
//! with millisecond rounding on kernels without it). Level-triggered by default;
//! [`Poller::new_edge_triggered`] for users that read and write until `EAGAIN` (or a short
//! read), which spares the kernel re-polling every ready socket on each wait.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// Readiness of one registered socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Event {
    /// Token given at registration.
    pub token: u64,
    /// Data (or EOF) to read.
    pub readable: bool,
    /// Send buffer space available (or connect finished).
    pub writable: bool,
    /// Error or hang-up.
    pub closed: bool,
    /// The peer shut its side down (`EPOLLRDHUP`), or error or hang-up: reading must go on
    /// until end of stream or `EAGAIN`, since a short read leaves the end unread and an
    /// edge-triggered poller does not report it again.
    pub peer_done: bool,
}

/// An epoll instance and its event buffer.
pub struct Poller {
    fd: OwnedFd,
    events: Vec<libc::epoll_event>,
    ready: usize,
    pwait2: bool,
    edge: bool,
}

fn cvt(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

impl Poller {
    /// A poller returning at most `capacity` events per wait.
    pub fn new(capacity: usize) -> io::Result<Self> {
        // SAFETY: plain syscall; the returned fd is owned below.
        let fd = cvt(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) })?;
        // SAFETY: fd is a fresh descriptor we own.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let empty = libc::epoll_event { events: 0, u64: 0 };
        Ok(Self {
            fd,
            events: vec![empty; capacity.max(16)],
            ready: 0,
            pwait2: true,
            edge: false,
        })
    }

    /// An edge-triggered poller (`EPOLLET`): an event reports new readiness once, so its user
    /// must read until a short read or `EAGAIN`, and write until done or `EAGAIN`.
    pub fn new_edge_triggered(capacity: usize) -> io::Result<Self> {
        let mut p = Self::new(capacity)?;
        p.edge = true;
        Ok(p)
    }

    fn ctl(&self, op: libc::c_int, fd: RawFd, token: u64, write: bool) -> io::Result<()> {
        let mut flags = libc::EPOLLIN | libc::EPOLLRDHUP;
        if write {
            flags |= libc::EPOLLOUT;
        }
        if self.edge {
            flags |= libc::EPOLLET;
        }
        let mut ev = libc::epoll_event {
            events: flags as u32,
            u64: token,
        };
        // SAFETY: ev outlives the call; fd validity is checked by the kernel.
        cvt(unsafe { libc::epoll_ctl(self.fd.as_raw_fd(), op, fd, &mut ev) }).map(|_| ())
    }

    /// Registers `fd` for reading (and writing when `write`).
    pub fn add(&self, fd: RawFd, token: u64, write: bool) -> io::Result<()> {
        self.ctl(libc::EPOLL_CTL_ADD, fd, token, write)
    }

    /// Changes the interest set of a registered `fd`.
    pub fn modify(&self, fd: RawFd, token: u64, write: bool) -> io::Result<()> {
        self.ctl(libc::EPOLL_CTL_MOD, fd, token, write)
    }

    /// Unregisters `fd` (closing it does the same).
    pub fn delete(&self, fd: RawFd) -> io::Result<()> {
        self.ctl(libc::EPOLL_CTL_DEL, fd, 0, false)
    }

    /// Waits for readiness, at most `timeout_ns` (forever with `None`); returns the number of
    /// events, readable with [`Poller::event`]. EINTR reads as zero events.
    pub fn wait(&mut self, timeout_ns: Option<u64>) -> io::Result<usize> {
        let max = self.events.len() as libc::c_int;
        let r = if self.pwait2 {
            let ts = timeout_ns.map(|ns| libc::timespec {
                tv_sec: (ns / 1_000_000_000) as libc::time_t,
                tv_nsec: (ns % 1_000_000_000) as libc::c_long,
            });
            let tsp = ts
                .as_ref()
                .map_or(std::ptr::null(), |t| t as *const libc::timespec);
            // SAFETY: events buffer holds `max` entries; tsp is null or points to a live timespec.
            let r = unsafe {
                libc::syscall(
                    libc::SYS_epoll_pwait2,
                    self.fd.as_raw_fd(),
                    self.events.as_mut_ptr(),
                    max,
                    tsp,
                    std::ptr::null::<libc::sigset_t>(),
                    0usize,
                )
            } as libc::c_int;
            if r < 0 && io::Error::last_os_error().raw_os_error() == Some(libc::ENOSYS) {
                self.pwait2 = false;
                return self.wait(timeout_ns);
            }
            r
        } else {
            let ms = timeout_ns.map_or(-1, |ns| ns.div_ceil(1_000_000).min(i32::MAX as u64) as i32);
            // SAFETY: events buffer holds `max` entries.
            unsafe { libc::epoll_wait(self.fd.as_raw_fd(), self.events.as_mut_ptr(), max, ms) }
        };
        if r < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                self.ready = 0;
                return Ok(0);
            }
            return Err(e);
        }
        self.ready = r as usize;
        Ok(self.ready)
    }

    /// Event `i` of the last wait.
    #[inline]
    pub fn event(&self, i: usize) -> Event {
        let e = self.events[i];
        let bits = e.events as libc::c_int;
        Event {
            token: e.u64,
            readable: bits & (libc::EPOLLIN | libc::EPOLLRDHUP) != 0,
            writable: bits & libc::EPOLLOUT != 0,
            closed: bits & (libc::EPOLLERR | libc::EPOLLHUP) != 0,
            peer_done: bits & (libc::EPOLLRDHUP | libc::EPOLLERR | libc::EPOLLHUP) != 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::unix::net::UnixStream;

    #[test]
    fn timeout_and_readiness() {
        let mut p = Poller::new(8).unwrap();
        let (a, mut b) = UnixStream::pair().unwrap();
        p.add(a.as_raw_fd(), 7, false).unwrap();
        let t = std::time::Instant::now();
        assert_eq!(p.wait(Some(2_000_000)).unwrap(), 0);
        assert!(t.elapsed().as_micros() >= 1_900);
        b.write_all(b"x").unwrap();
        assert_eq!(p.wait(Some(1_000_000_000)).unwrap(), 1);
        let e = p.event(0);
        assert_eq!(e.token, 7);
        assert!(e.readable);
        p.modify(a.as_raw_fd(), 7, true).unwrap();
        p.wait(Some(0)).unwrap();
        assert!(p.event(0).writable);
        p.delete(a.as_raw_fd()).unwrap();
        assert_eq!(p.wait(Some(0)).unwrap(), 0);
    }

    #[test]
    fn edge_triggered_reports_new_data_once() {
        let mut p = Poller::new_edge_triggered(8).unwrap();
        let (a, mut b) = UnixStream::pair().unwrap();
        p.add(a.as_raw_fd(), 3, false).unwrap();
        b.write_all(b"x").unwrap();
        assert_eq!(p.wait(Some(1_000_000_000)).unwrap(), 1);
        assert!(p.event(0).readable);
        // not read: level-triggered would report it again, edge-triggered does not
        assert_eq!(p.wait(Some(0)).unwrap(), 0);
        // new data is a new edge
        b.write_all(b"y").unwrap();
        assert_eq!(p.wait(Some(1_000_000_000)).unwrap(), 1);
        assert_eq!(p.event(0).token, 3);
        // the level-triggered poller keeps reporting unread data
        let mut lt = Poller::new(8).unwrap();
        lt.add(a.as_raw_fd(), 4, false).unwrap();
        assert_eq!(lt.wait(Some(0)).unwrap(), 1);
        assert_eq!(lt.wait(Some(0)).unwrap(), 1);
    }

    #[test]
    fn last_bytes_and_shutdown_in_one_edge_say_peer_done() {
        use std::io::Read;
        let mut p = Poller::new_edge_triggered(8).unwrap();
        let (mut a, mut b) = UnixStream::pair().unwrap();
        p.add(a.as_raw_fd(), 5, false).unwrap();
        b.write_all(b"x").unwrap();
        assert_eq!(p.wait(Some(1_000_000_000)).unwrap(), 1);
        assert!(!p.event(0).peer_done, "data alone");
        let mut buf = [0u8; 8];
        assert_eq!(a.read(&mut buf).unwrap(), 1);
        // the last bytes and the shutdown arrive before the next wait: one edge for both
        b.write_all(b"yz").unwrap();
        b.shutdown(std::net::Shutdown::Write).unwrap();
        assert_eq!(p.wait(Some(1_000_000_000)).unwrap(), 1);
        let e = p.event(0);
        assert!(e.readable && e.peer_done, "{e:?}");
        // a short read leaves the end of stream unread, and no new edge reports it
        assert_eq!(a.read(&mut buf).unwrap(), 2);
        assert_eq!(p.wait(Some(0)).unwrap(), 0);
        assert_eq!(a.read(&mut buf).unwrap(), 0);
    }
}
