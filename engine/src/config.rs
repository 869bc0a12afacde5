//! Server configuration: defaults, then environment variables, then flags.
//!
//! Owns the `Config` value and its parsing/validation. Every knob is listed in
//! the README's configuration table; keep the two in step. Nothing here touches
//! sockets or threads.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Storage, auth and game knobs. They are parsed and validated by the services
/// that own them (`api/settings.rs`, `game/mod.rs`), which read them through
/// [`Config::service_var`]: a flag (`STORAGE_BATCH_MAX` is `--storage-batch-max`)
/// wins over the environment variable. `ROOMCORE_TOKEN_SECRET` is deliberately
/// not here: a secret on the command line is visible to every local user.
pub const SERVICE_KEYS: &[&str] = &[
    "STORAGE_DB_PATH",
    "STORAGE_SYNCHRONOUS",
    "STORAGE_QUEUE_CAPACITY",
    "STORAGE_BATCH_MAX",
    "STORAGE_RETRY_AFTER_SECS",
    "TOKEN_TTL_SECS",
    "PASSWORD_HASH_MEMORY_KIB",
    "PASSWORD_HASH_ITERATIONS",
    "AUTH_MAX_INFLIGHT_HASHES",
    "LEADERBOARD_SIZE",
    "LEADERBOARD_MAX_GAMES",
    "SCORE_MAX",
    "ROOM_STATE_MAX_BYTES",
    "ROOM_STATE_MAX_ROOMS",
    "ROOM_SNAPSHOT_INTERVAL_SECS",
    "ROOM_SNAPSHOT_TTL_SECS",
    "MAX_ROOMS",
    "RECONNECT_GRACE_SECS",
    "GAME_TICK_MS",
    "MM_WINDOW_BASE",
    "MM_WINDOW_PER_SEC",
    "MM_WINDOW_MAX",
    "MM_TICKET_TTL_SECS",
    "MM_MAX_QUEUE",
];

/// The flag of a service knob: `STORAGE_BATCH_MAX` -> `--storage-batch-max`.
pub fn service_flag(env: &str) -> String {
    format!("--{}", env.to_ascii_lowercase().replace('_', "-"))
}

/// Validated server configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address every shard listens on (SO_REUSEPORT).
    pub listen: SocketAddr,
    /// Number of shards (one pinned executor each).
    pub shards: usize,
    /// Pin each shard to its own core.
    pub pin_cores: bool,
    /// Directory for the SQLite file and generated secrets.
    pub data_dir: PathBuf,
    /// Listen backlog of each shard's socket.
    pub backlog: i32,
    /// Submission queue entries of each shard's io_uring rings.
    pub io_ring_depth: usize,
    /// Largest HTTP request head (request line + headers).
    pub http_max_head_bytes: usize,
    /// Largest HTTP request body.
    pub http_max_body_bytes: usize,
    /// Time a client has to send a complete request head (slowloris guard).
    pub http_head_timeout: Duration,
    /// Idle keep-alive connections are closed after this long.
    pub http_idle_timeout: Duration,
    /// Largest WebSocket message (after reassembly of fragments).
    pub ws_max_message_bytes: usize,
    /// Bound of a WebSocket's outbound queue; past it the socket is closed (1008).
    pub ws_max_buffered_bytes: usize,
    /// Server ping interval.
    pub ws_ping_interval: Duration,
    /// A socket that sent no pong this long after a ping is dropped.
    pub ws_ping_timeout: Duration,
    /// How long a closing WebSocket may take to finish its close handshake.
    pub ws_close_timeout: Duration,
    /// Longest graceful drain on SIGTERM/SIGINT.
    pub shutdown_drain: Duration,
    /// Origins allowed for CORS and WebSocket upgrades (`*` = any). Requests
    /// without an `Origin` header (non-browser clients) are always allowed.
    pub allowed_origins: Vec<String>,
    /// Proxies whose `X-Forwarded-For` is trusted for the client IP.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// Requests per minute per IP on `/api/*` (0 = off).
    pub http_api_rate_per_min: u32,
    /// Requests per minute per IP on `/api/auth/*` (0 = off).
    pub http_auth_rate_per_min: u32,
    /// WebSocket messages per second per socket (0 = off).
    pub ws_max_msgs_per_sec: u32,
    /// WebSocket messages per 10 s per socket (0 = off).
    pub ws_max_msgs_per_10s: u32,
    /// WebSocket bytes per 10 s per socket (0 = off).
    pub ws_max_bytes_per_10s: u64,
    /// A socket is closed (1008) after this many rate-limited messages in a row.
    pub ws_rate_limit_close_after: u32,
    /// Relay rooms one IP may create per minute (0 = off).
    pub max_room_creates_per_ip_per_min: u32,
    /// Concurrent WebSockets per client IP across all shards (0 = off).
    pub max_conns_per_ip: u32,
    /// Concurrent WebSockets across all shards (0 = off).
    pub max_total_connections: u32,
    /// Memory limit for the watermark warning (0 = the cgroup limit, if any).
    pub memory_limit_bytes: u64,
    /// Fraction of non-probe HTTP requests and WebSocket messages failed on purpose.
    pub chaos_error_rate: f64,
    /// Extra latency added to non-probe HTTP requests and WebSocket messages.
    pub chaos_latency: Duration,
    /// Enables test-only hooks (e.g. a message that panics inside a room).
    pub test_hooks: bool,
    /// `json` or `text`.
    pub log_format: LogFormat,
    /// Minimum level logged.
    pub log_level: Level,
    /// Service knobs given as flags (environment-variable name, value); see
    /// [`SERVICE_KEYS`].
    pub services: Vec<(&'static str, String)>,
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Json,
    Text,
}

