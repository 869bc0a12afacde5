//! Several roomcore nodes as one cluster, through the real binary: 3 (or 4) processes on
//! 127.0.0.1 with 2 shards each, one real `redis-server` (and, for game rooms, one real
//! PostgreSQL) started by the test on free loopback ports. One module per area.

#[path = "../common/mod.rs"]
mod common;

mod deploy;
mod drain;
mod games;
mod limits;
mod matchmaking;
mod relay;
mod support;
