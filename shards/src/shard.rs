//! One shard: the runtime state a pinned executor owns, and what it runs.
//!
//! Owns [`Shard`] (id, mesh, connection table, read scratch buffer, counters, loop lag,
//! drain state, and the application's per-shard state in `app`), the accept loop, one
//! mesh receiver per peer shard, and the crash-isolating runner every connection task
//! goes through. Nothing here is shared with other threads except through the mesh and
//! [`Lifecycle`].

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::net::SocketAddr;
use std::os::fd::{FromRawFd, IntoRawFd, OwnedFd};
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures_lite::future::CatchUnwind;
use futures_lite::FutureExt;
use glommio::channels::shared_channel::ConnectedReceiver;
use glommio::net::TcpListener;
use glommio::spawn_local;

use crate::app::App;
use crate::conn::{ConnEntry, ConnTable};
use crate::io::Socket;
use crate::lifecycle::Lifecycle;
use crate::mesh::{Mesh, MeshEnds};
use crate::metrics::Histogram;
use crate::outbox::Frame;
use crate::stats::{self, RuntimeStats};

/// Size of the per-shard read scratch buffer.
pub const SCRATCH_BYTES: usize = 64 * 1024;

thread_local! {
    static CURRENT: Cell<Option<usize>> = const { Cell::new(None) };
}

/// The id of the shard running on this thread, if any (for log lines).
pub fn current() -> Option<usize> {
    CURRENT.with(Cell::get)
}

/// Heartbeats of message sessions.
#[derive(Debug, Clone)]
pub struct Heartbeat {
    /// A session that sent nothing for this long gets a ping.
    pub interval: Duration,
    /// A session that did not answer a ping this long is dropped.
    pub timeout: Duration,
    /// The encoded ping frame.
    pub ping: Vec<u8>,
}

/// The runtime's knobs (`Send`: handed to every shard thread).
#[derive(Debug, Clone)]
pub struct Settings {
    /// Housekeeping period: how often deadlines and heartbeats are checked.
    pub tick: Duration,
    pub heartbeat: Heartbeat,
    /// Longest drain after the drain started.
    pub drain: Duration,
}

/// State owned by one shard (not `Send`). `A` is the application's per-shard state.
pub struct Shard<A: App> {
    /// This shard's id (0..shards).
    pub id: usize,
    /// Sending half of the mesh to the other shards.
    pub mesh: Mesh<A::Msg>,
    /// Open connections; entries leave when their task ends.
    pub conns: ConnTable,
    /// Read scratch buffer: borrowed only inside one poll, never across an await.
    pub scratch: RefCell<Vec<u8>>,
    /// The runtime's counters.
    pub counters: RuntimeStats,
    /// How late the housekeeping timer fired, each tick: how long the event loop could not
    /// react (busy, or kept off its core). Every message on the shard waits as long.
    pub loop_lag: Histogram,
    /// Process-wide listening/draining flags.
    pub lifecycle: Arc<Lifecycle>,
    /// The runtime's knobs.
    pub settings: Settings,
    /// The heartbeat ping, encoded once.
    pub(crate) ping: Frame,
    draining: Cell<bool>,
    /// The application's state on this shard.
    pub app: A,
}

impl<A: App> Shard<A> {
    /// Number of shards.
    pub fn shards(&self) -> usize {
        self.mesh.shards()
    }

    /// Whether this shard has started draining (it accepts nothing new).
    pub fn draining(&self) -> bool {
        self.draining.get()
    }

    pub(crate) fn set_draining(&self) {
        self.draining.set(true);
    }

    /// Add a connection to the table.
    pub fn register(&self, socket: &Socket, peer: SocketAddr) -> Rc<ConnEntry> {
        self.conns.register(socket.fd(), peer, &self.counters)
    }

    /// Clean up after a panic caught in the task of `entry`: log, count, let the application
    /// close the session ([`App::crashed`]), shut the socket down.
    fn crashed(&self, entry: &ConnEntry, panic: &(dyn std::any::Any + Send)) {
        let what = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        stats::inc(&self.counters.crashes_total);
        tracing::error!(conn = entry.id, client = %entry.peer, panic = %what,
            "panic in connection handler");
        A::crashed(self, entry);
        if let Some(ob) = entry.session.borrow_mut().take() {
            ob.kill(None);
        }
        crate::io::shutdown(entry.fd);
    }
}

/// A registered connection's `work` run to its end under crash isolation: a panic inside it
/// is caught, logged and counted, the application closes the session ([`App::crashed`]) and
/// the socket is shut down; only this connection ends. The entry leaves the table after.
///
/// A hand-written future, not an `async fn`, so the task stores `work` once (an `async fn`
/// taking `work` as an argument would hold both the argument and its `CatchUnwind` copy).
pub struct Guarded<A: App, F> {
    shard: Rc<Shard<A>>,
    entry: Rc<ConnEntry>,
    work: CatchUnwind<AssertUnwindSafe<F>>,
}