/// Log levels, most severe first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Error,
    Warn,
    Info,
    Debug,
}

impl Level {
    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Error => "error",
            Level::Warn => "warn",
            Level::Info => "info",
            Level::Debug => "debug",
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: "0.0.0.0:8080".parse().expect("static address"),
            shards: std::thread::available_parallelism().map_or(1, |n| n.get()),
            pin_cores: true,
            data_dir: PathBuf::from("data"),
            backlog: 4096,
            io_ring_depth: 1024,
            http_max_head_bytes: 8 * 1024,
            http_max_body_bytes: 16 * 1024,
            http_head_timeout: Duration::from_secs(10),
            http_idle_timeout: Duration::from_secs(60),
            ws_max_message_bytes: 64 * 1024,
            ws_max_buffered_bytes: 1024 * 1024,
            ws_ping_interval: Duration::from_secs(30),
            ws_ping_timeout: Duration::from_secs(10),
            ws_close_timeout: Duration::from_secs(2),
            shutdown_drain: Duration::from_secs(15),
            allowed_origins: Vec::new(),
            trusted_proxies: Vec::new(),
            http_api_rate_per_min: 100,
            http_auth_rate_per_min: 10,
            ws_max_msgs_per_sec: 20,
            ws_max_msgs_per_10s: 200,
            ws_max_bytes_per_10s: 1024 * 1024,
            ws_rate_limit_close_after: 10,
            max_room_creates_per_ip_per_min: 10,
            max_conns_per_ip: 10,
            max_total_connections: 10_000,
            memory_limit_bytes: 0,
            chaos_error_rate: 0.0,
            chaos_latency: Duration::ZERO,
            test_hooks: false,
            log_format: LogFormat::Json,
            log_level: Level::Info,
            services: Vec::new(),
        }
    }
}

/// One configuration key: its flag, its environment variable, and a setter.
struct Key {
    flag: &'static str,
    env: &'static str,
    set: fn(&mut Config, &str) -> Result<(), String>,
}

fn num<T: std::str::FromStr>(v: &str, what: &str) -> Result<T, String> {
    v.trim()
        .parse()
        .map_err(|_| format!("{what}: not a valid number: {v:?}"))
}

