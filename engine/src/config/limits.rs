//! Defense knobs: browser origins, trusted proxies, per-IP and per-socket rate limits,
//! connection limits.

use std::net::IpAddr;

use clap::Args;

use super::parse;

fn origins(v: &str) -> Result<Vec<String>, String> {
    Ok(parse::list(v)
        .into_iter()
        .map(|o| o.trim_end_matches('/').to_string())
        .filter(|o| !o.is_empty())
        .collect())
}

fn proxies(v: &str) -> Result<Vec<IpAddr>, String> {
    parse::list(v)
        .into_iter()
        .map(|p| {
            p.parse()
                .map_err(|_| format!("TRUSTED_PROXIES: not an IP address: {p:?}"))
        })
        .collect()
}

/// Browser checks and rate/connection limits.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Limits")]
pub struct LimitsArgs {
    /// Comma-separated origins allowed for CORS and WebSocket upgrades (`*` = any); requests
    /// without `Origin` are always allowed; others get 403.
    // `::std::vec::Vec`: one value holding a list (clap would read `Vec` as repeated flags).
    #[arg(long = "allowed-origins", env = "ALLOWED_ORIGINS", default_value = "",
          value_parser = origins)]
    pub allowed_origins: ::std::vec::Vec<String>,
    /// Comma-separated proxy IPs whose `X-Forwarded-For` names the client IP.
    #[arg(long = "trusted-proxies", env = "TRUSTED_PROXIES", default_value = "",
          value_parser = proxies)]
    pub trusted_proxies: ::std::vec::Vec<IpAddr>,
    /// Requests per minute per client IP on /api/*, across all shards (0 = off).
    #[arg(
        long = "http-api-rate-per-min",
        env = "HTTP_API_RATE_PER_MIN",
        default_value_t = 100
    )]
    pub http_api_rate_per_min: u32,
    /// Requests per minute per client IP on /api/auth/* (in addition to the /api/* allowance).
    #[arg(
        long = "http-auth-rate-per-min",
        env = "HTTP_AUTH_RATE_PER_MIN",
        default_value_t = 10
    )]
    pub http_auth_rate_per_min: u32,
    /// Messages per second per WebSocket (0 = off); over it the message is dropped.
    #[arg(
        long = "ws-max-msgs-per-sec",
        env = "WS_MAX_MSGS_PER_SEC",
        default_value_t = 20
    )]
    pub ws_max_msgs_per_sec: u32,
    /// Messages per 10 s per WebSocket (0 = off).
    #[arg(
        long = "max-msgs-per-10s",
        env = "MAX_MSGS_PER_10S",
        default_value_t = 200
    )]
    pub ws_max_msgs_per_10s: u32,
    /// Bytes per 10 s per WebSocket (0 = off).
    #[arg(
        long = "max-bytes-per-10s",
        env = "MAX_BYTES_PER_10S",
        default_value_t = 1_048_576
    )]
    pub ws_max_bytes_per_10s: u64,
    /// A socket that keeps going after this many refused messages in a row is closed 1008
    /// (0 = never).
    #[arg(
        long = "ws-rate-limit-close-after",
        env = "WS_RATE_LIMIT_CLOSE_AFTER",
        default_value_t = 10
    )]
    pub ws_rate_limit_close_after: u32,
    /// Relay rooms one client IP may create per minute, across all shards (0 = off).
    #[arg(
        long = "max-room-creates-per-ip-per-min",
        env = "MAX_ROOM_CREATES_PER_IP_PER_MIN",
        default_value_t = 10
    )]
    pub max_room_creates_per_ip_per_min: u32,
    /// Concurrent WebSockets per client IP, across all shards (0 = off); over it: 429.
    #[arg(
        long = "max-conns-per-ip",
        env = "MAX_CONNS_PER_IP",
        default_value_t = 10
    )]
    pub max_conns_per_ip: u32,
    /// Concurrent WebSockets in the process (0 = off); over it: 503.
    #[arg(
        long = "max-total-connections",
        env = "MAX_TOTAL_CONNECTIONS",
        default_value_t = 10_000
    )]
    pub max_total_connections: u32,
}
