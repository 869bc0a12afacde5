//! Engine integration tests: the real `roomcore` binary with 2 shards on an
//! ephemeral port, driven through real sockets. One module per area.

#[path = "../common/mod.rs"]
mod common;

mod defense;
mod echo;
mod eof;
mod frames;
mod garbage;
mod http;
mod observability;
mod relay;
mod shutdown;
mod slow_consumer;