fn flag_bool(v: &str, what: &str) -> Result<bool, String> {
    match v.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(format!("{what}: expected true/false, got {v:?}")),
    }
}

const KEYS: &[Key] = &[
    Key {
        flag: "--listen",
        env: "LISTEN_ADDR",
        set: |c, v| {
            c.listen = v
                .trim()
                .parse()
                .map_err(|_| format!("--listen: not an address: {v:?}"))?;
            Ok(())
        },
    },
    Key {
        flag: "--shards",
        env: "SHARDS",
        set: |c, v| {
            c.shards = num(v, "--shards")?;
            Ok(())
        },
    },
    Key {
        flag: "--pin-cores",
        env: "PIN_CORES",
        set: |c, v| {
            c.pin_cores = flag_bool(v, "--pin-cores")?;
            Ok(())
        },
    },
    Key {
        flag: "--data-dir",
        env: "DATA_DIR",
        set: |c, v| {
            c.data_dir = PathBuf::from(v);
            Ok(())
        },
    },
    Key {
        flag: "--backlog",
        env: "LISTEN_BACKLOG",
        set: |c, v| {
            c.backlog = num(v, "--backlog")?;
            Ok(())
        },
    },
    Key {
        flag: "--io-ring-depth",
        env: "IO_RING_DEPTH",
        set: |c, v| {
            c.io_ring_depth = num(v, "IO_RING_DEPTH")?;
            Ok(())
        },
    },
    Key {
        flag: "--http-max-head-bytes",
        env: "HTTP_MAX_HEAD_BYTES",
        set: |c, v| {
            c.http_max_head_bytes = num(v, "HTTP_MAX_HEAD_BYTES")?;
            Ok(())
        },
    },
    Key {
        flag: "--http-max-body-bytes",
        env: "HTTP_MAX_BODY_BYTES",
        set: |c, v| {
            c.http_max_body_bytes = num(v, "HTTP_MAX_BODY_BYTES")?;
            Ok(())
        },
    },
    Key {
        flag: "--http-head-timeout-ms",
        env: "HTTP_HEAD_TIMEOUT_MS",
        set: |c, v| {
            c.http_head_timeout = Duration::from_millis(num(v, "HTTP_HEAD_TIMEOUT_MS")?);
            Ok(())
        },
    },
    Key {
        flag: "--http-idle-timeout-secs",
        env: "HTTP_IDLE_TIMEOUT_SECS",
        set: |c, v| {
            c.http_idle_timeout = Duration::from_secs(num(v, "HTTP_IDLE_TIMEOUT_SECS")?);
            Ok(())
        },
    },
    Key {
        flag: "--ws-max-message-bytes",
        env: "WS_MAX_MESSAGE_BYTES",
        set: |c, v| {
            c.ws_max_message_bytes = num(v, "WS_MAX_MESSAGE_BYTES")?;
            Ok(())
        },
    },
    Key {
        flag: "--ws-max-buffered-bytes",
        env: "WS_MAX_BUFFERED_BYTES",
        set: |c, v| {
            c.ws_max_buffered_bytes = num(v, "WS_MAX_BUFFERED_BYTES")?;
            Ok(())
        },
    },
    Key {
        flag: "--ws-ping-interval-ms",
        env: "WS_PING_INTERVAL_MS",
        set: |c, v| {
            c.ws_ping_interval = Duration::from_millis(num(v, "WS_PING_INTERVAL_MS")?);
            Ok(())
        },
    },
    Key {
        flag: "--ws-ping-timeout-ms",
        env: "WS_PING_TIMEOUT_MS",
        set: |c, v| {
            c.ws_ping_timeout = Duration::from_millis(num(v, "WS_PING_TIMEOUT_MS")?);
            Ok(())
        },
    },
    Key {
        flag: "--ws-close-timeout-ms",
        env: "WS_CLOSE_TIMEOUT_MS",
        set: |c, v| {
            c.ws_close_timeout = Duration::from_millis(num(v, "WS_CLOSE_TIMEOUT_MS")?);
            Ok(())
        },
    },
    Key {
        flag: "--shutdown-drain-secs",
        env: "SHUTDOWN_DRAIN_SECS",
        set: |c, v| {
            c.shutdown_drain = Duration::from_secs(num(v, "SHUTDOWN_DRAIN_SECS")?);
            Ok(())
        },
    },
    Key {
        flag: "--allowed-origins",
        env: "ALLOWED_ORIGINS",
        set: |c, v| {
            c.allowed_origins = v
                .split(',')
                .map(|o| o.trim().trim_end_matches('/').to_string())
                .filter(|o| !o.is_empty())
                .collect();
            Ok(())
        },
    },
    Key {
        flag: "--trusted-proxies",
        env: "TRUSTED_PROXIES",
        set: |c, v| {
            c.trusted_proxies = v
                .split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(|p| {
                    p.parse()
                        .map_err(|_| format!("TRUSTED_PROXIES: not an IP address: {p:?}"))
                })
                .collect::<Result<_, _>>()?;
            Ok(())
        },
    },
    Key {
        flag: "--http-api-rate-per-min",
        env: "HTTP_API_RATE_PER_MIN",
        set: |c, v| {
            c.http_api_rate_per_min = num(v, "HTTP_API_RATE_PER_MIN")?;
            Ok(())
        },
    },
    Key {
        flag: "--http-auth-rate-per-min",
        env: "HTTP_AUTH_RATE_PER_MIN",
        set: |c, v| {
            c.http_auth_rate_per_min = num(v, "HTTP_AUTH_RATE_PER_MIN")?;
            Ok(())
        },
    },
    Key {
        flag: "--ws-max-msgs-per-sec",
        env: "WS_MAX_MSGS_PER_SEC",
        set: |c, v| {
            c.ws_max_msgs_per_sec = num(v, "WS_MAX_MSGS_PER_SEC")?;
            Ok(())
        },
    },
    Key {
        flag: "--max-msgs-per-10s",
        env: "MAX_MSGS_PER_10S",
        set: |c, v| {
            c.ws_max_msgs_per_10s = num(v, "MAX_MSGS_PER_10S")?;
            Ok(())
        },
    },
    Key {
        flag: "--max-bytes-per-10s",
        env: "MAX_BYTES_PER_10S",
        set: |c, v| {
            c.ws_max_bytes_per_10s = num(v, "MAX_BYTES_PER_10S")?;
            Ok(())
        },
    },
    Key {
        flag: "--ws-rate-limit-close-after",
        env: "WS_RATE_LIMIT_CLOSE_AFTER",
        set: |c, v| {
            c.ws_rate_limit_close_after = num(v, "WS_RATE_LIMIT_CLOSE_AFTER")?;
            Ok(())
        },
    },
    Key {
        flag: "--max-room-creates-per-ip-per-min",
        env: "MAX_ROOM_CREATES_PER_IP_PER_MIN",
        set: |c, v| {
            c.max_room_creates_per_ip_per_min = num(v, "MAX_ROOM_CREATES_PER_IP_PER_MIN")?;
            Ok(())
        },
    },
    Key {
        flag: "--max-conns-per-ip",
        env: "MAX_CONNS_PER_IP",
        set: |c, v| {
            c.max_conns_per_ip = num(v, "MAX_CONNS_PER_IP")?;
            Ok(())
        },
    },
    Key {
        flag: "--max-total-connections",
        env: "MAX_TOTAL_CONNECTIONS",
        set: |c, v| {
            c.max_total_connections = num(v, "MAX_TOTAL_CONNECTIONS")?;
            Ok(())
        },
    },
    Key {
        flag: "--memory-limit-bytes",
        env: "MEMORY_LIMIT_BYTES",
        set: |c, v| {
            c.memory_limit_bytes = num(v, "MEMORY_LIMIT_BYTES")?;
            Ok(())
        },
    },
    Key {
        flag: "--chaos-error-rate",
        env: "CHAOS_ERROR_RATE",
        set: |c, v| {
            let r: f64 = num(v, "CHAOS_ERROR_RATE")?;
            if !(0.0..=1.0).contains(&r) {
                return Err("CHAOS_ERROR_RATE must be between 0 and 1".into());
            }
            c.chaos_error_rate = r;
            Ok(())
        },
    },
    Key {
        flag: "--chaos-latency-ms",
        env: "CHAOS_LATENCY_MS",
        set: |c, v| {
            c.chaos_latency = Duration::from_millis(num(v, "CHAOS_LATENCY_MS")?);
            Ok(())
        },
    },
    Key {
        flag: "--test-hooks",
        env: "ROOMCORE_TEST_HOOKS",
        set: |c, v| {
            c.test_hooks = flag_bool(v, "ROOMCORE_TEST_HOOKS")?;
            Ok(())
        },
    },
    Key {
        flag: "--log-format",
        env: "LOG_FORMAT",
        set: |c, v| {
            c.log_format = match v.trim().to_ascii_lowercase().as_str() {
                "json" => LogFormat::Json,
                "text" | "pretty" => LogFormat::Text,
                _ => return Err(format!("LOG_FORMAT: expected json or text, got {v:?}")),
            };
            Ok(())
        },
    },
    Key {
        flag: "--log-level",
        env: "LOG_LEVEL",
        set: |c, v| {
            c.log_level = match v.trim().to_ascii_lowercase().as_str() {
                "error" => Level::Error,
                "warn" | "warning" => Level::Warn,
                "info" => Level::Info,
                "debug" | "trace" => Level::Debug,
                _ => {
                    return Err(format!(
                        "LOG_LEVEL: expected error/warn/info/debug, got {v:?}"
                    ))
                }
            };
            Ok(())
        },
    },
];

