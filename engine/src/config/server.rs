//! The runtime's knobs (listeners, shards, drain), the HTTP/1.1 limits and the WebSocket
//! limits and heartbeats.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgAction, Args};

use super::parse;

/// Listeners, shards and lifecycle.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Server")]
pub struct ServerArgs {
    /// Address every shard listens on (SO_REUSEPORT); port 0 picks a free port, printed on stdout.
    #[arg(long = "listen", env = "LISTEN_ADDR", default_value = "0.0.0.0:8080")]
    pub listen: SocketAddr,
    /// Number of shards (pinned executors) [default: one per available core].
    #[arg(long = "shards", env = "SHARDS")]
    pub shards: Option<usize>,
    /// Pin shard i to the i-th CPU the process may use.
    #[arg(long = "pin-cores", env = "PIN_CORES", default_value = "true", value_parser = parse::bool_flag,
          num_args = 0..=1, default_missing_value = "true", action = ArgAction::Set)]
    pub pin_cores: bool,
    /// Directory of the SQLite file and the generated token secret.
    #[arg(long = "data-dir", env = "DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,
    /// Listen backlog of each shard's socket.
    #[arg(long = "backlog", env = "LISTEN_BACKLOG", default_value_t = 4096)]
    pub backlog: i32,
    /// Submission-queue entries of each shard's io_uring rings (power of two, 8 to 32768).
    #[arg(long = "io-ring-depth", env = "IO_RING_DEPTH", default_value_t = 1024)]
    pub io_ring_depth: usize,
    /// Longest graceful drain after SIGTERM/SIGINT, in seconds.
    #[arg(long = "shutdown-drain-secs", env = "SHUTDOWN_DRAIN_SECS", default_value = "15",
          value_parser = parse::secs)]
    pub shutdown_drain: Duration,
    /// Test-only hooks (a relay message that panics in its room, a storage stall endpoint,
    /// an echo WebSocket); never in production.
    #[arg(long = "test-hooks", env = "ROOMCORE_TEST_HOOKS", default_value = "false",
          value_parser = parse::bool_flag, num_args = 0..=1, default_missing_value = "true",
          action = ArgAction::Set)]
    pub test_hooks: bool,
}

impl ServerArgs {
    pub(super) fn validate(&mut self) -> Result<(), String> {
        let shards = self
            .shards
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
        if shards == 0 || shards > 256 {
            return Err("--shards must be between 1 and 256".into());
        }
        self.shards = Some(shards);
        if !(8..=32768).contains(&self.io_ring_depth) || !self.io_ring_depth.is_power_of_two() {
            return Err("IO_RING_DEPTH must be a power of two between 8 and 32768".into());
        }
        Ok(())
    }
}

/// HTTP/1.1 limits and timeouts.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "HTTP")]
pub struct HttpArgs {
    /// Largest request head in bytes; over it: 431.
    #[arg(
        long = "http-max-head-bytes",
        env = "HTTP_MAX_HEAD_BYTES",
        default_value_t = 8192
    )]
    pub max_head_bytes: usize,
    /// Largest request body in bytes; over it: 413.
    #[arg(
        long = "http-max-body-bytes",
        env = "HTTP_MAX_BODY_BYTES",
        default_value_t = 16384
    )]
    pub max_body_bytes: usize,
    /// Time to send a complete request in ms (slowloris guard); the socket is then closed.
    #[arg(long = "http-head-timeout-ms", env = "HTTP_HEAD_TIMEOUT_MS", default_value = "10000",
          value_parser = parse::millis)]
    pub head_timeout: Duration,
    /// Idle keep-alive connections are closed after this many seconds.
    #[arg(long = "http-idle-timeout-secs", env = "HTTP_IDLE_TIMEOUT_SECS", default_value = "60",
          value_parser = parse::secs)]
    pub idle_timeout: Duration,
}

impl HttpArgs {
    pub(super) fn validate(&self) -> Result<(), String> {
        if self.max_head_bytes < 256 {
            return Err("HTTP_MAX_HEAD_BYTES must be at least 256".into());
        }
        Ok(())
    }
}

/// WebSocket limits and heartbeats.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "WebSocket")]
pub struct WsArgs {
    /// Largest WebSocket message after reassembly, in bytes; over it: close 1009.
    #[arg(
        long = "ws-max-message-bytes",
        env = "WS_MAX_MESSAGE_BYTES",
        default_value_t = 65536
    )]
    pub max_message_bytes: usize,
    /// Outbound queue bound per WebSocket in bytes; over it: close 1008 "slow consumer".
    #[arg(
        long = "ws-max-buffered-bytes",
        env = "WS_MAX_BUFFERED_BYTES",
        default_value_t = 1_048_576
    )]
    pub max_buffered_bytes: usize,
    /// Server ping interval in ms.
    #[arg(long = "ws-ping-interval-ms", env = "WS_PING_INTERVAL_MS", default_value = "30000",
          value_parser = parse::millis)]
    pub ping_interval: Duration,
    /// A socket with no pong this many ms after a ping is dropped.
    #[arg(long = "ws-ping-timeout-ms", env = "WS_PING_TIMEOUT_MS", default_value = "10000",
          value_parser = parse::millis)]
    pub ping_timeout: Duration,
    /// Time in ms a closing WebSocket gets to finish the close handshake.
    #[arg(long = "ws-close-timeout-ms", env = "WS_CLOSE_TIMEOUT_MS", default_value = "2000",
          value_parser = parse::millis)]
    pub close_timeout: Duration,
}

impl WsArgs {
    pub(super) fn validate(&self) -> Result<(), String> {
        if self.max_message_bytes == 0 || self.max_buffered_bytes == 0 {
            return Err("WebSocket limits must be positive".into());
        }
        if self.ping_interval.is_zero() || self.ping_timeout.is_zero() {
            return Err("WS_PING_INTERVAL_MS and WS_PING_TIMEOUT_MS must be positive".into());
        }
        Ok(())
    }
}
