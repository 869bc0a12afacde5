//! One shard: the state a pinned executor owns and its long-running tasks.
//!
//! Owns the shard's connection table, room table, counters, read scratch
//! buffer and mesh sender; runs the accept loop, the mesh receivers and the
//! housekeeping tick (timeouts, heartbeats, graceful drain). Nothing here is
//! shared with other threads except through the mesh and [`Global`].

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, RawFd};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_channel::oneshot;
use glommio::channels::shared_channel::ConnectedReceiver;
use glommio::net::{TcpListener, TcpStream};
use glommio::{spawn_local, Task};
use shards::mesh::MeshEnds;
use shards::room::RelayRoom;
use shards::stats::{Chaos, Disconnect, FrameOut};
use shards::{stats, Frame, Mesh, Outbox, RelayRooms, ShardMsg, ShardStats, Stats};
use tungstenite::protocol::frame::coding::{Control, Data, OpCode};

use crate::api::{Services, ServicesSeed};
use crate::chaos::Rng;
use crate::config::Config;
use crate::global::Global;
use crate::limits::IpTable;
use crate::memory::MemoryGauge;
use crate::{conn, io, log, relay, ws};

/// Size of the per-shard read scratch buffer.
pub const SCRATCH_BYTES: usize = 64 * 1024;

/// One connection as the housekeeping tick sees it.
#[derive(Debug)]
pub struct ConnEntry {
    pub id: u64,
    pub fd: RawFd,
    pub peer: SocketAddr,
    /// When passed, the socket is shut down (head/idle/close timeouts).
    pub deadline: Cell<Option<Instant>>,
    /// Set once the connection is a WebSocket.
    pub outbox: RefCell<Option<Rc<Outbox>>>,
    /// An unanswered server ping (when it was sent).
    pub ping_sent: Cell<Option<Instant>>,
    /// When the last ping was sent.
    pub last_ping: Cell<Instant>,
    /// An HTTP connection between requests.
    pub idle_http: Cell<bool>,
    /// The relay room this connection is a member of (for crash clean-up).
    pub room: RefCell<Option<Rc<RelayRoom>>>,
}

/// State owned by one shard (not `Send`).
pub struct Shard {
    /// This shard's id (0..shards).
    pub id: usize,
    /// Validated configuration (shared read-only).
    pub config: Arc<Config>,
    /// Process-wide readiness/drain flags.
    pub global: Arc<Global>,
    /// Counters of this shard.
    pub stats: Stats,
    /// Relay rooms owned by this shard.
    pub rooms: RelayRooms,
    /// Open connections by id; entries leave when their task ends.
    pub conns: RefCell<HashMap<u64, Rc<ConnEntry>>>,
    /// Sending half of the mesh to the other shards.
    pub mesh: Mesh,
    /// Read scratch: borrowed only inside one poll, never across an await.
    pub scratch: RefCell<Vec<u8>>,
    /// Service handles of this shard (storage, caches) used by the API.
    pub services: Services,
    /// Whether this shard has started draining.
    pub draining: Cell<bool>,
    /// Game rooms and matchmaking queues this shard owns (see `game`).
    pub games: crate::game::Games,
    /// Per-IP connection counts and rate windows for the IPs this shard owns.
    pub ips: IpTable,
    /// Chaos-injection random source.
    pub rng: Rng,
    /// Last memory reading (refreshed by the housekeeping tick).
    pub memory: MemoryGauge,
    /// Last storage check of `/health`: (when, ok, rendered JSON object without
    /// its closing brace); reused for 1 s.
    pub storage_check: RefCell<Option<(Instant, bool, String)>>,
    /// How late the housekeeping timer fired, each tick (`roomcore_shard_loop_lag_seconds`):
    /// how long the event loop could not react, whether busy with its own work or kept off
    /// its core by other threads or kernel work. Every message on the shard waits as long.
    pub loop_lag: shards::metrics::Histogram,
    next_conn: Cell<u64>,
    next_request: Cell<u64>,
    request_prefix: u32,
    ping: Frame,
}

