//! Per-core shard state for roomcore.
//!
//! Everything in this crate is owned by exactly one shard thread (one glommio
//! executor pinned to one core). Nothing here is `Send` except the messages that
//! cross between shards ([`msg::ShardMsg`]); nothing here takes a lock.
//!
//! - [`routing`]: which shard owns a room (a pure function of the room id).
//! - [`outbox`]: a connection's bounded queue of encoded frames waiting to be written.
//! - [`room`]: relay rooms and their members; broadcast shares one encoded frame.
//! - [`stats`]: per-shard counters, gathered by other shards through the mesh.
//! - [`metrics`]: histograms and the `Send` samples a scrape merges.
//! - [`msg`]: the one message type that crosses between shards.
//! - [`mesh`]: the full mesh of bounded lock-free channels between shards.

pub mod mesh;
pub mod metrics;
pub mod msg;
pub mod outbox;
pub mod room;
pub mod routing;
pub mod stats;

pub use mesh::{Mesh, MeshError};
pub use msg::{MovedSocket, RateDecision, ShardMsg};
pub use outbox::{Frame, Outbox, PushError};
pub use room::{RelayRooms, RoomId, RoomIdError};
pub use routing::shard_for;
pub use stats::{ShardStats, Stats};
