//! [`Engine`]: the features' state on one shard, plugged into the runtime as its [`App`].
//!
//! The runtime (`shards`) owns listeners, connections, the mesh, deadlines, heartbeats, the
//! drain and crash isolation; `Engine` owns what the features keep per shard. Each field
//! belongs to one feature module, which is the only one that changes it (others read it
//! through that module's functions). Cross-shard messages ([`ShardMsg`]) are dispatched
//! here to the feature they belong to.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use shards::stats::Disconnect;
use shards::{App, ConnEntry, Socket};

use crate::api::Services;
use crate::chaos::Rng;
use crate::cluster::shard::ClusterShard;
use crate::cluster::ClusterSeed;
use crate::config::Config;
use crate::game::events::ServerEvent;
use crate::game::Games;
use crate::global::Global;
use crate::limits::IpTable;
use crate::memory::MemoryWatch;
use crate::msg::ShardMsg;
use crate::relay::rooms::RelayRooms;
use crate::stats::{Chaos, FrameOut, Stats};
use crate::{api, conn, game, health, limits, metrics, relay, ws};

/// One shard of the engine: the runtime's shard with the features' state in `app`.
pub type Shard = shards::Shard<Engine>;

/// How often the slow housekeeping pass runs (the per-IP window sweep).
const SLOW_PASS: Duration = Duration::from_secs(5);

/// The features' state on one shard (not `Send`).
pub struct Engine {
    /// Validated configuration (shared read-only).
    pub config: Arc<Config>,
    /// Process-wide readiness flags and the WebSocket total.
    pub global: Arc<Global>,
    /// The features' counters (the runtime keeps its own).
    pub stats: Stats,
    /// Relay rooms this shard owns (`relay`); a room leaves with its last member.
    pub relay: RelayRooms,
    /// Game rooms, matchmaking queues and tickets this shard owns (`game`).
    pub games: Games,
    /// Per-IP WebSocket counts and rate windows of the IPs this shard owns (`limits`);
    /// stale windows are swept every 5 s.
    pub ips: IpTable,
    /// Storage, tokens, passwords, leaderboards and room documents (`api`).
    pub services: Services,
    /// Chaos-injection random source (`chaos`).
    pub rng: Rng,
    /// The last memory reading, taken by the memory thread (`memory`).
    pub memory: Arc<MemoryWatch>,
    /// Last storage check of `/health`: (when, ok, rendered JSON object without its closing
    /// brace); reused for 1 s (`health`).
    pub storage_check: RefCell<Option<(Instant, bool, Rc<str>)>>,
    /// This shard's part of the cluster, when the node is a member (`cluster`).
    pub cluster: Option<ClusterShard>,
    /// Request ids (`conn`).
    pub requests: conn::RequestIds,
    last_slow_pass: Cell<Instant>,
    /// When this shard last wrote its room summaries to the cluster.
    last_lobby: Cell<Instant>,
}

impl Engine {
    /// The features' state of shard `id`, built on its own thread.
    pub fn new(
        id: usize,
        config: Arc<Config>,
        global: Arc<Global>,
        services: Services,
        cluster: Option<&ClusterSeed>,
    ) -> Engine {
        Engine {
            games: Games::new(&config),
            memory: global.memory.clone(),
            config,
            global,
            stats: Stats::default(),
            relay: RelayRooms::default(),
            ips: IpTable::default(),
            services,
            rng: Rng::new(id as u64 + 1),
            storage_check: RefCell::new(None),
            requests: conn::RequestIds::new(id),
            cluster: cluster.map(|c| ClusterShard::new(c, id)),
            last_slow_pass: Cell::new(Instant::now()),
            last_lobby: Cell::new(Instant::now()),
        }
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
}

impl App for Engine {
    type Msg = ShardMsg;

    fn serve(
        shard: Rc<Shard>,
        socket: Socket,
        entry: Rc<ConnEntry>,
    ) -> impl std::future::Future<Output = ()> + 'static {
        conn::serve(shard, socket, entry)
    }