impl Shard {
    fn new(
        id: usize,
        config: Arc<Config>,
        global: Arc<Global>,
        mesh: Mesh,
        services: Services,
    ) -> Shard {
        let games = crate::game::Games::new(&config);
        Shard {
            id,
            config,
            global,
            stats: Stats::default(),
            rooms: RelayRooms::default(),
            conns: RefCell::new(HashMap::new()),
            mesh,
            scratch: RefCell::new(vec![0u8; SCRATCH_BYTES]),
            services,
            draining: Cell::new(false),
            games,
            ips: IpTable::default(),
            rng: Rng::new(id as u64 + 1),
            memory: MemoryGauge::default(),
            storage_check: RefCell::new(None),
            loop_lag: shards::metrics::Histogram::latency(),
            next_request: Cell::new(1),
            request_prefix: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.subsec_nanos() ^ (d.as_secs() as u32)),
            next_conn: Cell::new(1),
            ping: ws::encode(OpCode::Control(Control::Ping), b""),
        }
    }

    /// A new request id, unique per process run: `<prefix>-<shard>-<n>`.
    pub fn new_request_id(&self) -> String {
        let n = self.next_request.get();
        self.next_request.set(n + 1);
        // `<prefix hex>-<shard>-<n hex>`, written without the fmt machinery.
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut id = String::with_capacity(24);
        for i in (0..8).rev() {
            id.push(HEX[(self.request_prefix >> (i * 4)) as usize & 15] as char);
        }
        id.push('-');
        let mut shard = Vec::with_capacity(3);
        crate::http::response::push_decimal(&mut shard, self.id as u64);
        id.push_str(std::str::from_utf8(&shard).unwrap_or("0"));
        id.push('-');
        let digits = (64 - n.leading_zeros()).div_ceil(4).max(1);
        for i in (0..digits).rev() {
            id.push(HEX[(n >> (i * 4)) as usize & 15] as char);
        }
        id
    }

    /// Whether chaos injection should fail this request/message (counted).
    pub fn chaos_error(&self) -> bool {
        let hit = self.rng.chance(self.config.observability.chaos_error_rate);
        if hit {
            self.stats.chaos.inc(Chaos::Error as usize);
        }
        hit
    }

    /// Chaos latency to add (counted when non-zero).
    pub fn chaos_delay(&self) -> Option<Duration> {
        let d = self.config.observability.chaos_latency;
        if d.is_zero() {
            return None;
        }
        self.stats.chaos.inc(Chaos::Latency as usize);
        Some(d)
    }

    /// Close every member of `room` after a crash in its handler and drop it.
    pub fn close_room(&self, room: &RelayRoom, close: &Frame) {
        let conns = self.conns.borrow();
        for id in room.member_ids() {
            if let Some(e) = conns.get(&id) {
                if let Some(ob) = e.outbox.borrow().as_ref() {
                    ob.set_reason(Disconnect::Crash);
                    ob.close_with(Some(close.clone()));
                }
                e.deadline
                    .set(Some(Instant::now() + self.config.ws.close_timeout));
            }
        }
        self.rooms.remove(room);
    }

    /// Every metric series of this shard.
    pub fn collect_metrics(&self, out: &mut Vec<shards::metrics::Sample>) {
        self.stats.collect(self.rooms.len() as u64, out);
        out.push(shards::metrics::Sample::histogram(
            "roomcore_game_tick_duration_seconds",
            &[],
            self.games.tick_hist.snapshot(),
        ));
        out.push(shards::metrics::Sample::histogram(
            "roomcore_shard_loop_lag_seconds",
            &[("shard", &self.id.to_string())],
            self.loop_lag.snapshot(),
        ));
    }

    /// Number of shards.
    pub fn shards(&self) -> usize {
        self.mesh.shards()
    }

    /// Add a connection to the table.
    pub fn register(&self, fd: RawFd, peer: SocketAddr) -> Rc<ConnEntry> {
        let n = self.next_conn.get();
        self.next_conn.set(n + 1);
        let id = (n << 8) | (self.id as u64 & 0xff);
        let now = Instant::now();
        let e = Rc::new(ConnEntry {
            id,
            fd,
            peer,
            deadline: Cell::new(None),
            outbox: RefCell::new(None),
            ping_sent: Cell::new(None),
            last_ping: Cell::new(now),
            idle_http: Cell::new(false),
            room: RefCell::new(None),
        });
        self.conns.borrow_mut().insert(id, e.clone());
        stats::inc(&self.stats.connections);
        stats::inc(&self.stats.accepted_total);
        e
    }

    /// Remove a connection from the table.
    pub fn deregister(&self, e: &ConnEntry) {
        if self.conns.borrow_mut().remove(&e.id).is_some() {
            stats::dec(&self.stats.connections);
        }
    }

    /// Snapshot of this shard's counters.
    pub fn snapshot(&self) -> ShardStats {
        self.stats.snapshot(self.id, self.rooms.len() as u64)
    }

    /// Snapshots of every shard (this one first), gathered through the mesh.
    pub async fn gather_stats(&self) -> Vec<ShardStats> {
        let mut all = vec![self.snapshot()];
        all.extend(self.ask_others(|reply| ShardMsg::Stats { reply }).await);
        all
    }

    /// Ask every other shard (one at a time, at most 1 s each) and collect
    /// the answers that arrived; a stopped or slow shard is skipped.
    pub async fn ask_others<T>(&self, make: impl Fn(oneshot::Sender<T>) -> ShardMsg) -> Vec<T> {
        let mut answers = Vec::with_capacity(self.shards());
        for other in 0..self.shards() {
            if other == self.id {
                continue;
            }
            let (tx, rx) = oneshot::channel();
            if self.mesh.send(other, make(tx)).await.is_err() {
                continue;
            }
            let answer =
                glommio::timer::timeout(Duration::from_secs(1), async { Ok(rx.await) }).await;
            if let Ok(Ok(v)) = answer {
                answers.push(v);
            }
        }
        answers
    }

    fn tick_period(&self) -> Duration {
        let c = &self.config;
        [
            Duration::from_millis(250),
            c.ws.ping_interval / 2,
            c.ws.ping_timeout / 2,
            c.http.head_timeout / 4,
            c.ws.close_timeout / 2,
        ]
        .into_iter()
        .min()
        .unwrap_or(Duration::from_millis(250))
        .max(Duration::from_millis(10))
    }

    /// One housekeeping pass: deadlines and heartbeats.
    fn sweep(&self, now: Instant) {
        let c = &self.config;
        let mut expired: Vec<RawFd> = Vec::new();
        for e in self.conns.borrow().values() {
            if e.deadline.get().is_some_and(|d| now >= d) {
                e.deadline.set(None);
                expired.push(e.fd);
                stats::inc(&self.stats.timeouts_total);
                continue;
            }
            let outbox = e.outbox.borrow();
            let Some(ob) = outbox.as_ref() else { continue };
            match e.ping_sent.get() {
                Some(sent) if now.duration_since(sent) >= c.ws.ping_timeout => {
                    log!(Info, "websocket ping timeout", conn = e.id, peer = e.peer);
                    ob.set_reason(Disconnect::PingTimeout);
                    ob.kill(None);
                    expired.push(e.fd);
                    stats::inc(&self.stats.timeouts_total);
                }
                None if now.duration_since(e.last_ping.get()) >= c.ws.ping_interval
                    && ob.push_control(self.ping.clone()).is_ok() =>
                {
                    self.stats.frames_out.inc(FrameOut::Ping as usize);
                    e.ping_sent.set(Some(now));
                    e.last_ping.set(now);
                }
                _ => {}
            }
        }
        for fd in expired {
            io::shutdown(fd);
        }
    }

    /// First drain pass: tell every WebSocket, schedule idle HTTP closes.
    fn start_drain(&self, now: Instant) {
        self.draining.set(true);
        log!(Info, "draining", connections = self.conns.borrow().len());
        let notice = ws::encode(
            OpCode::Data(Data::Text),
            br#"{"type":"server_shutdown","reason":"server is shutting down"}"#,
        );
        let close = ws::close_frame(1001, "server shutting down");
        for e in self.conns.borrow().values() {
            if let Some(ob) = e.outbox.borrow().as_ref() {
                if ob.push_control(notice.clone()).is_ok() {
                    self.stats.frames_out.inc(FrameOut::Notice as usize);
                    self.stats.frames_out.inc(FrameOut::Close as usize);
                }
                ob.set_reason(Disconnect::Shutdown);
                ob.close_with(Some(close.clone()));
                e.deadline.set(Some(now + self.config.ws.close_timeout));
            } else if e.idle_http.get() {
                let grace = Duration::from_secs(1).min(self.config.server.shutdown_drain);
                e.deadline.set(Some(now + grace));
            }
        }
    }
}