/// Usage text for `--help`.
pub fn usage() -> String {
    let mut s = String::from(
        "roomcore [FLAGS]\n\nEvery flag also reads an environment variable (flag wins):\n",
    );
    for k in KEYS {
        s.push_str(&format!(
            "  {:<28} {}\n",
            format!("{} VALUE", k.flag),
            k.env
        ));
    }
    s.push_str("\nStorage, auth and game knobs (validated when the services start):\n");
    for env in SERVICE_KEYS {
        s.push_str(&format!(
            "  {:<34} {}\n",
            format!("{} VALUE", service_flag(env)),
            env
        ));
    }
    s.push_str("\nROOMCORE_TOKEN_SECRET is read from the environment only.\n");
    s
}

impl Config {
    /// Build from `env` (name -> value lookup) and command-line `args`
    /// (without the program name). Flags accept `--flag value` and `--flag=value`.
    pub fn from_sources(
        env: impl Fn(&str) -> Option<String>,
        args: &[String],
    ) -> Result<Config, String> {
        let mut c = Config::default();
        for k in KEYS {
            if let Some(v) = env(k.env) {
                (k.set)(&mut c, &v)?;
            }
        }
        let mut i = 0;
        while i < args.len() {
            let a = &args[i];
            let (name, inline) = match a.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (a.as_str(), None),
            };
            let key = KEYS.iter().find(|k| k.flag == name);
            let service = SERVICE_KEYS.iter().find(|e| service_flag(e) == name);
            if key.is_none() && service.is_none() {
                return Err(format!("unknown flag {a:?}\n\n{}", usage()));
            }
            let v = match inline {
                Some(v) => v,
                None => {
                    i += 1;
                    args.get(i)
                        .cloned()
                        .ok_or_else(|| format!("{name} needs a value"))?
                }
            };
            match (key, service) {
                (Some(k), _) => (k.set)(&mut c, &v)?,
                (None, Some(env)) => {
                    c.services.retain(|(e, _)| e != env);
                    c.services.push((env, v));
                }
                (None, None) => unreachable!("checked above"),
            }
            i += 1;
        }
        c.validate()?;
        Ok(c)
    }

    /// Read the process environment and arguments.
    pub fn from_env_and_args() -> Result<Config, String> {
        let args: Vec<String> = std::env::args().skip(1).collect();
        Config::from_sources(|k| std::env::var(k).ok(), &args)
    }

    /// A service knob (one of [`SERVICE_KEYS`], or any other environment
    /// variable): its flag value if one was given, else the environment.
    pub fn service_var(&self, env: &str) -> Option<String> {
        self.services
            .iter()
            .find(|(e, _)| *e == env)
            .map(|(_, v)| v.clone())
            .or_else(|| std::env::var(env).ok())
    }

    fn validate(&self) -> Result<(), String> {
        if self.shards == 0 || self.shards > 256 {
            return Err("--shards must be between 1 and 256".into());
        }
        if !(8..=32768).contains(&self.io_ring_depth) || !self.io_ring_depth.is_power_of_two() {
            return Err("IO_RING_DEPTH must be a power of two between 8 and 32768".into());
        }
        if self.http_max_head_bytes < 256 {
            return Err("HTTP_MAX_HEAD_BYTES must be at least 256".into());
        }
        if self.ws_max_message_bytes == 0 || self.ws_max_buffered_bytes == 0 {
            return Err("WebSocket limits must be positive".into());
        }
        if self.ws_ping_interval.is_zero() || self.ws_ping_timeout.is_zero() {
            return Err("WS_PING_INTERVAL_MS and WS_PING_TIMEOUT_MS must be positive".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn service_knobs_are_flags_and_the_last_one_wins() {
        let c = Config::from_sources(
            |_| None,
            &args(&[
                "--storage-batch-max",
                "7",
                "--mm-window-max=300",
                "--storage-batch-max=9",
            ]),
        )
        .unwrap();
        assert_eq!(c.service_var("STORAGE_BATCH_MAX").as_deref(), Some("9"));
        assert_eq!(c.service_var("MM_WINDOW_MAX").as_deref(), Some("300"));
        assert_eq!(
            service_flag("RECONNECT_GRACE_SECS"),
            "--reconnect-grace-secs"
        );
        assert!(usage().contains("--reconnect-grace-secs VALUE"));
        // the token secret never becomes a flag
        let e =
            Config::from_sources(|_| None, &args(&["--roomcore-token-secret", "x"])).unwrap_err();
        assert!(e.contains("unknown flag"), "{e}");
        let e = Config::from_sources(|_| None, &args(&["--score-max"])).unwrap_err();
        assert!(e.contains("needs a value"), "{e}");
    }

    #[test]
    fn defaults_run_on_a_laptop() {
        let c = Config::from_sources(|_| None, &[]).unwrap();
        assert_eq!(c.listen.port(), 8080);
        assert!(c.shards >= 1);
        assert_eq!(c.data_dir, PathBuf::from("data"));
        assert_eq!(c.shutdown_drain, Duration::from_secs(15));
    }

    #[test]
    fn flags_override_env() {
        let env = |k: &str| match k {
            "SHARDS" => Some("3".to_string()),
            "WS_PING_INTERVAL_MS" => Some("500".to_string()),
            _ => None,
        };
        let c =
            Config::from_sources(env, &args(&["--shards", "2", "--listen=127.0.0.1:0"])).unwrap();
        assert_eq!(c.shards, 2);
        assert_eq!(c.ws_ping_interval, Duration::from_millis(500));
        assert_eq!(c.listen.port(), 0);
    }

    #[test]
    fn bad_values_are_clear_errors() {
        let e = Config::from_sources(|_| None, &args(&["--shards", "x"])).unwrap_err();
        assert!(e.contains("--shards"), "{e}");
        let e = Config::from_sources(|_| None, &args(&["--nope"])).unwrap_err();
        assert!(e.contains("unknown flag"), "{e}");
        let e = Config::from_sources(|_| None, &args(&["--shards"])).unwrap_err();
        assert!(e.contains("needs a value"), "{e}");
        let e = Config::from_sources(|_| None, &args(&["--shards", "0"])).unwrap_err();
        assert!(e.contains("between"), "{e}");
    }
}
