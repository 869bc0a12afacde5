//! A pool of WebSocket client connections driven by one single-threaded epoll loop: connect
//! (from cycling loopback sources), hand-written upgrade, then server frames parsed from one
//! shared read buffer (a connection keeps bytes only while a frame is split across reads), pings
//! answered, writes coalesced per connection and flushed once per loop turn. Scenarios plug in
//! through [`WsHandler`]; every failure is counted by kind, never a panic.

use std::io;

use serde::{Deserialize, Serialize};
use socket2::Socket;
use tungstenite::protocol::frame::coding::Control;

use super::epoll::Poller;
use super::socket::{self, SourceCycle};
use super::ws::{self, Frame, Handshake, Parsed};
use crate::target::Target;

/// Life cycle of one connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnState {
    /// TCP connect in flight.
    Connecting,
    /// Upgrade request sent, waiting for 101.
    Handshaking,
    /// Frames flow.
    Open,
    /// Gone (failed, closed by the server, or closed by us).
    Closed,
}

/// Why a connection ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// socket/bind/connect failed or was refused.
    Connect,
    /// Non-101 status or wrong accept key.
    Rejected,
    /// Handshake did not finish in time (set by the scenario).
    Timeout,
    /// EOF or a close frame from the server.
    ClosedByServer,
    /// Read/write error.
    Io,
    /// Unparsable frame or other protocol violation.
    Protocol,
    /// Closed by the load generator itself.
    Local,
    /// Accepted by a shard the scenario did not want ([`WsHandler::placed`]): closed at once
    /// and dialled again, not a failure.
    Misplaced,
}

/// Per-kind failure and event counters of a pool.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolCounters {
    /// Connects that failed.
    pub connect_failed: u64,
    /// Handshakes answered with anything but a valid 101.
    pub handshake_rejected: u64,
    /// Handshakes that timed out.
    pub handshake_timeout: u64,
    /// Open connections closed by the server.
    pub closed_by_server: u64,
    /// I/O errors.
    pub io_errors: u64,
    /// Protocol errors.
    pub protocol_errors: u64,
    /// Pings answered.
    pub pings: u64,
    /// Fragmented messages received (only the first fragment is looked at).
    pub fragmented: u64,
    /// Handshakes accepted by an unwanted shard, closed to be dialled again.
    #[serde(default)]
    pub misplaced: u64,
}

impl PoolCounters {
    /// Every failure except local closes.
    pub fn failures(&self) -> u64 {
        self.connect_failed
            + self.handshake_rejected
            + self.handshake_timeout
            + self.closed_by_server
            + self.io_errors
            + self.protocol_errors
    }

    fn count(&mut self, f: Failure) {
        match f {
            Failure::Connect => self.connect_failed += 1,
            Failure::Rejected => self.handshake_rejected += 1,
            Failure::Timeout => self.handshake_timeout += 1,
            Failure::ClosedByServer => self.closed_by_server += 1,
            Failure::Io => self.io_errors += 1,
            Failure::Protocol => self.protocol_errors += 1,
            Failure::Misplaced => self.misplaced += 1,
            Failure::Local => {}
        }
    }
}

/// Callbacks of a scenario.
pub trait WsHandler {
    /// Connection `conn` finished its handshake at `now_ns` (connect was intended at `intended_ns`).
    fn on_open(&mut self, conn: usize, intended_ns: u64, now_ns: u64);
    /// A text or binary message (first fragment only when fragmented) arrived at `now_ns`.
    fn on_message(&mut self, conn: usize, room: u32, payload: &[u8], now_ns: u64);
    /// Connection `conn` of room `room` was accepted by server shard `shard` (when the server
    /// says, as roomcore does): false closes it as [`Failure::Misplaced`] before it opens.
    fn placed(&mut self, _conn: usize, _room: u32, _shard: Option<u32>) -> bool {
        true
    }
    /// Connection `conn` ended; `was_open` when it had completed its handshake.
    fn on_close(&mut self, conn: usize, failure: Failure, was_open: bool);
}

