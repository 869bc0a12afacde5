//! What an application plugs into the runtime: the [`App`] trait.
//!
//! The runtime owns listeners, connections, the mesh, deadlines, heartbeats, the drain and
//! crash isolation; an application only receives what the runtime hands it (a connection
//! to serve, a message to handle, a tick) and keeps its own per-shard state in the `app`
//! field of [`Shard`]. Its one cross-shard message type is `Msg`.

use std::future::Future;
use std::rc::Rc;
use std::time::Instant;

use crate::conn::ConnEntry;
use crate::io::Socket;
use crate::shard::Shard;

/// An application of the runtime (one value per shard, not `Send`).
pub trait App: Sized + 'static {
    /// The one message type that crosses between shards. Keep it small (box large
    /// payloads) and give it a size assert.
    type Msg: Send + 'static;

    /// Serve a connection this shard's listener accepted. The connection is registered in
    /// the table and the returned future runs under crash isolation; when it ends the
    /// entry leaves the table.
    fn serve(
        shard: Rc<Shard<Self>>,
        socket: Socket,
        entry: Rc<ConnEntry>,
    ) -> impl Future<Output = ()> + 'static;

    /// Handle a message from another shard, or from [`Shard::call`] on this one. It must
    /// not wait for another shard (it is not `async`): replies go back on the oneshot the
    /// message carries, so no cycle of shards waiting on each other can form.
    fn handle(shard: &Rc<Shard<Self>>, msg: Self::Msg);

    /// Once on the shard, before its listener accepts: start the application's own tasks.
    fn start(_shard: &Rc<Shard<Self>>) {}

    /// Every housekeeping tick, after the runtime's own deadline and heartbeat pass.
    fn tick(_shard: &Rc<Shard<Self>>, _now: Instant) {}

    /// The drain started on this shard: tell every session and set its close deadline.
    /// (Idle keep-alive connections are the runtime's: it closes them.)
    fn drain(_shard: &Rc<Shard<Self>>, _now: Instant) {}

    /// A panic was caught in the task of `entry` (already logged and counted): close the
    /// session as the protocol says. The runtime then shuts the socket down.
    fn crashed(_shard: &Shard<Self>, _entry: &ConnEntry) {}

    /// The drain ended (every connection closed or the deadline passed): save state.
    fn stop(shard: Rc<Shard<Self>>) -> impl Future<Output = ()>;
}