    fn handle(shard: &Rc<Shard>, msg: ShardMsg) {
        match msg {
            ShardMsg::Relay(m) => relay::adopt(shard, *m),
            ShardMsg::Game(m) => game::handle(shard, m),
            ShardMsg::Limits(m) => limits::handle(shard, m),
            ShardMsg::Rooms(c) => api::rooms::handle_cmd(shard, c),
            ShardMsg::Stats { reply } => {
                let _ = reply.send(health::snapshot(shard));
            }
            ShardMsg::Metrics { reply } => {
                let _ = reply.send(metrics::collect(shard));
            }
        }
    }

    fn start(shard: &Rc<Shard>) {
        api::start(shard);
        game::start(shard);
        crate::cluster::shard::start(shard);
    }

    fn tick(shard: &Rc<Shard>, now: Instant) {
        let app = &shard.app;
        if let Some(c) = &app.cluster {
            let every = Duration::from_millis(crate::cluster::lobby::EVERY_MS);
            if now.duration_since(app.last_lobby.get()) >= every && !shard.draining() {
                app.last_lobby.set(now);
                let rooms = game::owner::summaries(shard, None);
                crate::cluster::lobby::write(&c.cluster, shard.id, &rooms);
            }
        }
        if now.duration_since(app.last_slow_pass.get()) >= SLOW_PASS {
            app.last_slow_pass.set(now);
            app.ips.sweep(now);
            if let Some(c) = &app.cluster {
                c.sync_limits(shard.id, app.ips.conn_counts());
                glommio::spawn_local(crate::cluster::shard::record_rooms(shard.clone(), false))
                    .detach();
            }
        }
    }

    fn drain(shard: &Rc<Shard>, now: Instant) {
        let plain = ServerEvent::ServerShutdown {
            reason: "server is shutting down",
            reconnect_url: None,
        }
        .frame();
        // In a cluster: each socket is pointed at another live node (spread by rendezvous
        // over the connection ids), and the game rooms this node owns move to theirs.
        let view = shard.app.cluster.as_ref().map(|c| c.view());
        let close = ws::close_frame(1001, "server shutting down");
        let stats = &shard.app.stats;
        let deadline = now + shard.app.config.ws.close_timeout;
        let mut n = 0u64;
        shard.conns.for_each(|e| {
            if let Some(ob) = e.session.borrow().as_ref() {
                n += 1;
                let other = view.as_ref().and_then(|v| v.other(&n.to_string()));
                let notice = match other {
                    Some(node) => ServerEvent::ServerShutdown {
                        reason: "server is shutting down",
                        reconnect_url: Some(node.url.clone()),
                    }
                    .frame(),
                    None => plain.clone(),
                };
                if ob.push_control(notice).is_ok() {
                    stats.frames_out.inc(FrameOut::Notice as usize);
                    stats.frames_out.inc(FrameOut::Close as usize);
                }
                ob.set_reason(Disconnect::Shutdown);
                ob.close_with(Some(close.clone()));
                e.deadline.set(Some(deadline));
            }
        });
        crate::cluster::drain::start(shard);
    }

    fn crashed(shard: &Shard, entry: &ConnEntry) {
        // An exception event on the panic's span, and an error report.
        crate::telemetry::report::panic_caught("connection", None);
        if let Some(ob) = entry.session.borrow_mut().take() {
            ob.set_reason(Disconnect::Crash);
            ob.kill(Some(ws::close_frame(1011, "internal error")));
            shards::stats::dec(&shard.app.stats.websockets);
        }
    }

    async fn stop(shard: Rc<Shard>) {
        crate::cluster::drain::finish(&shard).await;
        game::stop(&shard).await;
        // Drain done: save storage-backed state (room snapshots) before stopping.
        shard.app.services.stop().await;
    }
}