/// One client connection.
#[derive(Debug)]
pub struct WsConn {
    sock: Option<Socket>,
    /// Current state.
    pub state: ConnState,
    /// Room index this connection joined.
    pub room: u32,
    /// When the connect was intended (ns on the run clock).
    pub intended_ns: u64,
    accept: String,
    inbuf: Vec<u8>,
    out: Vec<u8>,
    out_pos: usize,
    want_write: bool,
    dirty: bool,
}

/// The pool: connections, poller, shared read buffer and counters.
pub struct WsPool {
    poller: Poller,
    /// All connections ever started, indexed by connection number.
    pub conns: Vec<WsConn>,
    scratch: Vec<u8>,
    dirty: Vec<u32>,
    target: Target,
    /// More servers ([`WsPool::start_on`]): a cluster's other nodes.
    more: Vec<Target>,
    sources: SourceCycle,
    mask: [u8; 4],
    max_frame: usize,
    open: usize,
    /// Failure counters.
    pub counters: PoolCounters,
}

const SCRATCH: usize = 256 * 1024;

impl WsPool {
    /// A pool for `target`; `many_sources` cycles loopback source addresses (loopback targets only).
    pub fn new(target: Target, many_sources: bool) -> io::Result<Self> {
        let sources = SourceCycle::new(many_sources && target.is_loopback());
        let seed = std::process::id() ^ (crate::procstat::self_cpu_us() as u32);
        let mask = (seed.wrapping_mul(0x9E37_79B9) | 0x0101_0101).to_le_bytes();
        Ok(Self {
            // Reads go until a short read or EAGAIN and writes until EAGAIN (`read_conn`,
            // `write_out`), so edge-triggered readiness is enough.
            poller: Poller::new_edge_triggered(1024)?,
            conns: Vec::new(),
            scratch: vec![0; SCRATCH],
            dirty: Vec::new(),
            target,
            more: Vec::new(),
            sources,
            mask,
            max_frame: 16 * 1024 * 1024,
            open: 0,
            counters: PoolCounters::default(),
        })
    }

    /// The client frame mask used by this pool.
    pub fn mask(&self) -> [u8; 4] {
        self.mask
    }

    /// Connections currently open.
    pub fn open_count(&self) -> usize {
        self.open
    }

    /// Add another server: connections go to it with [`WsPool::start_on`] (index 1, 2, ...).
    pub fn add_target(&mut self, t: Target) {
        self.more.push(t);
    }

    /// Starts connection number `self.conns.len()` to `path` for room index `room`; returns its
    /// number. A failed start is reported to `h` at once and counted.
    pub fn start(
        &mut self,
        room: u32,
        path: &str,
        intended_ns: u64,
        h: &mut impl WsHandler,
    ) -> usize {
        self.start_on(0, room, path, intended_ns, h)
    }

    /// [`WsPool::start`] on server `target` (0 = the pool's own, then those added).
    pub fn start_on(
        &mut self,
        target: usize,
        room: u32,
        path: &str,
        intended_ns: u64,
        h: &mut impl WsHandler,
    ) -> usize {
        let t = match target {
            0 => &self.target,
            i => &self.more[(i - 1) % self.more.len().max(1)],
        };
        let (host, addr) = (t.host_header.clone(), t.addr);
        let idx = self.conns.len();
        let (key, accept) = ws::new_key();
        let mut conn = WsConn {
            sock: None,
            state: ConnState::Connecting,
            room,
            intended_ns,
            accept,
            inbuf: Vec::new(),
            out: ws::handshake_request(&host, path, &key),
            out_pos: 0,
            want_write: true,
            dirty: false,
        };
        let started = socket::connect(addr, self.sources.next_addr()).and_then(|s| {
            self.poller
                .add(std::os::fd::AsRawFd::as_raw_fd(&s), idx as u64, true)?;
            Ok(s)
        });
        match started {
            Ok(s) => {
                conn.sock = Some(s);
                self.conns.push(conn);
            }
            Err(_) => {
                conn.state = ConnState::Closed;
                self.conns.push(conn);
                self.counters.count(Failure::Connect);
                h.on_close(idx, Failure::Connect, false);
            }
        }
        idx
    }