/// Run shard `id` until its drain completes.
pub async fn run(
    id: usize,
    config: Arc<Config>,
    global: Arc<Global>,
    listener: socket2::Socket,
    ends: MeshEnds,
    seed: ServicesSeed,
) {
    log::set_shard(id);
    let (mesh, receivers) = ends.connect().await;
    let shard = Rc::new(Shard::new(id, config, global, mesh, seed.on_shard(id)));
    for (_, rx) in receivers {
        spawn_local(mesh_loop(shard.clone(), rx)).detach();
    }
    // SAFETY: the socket is a bound, listening TCP socket we own.
    let listener = unsafe { TcpListener::from_raw_fd(listener.into_raw_fd()) };
    crate::game::start(&shard);
    let acceptor = spawn_local(accept_loop(shard.clone(), listener));
    shard.global.shard_listening();
    housekeeping(shard.clone(), acceptor).await;
    crate::game::stop(&shard).await;
    // Drain done: save storage-backed state (room snapshots) before stopping.
    shard.services.stop().await;
}

/// Wait after a failed `accept` before the next.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(20);
/// At most one "accept failed" log line per this long.
const ACCEPT_LOG_EVERY: Duration = Duration::from_secs(10);
/// A housekeeping tick this late means the shard could not run for that long: logged.
const STALL_LOG_AFTER: Duration = Duration::from_millis(100);
/// At most one stall line per shard per this long (with the count of stalls held back).
const STALL_LOG_EVERY: Duration = Duration::from_secs(10);

