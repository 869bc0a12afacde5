//! roomcore's thread-per-core runtime.
//!
//! One shard per core: a glommio executor pinned to its core that owns a listening socket
//! on the shared port (SO_REUSEPORT), every connection the kernel hands it, and the state
//! of the application ([`App`]) on that core. Shards share no mutable state: they talk
//! through a full mesh of bounded lock-free channels carrying the application's one
//! message type. The runtime knows no feature: HTTP, WebSocket rooms, games and limits are
//! the application's; the runtime hands it connections, messages and ticks. Nothing here
//! takes a lock.
//!
//! Reading order:
//! - [`app`]: the [`App`] trait an application implements.
//! - [`pool`]: binding the listeners and starting one pinned executor per shard.
//! - [`shard`]: [`Shard`], the per-core state; the accept loop, mesh receivers and the
//!   crash-isolating runner.
//! - [`housekeeping`]: the tick (deadlines, heartbeats, loop lag, drain).
//! - [`call`]: the one way to ask another shard ([`Shard::call`]), with one timeout policy.
//! - [`handoff`]: moving a socket to the shard that owns its work.
//! - [`conn`]: the connection table; [`io`]: a connection's socket, reads and writes, the
//!   shard's flusher of outboxes.
//! - [`outbox`]: a connection's bounded queue of encoded frames; `batch_send`: the flusher's
//!   sends of one run in one io_uring submission.
//! - [`mesh`]: the channels between shards; [`routing`]: which shard owns a key.
//! - [`lifecycle`]: process-wide listening/draining flags.
//! - [`stats`], [`metrics`]: counters, label sets, histograms and the `Send` samples a scrape
//!   merges.

pub mod app;
mod batch_send;
pub mod call;
pub mod conn;
pub mod handoff;
pub mod housekeeping;
pub mod io;
pub mod lifecycle;
pub mod mesh;
pub mod metrics;
pub mod outbox;
pub mod pool;
pub mod routing;
pub mod shard;
pub mod stats;

pub use app::App;
pub use call::{CallError, Reply, CALL_TIMEOUT};
pub use conn::{ConnEntry, ConnTable};
pub use handoff::MovedFd;
pub use io::Socket;
pub use lifecycle::Lifecycle;
pub use mesh::{Mesh, MeshError};
pub use outbox::{Frame, Outbox, PushError};
pub use routing::shard_for;
pub use shard::{Guarded, Heartbeat, Settings, Shard};