    /// The output buffer of an open connection, marked for the next [`WsPool::flush`]; `None`
    /// if the connection is not open.
    #[inline]
    pub fn out(&mut self, conn: usize) -> Option<&mut Vec<u8>> {
        let c = self.conns.get_mut(conn)?;
        if c.state != ConnState::Open {
            return None;
        }
        if !c.dirty {
            c.dirty = true;
            self.dirty.push(conn as u32);
        }
        Some(&mut c.out)
    }

    /// Writes every connection with queued output (one write per connection).
    pub fn flush(&mut self, h: &mut impl WsHandler) {
        let mut dirty = std::mem::take(&mut self.dirty);
        for &i in &dirty {
            let i = i as usize;
            self.conns[i].dirty = false;
            if let Err(f) = self.write_out(i) {
                self.fail(i, f, h);
            }
        }
        dirty.clear();
        self.dirty = dirty;
    }

    fn write_out(&mut self, i: usize) -> Result<(), Failure> {
        let c = &mut self.conns[i];
        let Some(sock) = c.sock.as_ref() else {
            return Ok(());
        };
        while c.out_pos < c.out.len() {
            match socket::write(sock, &c.out[c.out_pos..]) {
                Ok(n) => c.out_pos += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Err(Failure::Io),
            }
        }
        let pending = c.out_pos < c.out.len();
        if !pending {
            c.out.clear();
            c.out_pos = 0;
        } else if c.out_pos > 256 * 1024 {
            c.out.drain(..c.out_pos);
            c.out_pos = 0;
        }
        if pending != c.want_write {
            c.want_write = pending;
            let fd = std::os::fd::AsRawFd::as_raw_fd(sock);
            self.poller
                .modify(fd, i as u64, pending)
                .map_err(|_| Failure::Io)?;
        }
        Ok(())
    }

    /// Ends connection `i` (counted as `f`), telling the handler.
    pub fn fail(&mut self, i: usize, f: Failure, h: &mut impl WsHandler) {
        let c = &mut self.conns[i];
        if c.state == ConnState::Closed {
            return;
        }
        let was_open = c.state == ConnState::Open;
        if was_open {
            self.open -= 1;
        }
        c.state = ConnState::Closed;
        c.sock = None;
        c.inbuf = Vec::new();
        c.out = Vec::new();
        c.out_pos = 0;
        self.counters.count(f);
        h.on_close(i, f, was_open);
    }

    /// Waits up to `timeout_ns` for readiness and handles every event; `now` reads the clock.
    pub fn poll(
        &mut self,
        timeout_ns: Option<u64>,
        now: impl Fn() -> u64,
        h: &mut impl WsHandler,
    ) -> io::Result<()> {
        let n = self.poller.wait(timeout_ns)?;
        for k in 0..n {
            let ev = self.poller.event(k);
            let i = ev.token as usize;
            if i >= self.conns.len() || self.conns[i].state == ConnState::Closed {
                continue;
            }
            if self.conns[i].state == ConnState::Connecting {
                if !(ev.writable || ev.closed) {
                    continue;
                }
                let ok = self.conns[i]
                    .sock
                    .as_ref()
                    .map(|s| matches!(s.take_error(), Ok(None)))
                    .unwrap_or(false);
                if !ok {
                    self.fail(i, Failure::Connect, h);
                    continue;
                }
                self.conns[i].state = ConnState::Handshaking;
            }
            if ev.writable {
                if let Err(f) = self.write_out(i) {
                    self.fail(i, f, h);
                    continue;
                }
            }
            if ev.readable || ev.closed {
                let t = now();
                if let Err(f) = self.read_conn(i, t, ev.peer_done, h) {
                    self.fail(i, f, h);
                }
            }
        }
        self.flush(h);
        Ok(())
    }