async fn accept_loop(shard: Rc<Shard>, listener: TcpListener) {
    let mut last_log: Option<Instant> = None;
    let mut suppressed = 0u64;
    loop {
        match listener.accept().await {
            Ok(stream) => {
                if shard.draining.get() {
                    continue;
                }
                let _ = stream.set_nodelay(true);
                let peer = match stream.peer_addr() {
                    Ok(p) => p,
                    Err(_) => continue,
                };
                spawn_local(conn::serve(shard.clone(), stream, peer)).detach();
            }
            Err(e) => {
                stats::inc(&shard.stats.accept_errors_total);
                // Out of file descriptors and similar: back off briefly. While it lasts the
                // log gets one line per ACCEPT_LOG_EVERY, with the count of those it held back.
                let now = Instant::now();
                if last_log.is_none_or(|t| now.duration_since(t) >= ACCEPT_LOG_EVERY) {
                    log!(Warn, "accept failed", error = e, suppressed = suppressed);
                    last_log = Some(now);
                    suppressed = 0;
                } else {
                    suppressed += 1;
                }
                glommio::timer::sleep(ACCEPT_BACKOFF).await;
            }
        }
    }
}

async fn mesh_loop(shard: Rc<Shard>, rx: ConnectedReceiver<ShardMsg>) {
    while let Some(msg) = rx.recv().await {
        match msg {
            ShardMsg::Stats { reply } => {
                let _ = reply.send(shard.snapshot());
            }
            ShardMsg::Game { msg } => crate::game::on_mesh(&shard, msg),
            ShardMsg::Metrics { reply } => {
                let mut samples = Vec::new();
                shard.collect_metrics(&mut samples);
                let _ = reply.send(samples);
            }
            ShardMsg::ConnAcquire { ip, max, reply } => {
                let _ = reply.send(shard.ips.acquire(ip, max));
            }
            ShardMsg::ConnRelease { ip } => shard.ips.release(ip),
            ShardMsg::RateCheck {
                ip,
                class,
                limit,
                reply,
            } => {
                let _ = reply.send(shard.ips.check(ip, class, limit, Instant::now()));
            }
            ShardMsg::AdoptRelay { socket } => {
                let moved = *socket;
                // SAFETY: the fd was dup'ed for us by the sending shard and is
                // owned by `moved.fd`; ownership passes to the new stream.
                let stream = unsafe { TcpStream::from_raw_fd(moved.fd.into_raw_fd()) };
                if shard.draining.get() {
                    // Too late to join: say goodbye like any other socket.
                    drop(stream);
                    if let Some(ip) = moved.slot_ip {
                        crate::limits::release_ws_slot(&shard, ip);
                    }
                    continue;
                }
                let start = relay::Start {
                    room: moved.room,
                    slot_ip: moved.slot_ip,
                    pending: moved.pending.into_vec(),
                    handshake: moved.handshake.into_vec(),
                }
                .prepare(&shard.config);
                spawn_local(relay::adopt(shard.clone(), stream, moved.peer, start)).detach();
            }
        }
    }
}

