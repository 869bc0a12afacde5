//! roomcore's engine: configuration, HTTP and WebSocket protocol handling, and
//! the per-shard runtime that ties sockets to rooms.
//!
//! Reading order:
//! - [`server`]: start-up — listeners, mesh, one pinned executor per shard, signals.
//! - [`shard`]: what one shard owns and its long-running tasks (accept, mesh, housekeeping).
//! - [`conn`]: one connection's HTTP/1.1 life and its upgrade to a WebSocket.
//! - [`relay`]: a relay WebSocket session (reader + writer) on the room's owner shard.
//! - [`game`]: typed game rooms on `/ws` (chess, party game, reconnect, matchmaking).
//! - [`router`] and [`health`]: which endpoint answers what; [`api`]: the JSON API under `/api/`.
//! - [`http`] and [`ws`]: protocol codecs, no I/O.
//! - [`io`]: socket helpers (scratch-buffer reads, vectored outbox writes).
//! - [`limits`], [`security`]: per-IP connection and rate limits, CORS and origin checks.
//! - [`metrics`], [`memory`], [`chaos`]: `/metrics`, the memory watermark, fault injection.
//! - [`config`], [`global`], [`log`]: knobs, process-wide flags, structured logs.
//! - [`web`]: the browser demo at `/` (static files embedded in the binary).

pub mod api;
pub mod chaos;
pub mod config;
pub mod conn;
pub mod game;
pub mod global;
pub mod health;
pub mod http;
pub mod io;
pub mod limits;
#[macro_use]
pub mod log;
pub mod memory;
pub mod metrics;
pub mod relay;
pub mod router;
pub mod security;
pub mod server;
pub mod shard;
pub mod web;
pub mod ws;