    /// Reads and handles what connection `i` has; stops at a short read unless `to_end` (the
    /// poller reported the server's shutdown, which only a read returning 0 consumes).
    fn read_conn(
        &mut self,
        i: usize,
        now: u64,
        to_end: bool,
        h: &mut impl WsHandler,
    ) -> Result<(), Failure> {
        loop {
            let pre = self.conns[i].inbuf.len();
            if pre + 64 * 1024 > self.scratch.len() {
                self.scratch.resize(pre + SCRATCH, 0);
            }
            let c = &mut self.conns[i];
            self.scratch[..pre].copy_from_slice(&c.inbuf);
            c.inbuf.clear();
            let Some(sock) = c.sock.as_ref() else {
                return Ok(());
            };
            let room_for = self.scratch.len() - pre;
            let n = match socket::read(sock, &mut self.scratch[pre..]) {
                Ok(0) => return Err(Failure::ClosedByServer),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    c.inbuf.extend_from_slice(&self.scratch[..pre]);
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                    c.inbuf.extend_from_slice(&self.scratch[..pre]);
                    continue;
                }
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset => {
                    return Err(Failure::ClosedByServer)
                }
                Err(_) => return Err(Failure::Io),
            };
            let used = self.process(i, pre + n, now, h)?;
            let c = &mut self.conns[i];
            if c.state == ConnState::Closed {
                return Ok(());
            }
            c.inbuf.extend_from_slice(&self.scratch[used..pre + n]);
            if n < room_for && !to_end {
                return Ok(());
            }
        }
    }

    /// Handles the first `len` bytes of the scratch buffer for connection `i`; returns how many
    /// were consumed (the rest is an incomplete frame or response head).
    fn process(
        &mut self,
        i: usize,
        len: usize,
        now: u64,
        h: &mut impl WsHandler,
    ) -> Result<usize, Failure> {
        let mut pos = 0;
        if self.conns[i].state == ConnState::Handshaking {
            let c = &mut self.conns[i];
            match ws::parse_handshake(&self.scratch[..len], &c.accept) {
                Handshake::Incomplete => return Ok(0),
                Handshake::Rejected(_) => return Err(Failure::Rejected),
                Handshake::Accepted { consumed, shard } => {
                    if !h.placed(i, c.room, shard) {
                        return Err(Failure::Misplaced);
                    }
                    c.state = ConnState::Open;
                    c.accept = String::new();
                    if c.out_pos >= c.out.len() {
                        c.out = Vec::new();
                        c.out_pos = 0;
                    }
                    pos = consumed;
                    self.open += 1;
                    h.on_open(i, c.intended_ns, now);
                }
            }
        }
        let room = self.conns[i].room;
        while pos < len {
            match ws::parse_frame(&self.scratch[pos..len], self.max_frame) {
                Parsed::Incomplete => break,
                Parsed::Error(_) => return Err(Failure::Protocol),
                Parsed::Frame(frame, used) => {
                    match frame {
                        Frame::Data { fin, payload, .. } => {
                            if !fin {
                                self.counters.fragmented += 1;
                            }
                            h.on_message(i, room, payload, now);
                        }
                        Frame::Continuation { .. } | Frame::Pong => {}
                        Frame::Ping(p) => {
                            self.counters.pings += 1;
                            let p: ([u8; 125], usize) = {
                                let mut b = [0u8; 125];
                                let n = p.len().min(125);
                                b[..n].copy_from_slice(&p[..n]);
                                (b, n)
                            };
                            let mask = self.mask;
                            if let Some(out) = self.out(i) {
                                ws::write_control(out, Control::Pong, &p.0[..p.1], mask);
                            }
                        }
                        Frame::Close(_) => return Err(Failure::ClosedByServer),
                    }
                    pos += used;
                }
            }
            if self.conns[i].state == ConnState::Closed {
                break;
            }
        }
        Ok(pos)
    }

    /// Sends a close frame on every open connection, flushes, and drops every socket.
    pub fn close_all(&mut self, h: &mut impl WsHandler) {
        let mask = self.mask;
        for i in 0..self.conns.len() {
            if let Some(out) = self.out(i) {
                ws::write_close(out, mask);
            }
        }
        self.flush(h);
        for i in 0..self.conns.len() {
            self.fail(i, Failure::Local, h);
        }
    }
}
