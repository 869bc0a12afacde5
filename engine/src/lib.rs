//! roomcore's engine: the features of the server, plugged into the thread-per-core runtime
//! of the `shards` crate.
//!
//! Reading order:
//! - [`server`]: start-up — configuration, storage, the shard pool, signals.
//! - [`app`]: [`app::Engine`], the features' state on one shard and how the runtime
//!   reaches it; [`msg`]: the one cross-shard message type.
//! - [`conn`]: one connection's HTTP/1.1 life and its upgrade to a WebSocket;
//!   [`router`]: which endpoint answers what.
//! - [`session`]: the one WebSocket session driver; its handlers: [`relay`] (opaque relay
//!   rooms), [`game`] (typed game rooms on `/ws`: chess, party game, reconnect,
//!   matchmaking) and [`echo`] (a test hook).
//! - [`api`]: the JSON API under `/api/`; [`health`], [`metrics`]: the probes.
//! - [`cluster`]: several nodes as one, on Redis (leases, relay fan-out, game traffic).
//! - [`http`] and [`ws`]: protocol codecs, no I/O; [`room_id`]: the room key.
//! - [`limits`], [`security`]: per-IP connection and rate limits, CORS and origin checks.
//! - [`stats`], [`memory`], [`chaos`]: counters, the memory watermark, fault injection.
//! - [`config`], [`global`], [`log`]: knobs, process-wide flags, structured logs;
//!   [`telemetry`]: distributed tracing (OpenTelemetry, OTLP) and error reports (Sentry).
//! - [`web`]: the browser demo at `/` (static files embedded in the binary).

pub mod api;
pub mod app;
pub mod chaos;
pub mod cluster;
pub mod config;
pub mod conn;
pub mod echo;
pub mod game;
pub mod global;
pub mod health;
pub mod http;
pub mod limits;
#[macro_use]
pub mod log;
pub mod memory;
pub mod metrics;
pub mod msg;
pub mod relay;
pub mod room_id;
pub mod router;
pub mod security;
pub mod server;
pub mod session;
pub mod stats;
pub mod telemetry;
pub mod web;
pub mod ws;