/// Read memory use; shard 0 warns when it crosses the watermark upward.
fn refresh_memory(shard: &Shard) {
    if shard
        .memory
        .refresh(shard.config.observability.memory_limit_bytes)
        && shard.id == 0
    {
        let m = shard.memory.get();
        log!(
            Warn,
            "memory above 85% of the limit",
            rss_bytes = m.rss,
            limit_bytes = m.limit
        );
    }
}

async fn housekeeping(shard: Rc<Shard>, acceptor: Task<()>) {
    let period = shard.tick_period();
    let mut acceptor = Some(acceptor);
    let mut drain_deadline: Option<Instant> = None;
    let mut last_slow_pass = Instant::now();
    let mut last_stall_log: Option<Instant> = None;
    let mut stalls_held_back = 0u64;
    refresh_memory(&shard);
    loop {
        let due = Instant::now() + period;
        glommio::timer::sleep(period).await;
        let now = Instant::now();
        let lag = now.saturating_duration_since(due);
        shard.loop_lag.observe(lag.as_secs_f64());
        if lag >= STALL_LOG_AFTER {
            if last_stall_log.is_none_or(|t| now.duration_since(t) >= STALL_LOG_EVERY) {
                log!(
                    Warn,
                    "shard event loop stalled",
                    lag_ms = lag.as_millis(),
                    suppressed = stalls_held_back
                );
                last_stall_log = Some(now);
                stalls_held_back = 0;
            } else {
                stalls_held_back += 1;
            }
        }
        if now.duration_since(last_slow_pass) >= Duration::from_secs(5) {
            last_slow_pass = now;
            shard.ips.sweep(now);
            refresh_memory(&shard);
        }
        if shard.global.draining() && !shard.draining.get() {
            if let Some(a) = acceptor.take() {
                a.cancel().await;
            }
            shard.start_drain(now);
            drain_deadline = Some(now + shard.config.server.shutdown_drain);
        }
        shard.sweep(now);
        if let Some(deadline) = drain_deadline {
            if shard.conns.borrow().is_empty() {
                break;
            }
            if now >= deadline {
                let left = shard.conns.borrow().len();
                log!(
                    Warn,
                    "drain deadline reached, closing remaining connections",
                    remaining = left
                );
                for e in shard.conns.borrow().values() {
                    if let Some(ob) = e.outbox.borrow().as_ref() {
                        ob.kill(None);
                    }
                    io::shutdown(e.fd);
                }
                // Give the tasks a moment to notice, then stop regardless.
                let stop = Instant::now() + Duration::from_millis(500);
                while !shard.conns.borrow().is_empty() && Instant::now() < stop {
                    glommio::timer::sleep(Duration::from_millis(10)).await;
                }
                break;
            }
        }
    }
    log!(Info, "shard stopped");
}

/// Raw fd of a stream (for the connection table).
pub fn fd_of(stream: &TcpStream) -> RawFd {
    stream.as_raw_fd()
}