impl<A: App, F: Future<Output = ()>> Guarded<A, F> {
    /// Guard `work`, the task of the registered connection `entry`.
    pub fn new(shard: Rc<Shard<A>>, entry: Rc<ConnEntry>, work: F) -> Self {
        Guarded {
            shard,
            entry,
            work: AssertUnwindSafe(work).catch_unwind(),
        }
    }
}

impl<A: App, F: Future<Output = ()>> Future for Guarded<A, F> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // SAFETY: `work` is structurally pinned: it is never moved out of `self`, and `self`
        // is never moved while pinned; the other fields are not pinned.
        let this = unsafe { self.get_unchecked_mut() };
        let work = unsafe { Pin::new_unchecked(&mut this.work) };
        let Poll::Ready(result) = work.poll(cx) else {
            return Poll::Pending;
        };
        if let Err(panic) = result {
            this.shard.crashed(&this.entry, &*panic);
        }
        this.shard
            .conns
            .deregister(&this.entry, &this.shard.counters);
        Poll::Ready(())
    }
}

/// Run shard `id` until its drain completes: connect the mesh, build the application
/// state (`make`, on this thread), accept, keep house, drain, stop.
pub async fn run<A: App>(
    id: usize,
    listener: socket2::Socket,
    ends: MeshEnds<A::Msg>,
    lifecycle: Arc<Lifecycle>,
    settings: Settings,
    make: impl FnOnce(usize) -> A,
) {
    CURRENT.with(|c| c.set(Some(id)));
    let (mesh, receivers) = ends.connect().await;
    let app = make(id);
    let ping: Frame = settings.heartbeat.ping.clone().into();
    let shard = Rc::new(Shard {
        id,
        mesh,
        conns: ConnTable::new(id),
        scratch: RefCell::new(vec![0u8; SCRATCH_BYTES]),
        counters: RuntimeStats::default(),
        loop_lag: Histogram::latency(),
        lifecycle,
        settings,
        ping,
        draining: Cell::new(false),
        app,
    });
    for (_, rx) in receivers {
        spawn_local(mesh_loop(shard.clone(), rx)).detach();
    }
    // SAFETY: the socket is a bound, listening TCP socket we own.
    let listener = unsafe { TcpListener::from_raw_fd(listener.into_raw_fd()) };
    A::start(&shard);
    spawn_local(crate::io::run_flusher()).detach();
    let acceptor = spawn_local(accept_loop(shard.clone(), listener));
    shard.lifecycle.shard_listening();
    crate::housekeeping::run(shard.clone(), acceptor).await;
    A::stop(shard).await;
}

/// Wait after a failed `accept` before the next.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(20);
/// At most one "accept failed" log line per this long.
const ACCEPT_LOG_EVERY: Duration = Duration::from_secs(10);

async fn accept_loop<A: App>(shard: Rc<Shard<A>>, listener: TcpListener) {
    let mut last_log: Option<Instant> = None;
    let mut suppressed = 0u64;
    loop {
        match listener.shared_accept().await {
            Ok(accepted) => {
                // `accepted_fd` closes the descriptor when the peer is already gone.
                let Ok((fd, peer)) = glommio::net::accepted_fd(accepted) else {
                    continue;
                };
                // SAFETY: `fd` is the accepted socket, ours alone from here on (closed on drop).
                let fd = unsafe { OwnedFd::from_raw_fd(fd) };
                if shard.draining() {
                    continue;
                }
                let _ = socket2::SockRef::from(&fd).set_tcp_nodelay(true);
                spawn_local(serve(shard.clone(), Socket::new(fd), peer)).detach();
            }
            Err(e) => {
                stats::inc(&shard.counters.accept_errors_total);
                // Out of file descriptors and similar: back off briefly. While it lasts the
                // log gets one line per ACCEPT_LOG_EVERY, with the count of those it held back.
                let now = Instant::now();
                if last_log.is_none_or(|t| now.duration_since(t) >= ACCEPT_LOG_EVERY) {
                    tracing::warn!(error = %e, suppressed, "accept failed");
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

fn serve<A: App>(
    shard: Rc<Shard<A>>,
    socket: Socket,
    peer: SocketAddr,
) -> impl Future<Output = ()> {
    let entry = shard.register(&socket, peer);
    let work = A::serve(shard.clone(), socket, entry.clone());
    Guarded::new(shard, entry, work)
}

async fn mesh_loop<A: App>(shard: Rc<Shard<A>>, rx: ConnectedReceiver<A::Msg>) {
    while let Some(msg) = rx.recv().await {
        A::handle(&shard, msg);
    }
}
