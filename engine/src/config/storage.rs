//! The persistence thread's knobs (which database: the SQLite file or PostgreSQL at
//! `DATABASE_URL`, and its connection settings), the database subcommands (`migrate`,
//! `export`, `import`), credentials (tokens and password hashing) and the API's limits
//! (leaderboards, scores, room state documents and their snapshots).

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{ArgAction, Args, Subcommand};
use storage::{Engine, PostgresConfig, StorageConfig, Synchronous};

use super::parse;

fn synchronous(v: &str) -> Result<Synchronous, String> {
    Synchronous::parse(v).ok_or_else(|| format!("expected full or normal, got {v:?}"))
}

/// A database URL. Its `Debug` (and so any dump of the configuration) hides the password;
/// the scheme is checked by [`StorageArgs::validate`], whose message hides it too (clap's own
/// value errors would echo the raw value).
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl(pub String);

impl DatabaseUrl {
    /// The URL with its password replaced by `***`.
    pub fn redacted(&self) -> String {
        storage::config::redact_url(&self.0)
    }

    /// Whether the URL carries a password (`user:secret@` or `password=`).
    pub fn has_password(&self) -> bool {
        self.redacted() != self.0
    }
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.redacted())
    }
}

fn database_url(v: &str) -> Result<DatabaseUrl, String> {
    Ok(DatabaseUrl(v.trim().to_string()))
}

/// The database subcommands: run one and exit instead of serving.
#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum DbCommand {
    /// Apply the missing schema migrations to the database (DATABASE_URL, else the SQLite
    /// file) and exit. A database newer than this build is refused (exit 1).
    Migrate,
    /// Write every durable row (accounts with their password hashes, scores, bests, ratings,
    /// finished games, room snapshots) as `roomcore-export` JSON lines, then exit.
    Export {
        /// File to write (created with mode 0600, never overwritten); `-` = stdout.
        #[arg(long, short = 'o', default_value = "-")]
        output: PathBuf,
    },
    /// Load an export into an EMPTY database (migrated first), in one transaction: on any
    /// error nothing is kept. Then exit.
    Import {
        /// File to read; `-` = stdin.
        #[arg(long, short = 'i', default_value = "-")]
        input: PathBuf,
    },
}

impl DbCommand {
    /// The subcommand's name.
    pub fn name(&self) -> &'static str {
        match self {
            DbCommand::Migrate => "migrate",
            DbCommand::Export { .. } => "export",
            DbCommand::Import { .. } => "import",
        }
    }
}

/// The persistence thread.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Storage")]
pub struct StorageArgs {
    /// PostgreSQL to store everything in (`postgres://user:password@host:5432/db`); unset =
    /// the SQLite file. Give it in the environment: a flag's value is visible in `ps`.
    #[arg(long = "database-url", env = "DATABASE_URL", hide_env_values = true,
          value_parser = database_url)]
    pub database_url: Option<DatabaseUrl>,
    /// Apply missing migrations at start; `false`: an older database stops start-up (run
    /// `roomcore migrate` first).
    #[arg(long = "storage-auto-migrate", env = "STORAGE_AUTO_MIGRATE", default_value = "true",
          value_parser = parse::bool_flag, num_args = 0..=1, default_missing_value = "true",
          action = ArgAction::Set)]
    pub auto_migrate: bool,
    /// A persistence round running longer than this (ms) makes storage unhealthy
    /// (`/ready` 503, `roomcore_storage_up` 0), and new writes answer 503 at once meanwhile.
    #[arg(long = "storage-stuck-after-ms", env = "STORAGE_STUCK_AFTER_MS", default_value = "5000",
          value_parser = parse::millis)]
    pub stuck_after: Duration,
    /// PostgreSQL: longest time one connection attempt may take, in ms (unless the URL sets
    /// `connect_timeout`).
    #[arg(long = "database-connect-timeout-ms", env = "DATABASE_CONNECT_TIMEOUT_MS",
          default_value = "2000", value_parser = parse::millis)]
    pub connect_timeout: Duration,
    /// PostgreSQL: data unacknowledged this long (ms) drops the connection (TCP_USER_TIMEOUT,
    /// keepalives), so a vanished server is noticed instead of waited on; a server that takes
    /// the connection but has not finished the start-up exchange after the connect timeout plus
    /// this is given up on (not PostgreSQL, or hung).
    #[arg(long = "database-io-timeout-ms", env = "DATABASE_IO_TIMEOUT_MS",
          default_value = "10000", value_parser = parse::millis)]
    pub io_timeout: Duration,
    /// PostgreSQL: first wait (ms) before reconnecting after the connection was lost.
    #[arg(long = "database-backoff-min-ms", env = "DATABASE_BACKOFF_MIN_MS",
          default_value = "100", value_parser = parse::millis)]
    pub backoff_min: Duration,
    /// PostgreSQL: longest wait (ms) between reconnection attempts (the wait doubles up to it).
    #[arg(long = "database-backoff-max-ms", env = "DATABASE_BACKOFF_MAX_MS",
          default_value = "5000", value_parser = parse::millis)]
    pub backoff_max: Duration,
    /// PostgreSQL: an idle connection is checked this often (ms), so an outage shows
    /// without traffic.
    #[arg(long = "database-heartbeat-ms", env = "DATABASE_HEARTBEAT_MS",
          default_value = "1000", value_parser = parse::millis)]
    pub heartbeat: Duration,
    /// SQLite database file [default: <data-dir>/roomcore.db].
    #[arg(long = "storage-db-path", env = "STORAGE_DB_PATH")]
    pub db_path: Option<PathBuf>,
    /// SQLite `synchronous` (`full` or `normal`): see the durability contract in
    /// docs/ARCHITECTURE.md.
    #[arg(long = "storage-synchronous", env = "STORAGE_SYNCHRONOUS", default_value = "full",
          value_parser = synchronous)]
    pub synchronous: Synchronous,
    /// Bound of the persistence queue; when full, writes answer 503 at once.
    #[arg(
        long = "storage-queue-capacity",
        env = "STORAGE_QUEUE_CAPACITY",
        default_value_t = 4096
    )]
    pub queue_capacity: usize,
    /// Most commands committed in one transaction (group commit); 1 = one transaction per write.
    #[arg(
        long = "storage-batch-max",
        env = "STORAGE_BATCH_MAX",
        default_value_t = 512
    )]
    pub batch_max: usize,
    /// `Retry-After` in seconds on a 503 from a full queue.
    #[arg(
        long = "storage-retry-after-secs",
        env = "STORAGE_RETRY_AFTER_SECS",
        default_value_t = 1
    )]
    pub retry_after_secs: u64,
}

impl StorageArgs {
    pub(super) fn validate(&mut self, data_dir: &Path) -> Result<(), String> {
        if self
            .db_path
            .as_ref()
            .is_none_or(|p| p.as_os_str().is_empty())
        {
            self.db_path = Some(data_dir.join("roomcore.db"));
        }
        if self.queue_capacity == 0 || self.batch_max == 0 {
            return Err("STORAGE_QUEUE_CAPACITY and STORAGE_BATCH_MAX must be positive".into());
        }
        if self.database_url.as_ref().is_some_and(|u| u.0.is_empty()) {
            self.database_url = None;
        }
        if let Some(url) = &self.database_url {
            let mut probe = StorageConfig::new(PathBuf::new());
            probe.database_url = Some(url.0.clone());
            probe.engine().map_err(|_| {
                format!(
                    "--database-url / DATABASE_URL {} is not postgres://… or postgresql://… \
                     (leave it unset for the SQLite file)",
                    url.redacted()
                )
            })?;
        }
        for (d, name) in [
            (self.stuck_after, "STORAGE_STUCK_AFTER_MS"),
            (self.connect_timeout, "DATABASE_CONNECT_TIMEOUT_MS"),
            (self.io_timeout, "DATABASE_IO_TIMEOUT_MS"),
            (self.backoff_min, "DATABASE_BACKOFF_MIN_MS"),
            (self.heartbeat, "DATABASE_HEARTBEAT_MS"),
        ] {
            if d.is_zero() {
                return Err(format!("{name} must be positive"));
            }
        }
        if self.backoff_max < self.backoff_min {
            return Err("DATABASE_BACKOFF_MAX_MS must not be below DATABASE_BACKOFF_MIN_MS".into());
        }
        Ok(())
    }

    /// Which database the settings select.
    pub fn engine(&self) -> Engine {
        if self.database_url.is_some() {
            Engine::Postgres
        } else {
            Engine::Sqlite
        }
    }

    /// The persistence thread's settings, with the API's board limits and one board
    /// subscriber per shard.
    pub fn storage_config(&self, api: &ApiArgs, subscribers: usize) -> StorageConfig {
        let mut st = StorageConfig::new(self.db_path.clone().unwrap_or_default());
        st.synchronous = self.synchronous;
        st.queue_capacity = self.queue_capacity;
        st.batch_max = self.batch_max;
        st.board_size = api.leaderboard_size;
        st.max_games = api.leaderboard_max_games;
        st.subscribers = subscribers;
        st.database_url = self.database_url.as_ref().map(|u| u.0.clone());
        st.auto_migrate = self.auto_migrate;
        st.stuck_after = self.stuck_after;
        st.postgres = PostgresConfig {
            connect_timeout: self.connect_timeout,
            io_timeout: self.io_timeout,
            backoff_min: self.backoff_min,
            backoff_max: self.backoff_max,
            heartbeat: self.heartbeat,
        };
        st
    }
}

/// Tokens and password hashing.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Accounts")]
pub struct AuthArgs {
    /// `ROOMCORE_TOKEN_SECRET` (environment only), else generated into the data dir.
    #[arg(skip)]
    pub token_secret: Option<String>,
    /// Lifetime of a token in seconds.
    #[arg(long = "token-ttl-secs", env = "TOKEN_TTL_SECS", default_value = "86400",
          value_parser = parse::secs)]
    pub token_ttl: Duration,
    /// argon2id memory cost in KiB.
    #[arg(
        long = "password-hash-memory-kib",
        env = "PASSWORD_HASH_MEMORY_KIB",
        default_value_t = 19_456
    )]
    pub hash_memory_kib: u32,
    /// argon2id passes.
    #[arg(
        long = "password-hash-iterations",
        env = "PASSWORD_HASH_ITERATIONS",
        default_value_t = 2
    )]
    pub hash_iterations: u32,
    /// Password hashes in flight per shard on the blocking pool; past it 503 + Retry-After.
    #[arg(
        long = "auth-max-inflight-hashes",
        env = "AUTH_MAX_INFLIGHT_HASHES",
        default_value_t = 16
    )]
    pub max_inflight_hashes: usize,
}

impl AuthArgs {
    pub(super) fn validate(&self) -> Result<(), String> {
        if self.token_ttl.is_zero() {
            return Err("TOKEN_TTL_SECS must be positive".into());
        }
        if self.max_inflight_hashes == 0 {
            return Err("AUTH_MAX_INFLIGHT_HASHES must be positive".into());
        }
        storage::Passwords::new(self.hash_memory_kib, self.hash_iterations)
            .map(|_| ())
            .map_err(|e| format!("PASSWORD_HASH_MEMORY_KIB / PASSWORD_HASH_ITERATIONS: {e}"))
    }
}

/// Limits of the JSON API and of state rooms.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "API")]
pub struct ApiArgs {
    /// Entries kept per in-memory board; the largest `limit` a read may ask for.
    #[arg(
        long = "leaderboard-size",
        env = "LEADERBOARD_SIZE",
        default_value_t = 100
    )]
    pub leaderboard_size: usize,
    /// Distinct game ids accepted; a score for one more game gets 409.
    #[arg(
        long = "leaderboard-max-games",
        env = "LEADERBOARD_MAX_GAMES",
        default_value_t = 1000
    )]
    pub leaderboard_max_games: usize,
    /// Highest score accepted (lowest is 0).
    #[arg(long = "score-max", env = "SCORE_MAX", default_value_t = 1_000_000_000)]
    pub score_max: i64,
    /// Largest room state document in bytes (413 past it).
    #[arg(
        long = "room-state-max-bytes",
        env = "ROOM_STATE_MAX_BYTES",
        default_value_t = 8192
    )]
    pub room_state_max_bytes: usize,
    /// State rooms one shard holds; past it a new room gets 409.
    #[arg(
        long = "room-state-max-rooms",
        env = "ROOM_STATE_MAX_ROOMS",
        default_value_t = 10_000
    )]
    pub room_state_max_rooms: usize,
    /// How often changed rooms are saved, in seconds.
    #[arg(long = "room-snapshot-interval-secs", env = "ROOM_SNAPSHOT_INTERVAL_SECS",
          default_value = "10", value_parser = parse::secs)]
    pub snapshot_interval: Duration,
    /// Room snapshots not updated for this many seconds are deleted at start.
    #[arg(long = "room-snapshot-ttl-secs", env = "ROOM_SNAPSHOT_TTL_SECS", default_value = "604800",
          value_parser = parse::secs)]
    pub snapshot_ttl: Duration,
}

impl ApiArgs {
    pub(super) fn validate(&self) -> Result<(), String> {
        if self.leaderboard_size == 0 || self.leaderboard_size > 10_000 {
            return Err("LEADERBOARD_SIZE must be between 1 and 10000".into());
        }
        if self.score_max < 0 {
            return Err("SCORE_MAX must not be negative".into());
        }
        if self.snapshot_interval.is_zero() {
            return Err("ROOM_SNAPSHOT_INTERVAL_SECS must be positive".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::time::Duration;

    use storage::Engine;

    use super::DbCommand;
    use crate::config::{Config, Exit};

    fn parse(a: &[&str]) -> Result<Config, String> {
        let args = std::iter::once("roomcore").chain(a.iter().copied());
        Config::parse_from(args, None).map_err(|e| match e {
            Exit::Info(s) | Exit::Invalid(s) => s,
        })
    }

    #[test]
    fn sqlite_by_default_postgres_with_a_url_and_every_knob_reaches_storage() {
        let c = parse(&[]).unwrap();
        assert_eq!(c.storage.engine(), Engine::Sqlite);
        let st = c.storage.storage_config(&c.api, 1);
        assert_eq!(st.database_url, None);
        assert!(st.auto_migrate);
        assert_eq!(st.postgres, storage::PostgresConfig::default());
        assert_eq!(c.command, None);

        let c = parse(&[
            "--database-url",
            "postgresql://rc:pw@db:5432/rc",
            "--storage-auto-migrate=false",
            "--database-connect-timeout-ms",
            "500",
            "--database-io-timeout-ms=3000",
            "--database-backoff-min-ms=50",
            "--database-backoff-max-ms=2000",
            "--database-heartbeat-ms=250",
            "--storage-stuck-after-ms=900",
        ])
        .unwrap();
        assert_eq!(c.storage.engine(), Engine::Postgres);
        let st = c.storage.storage_config(&c.api, 2);
        assert_eq!(st.engine().unwrap(), Engine::Postgres);
        assert_eq!(
            st.database_url.as_deref(),
            Some("postgresql://rc:pw@db:5432/rc")
        );
        assert!(!st.auto_migrate);
        assert_eq!(st.stuck_after, Duration::from_millis(900));
        assert_eq!(st.postgres.connect_timeout, Duration::from_millis(500));
        assert_eq!(st.postgres.io_timeout, Duration::from_secs(3));
        assert_eq!(st.postgres.backoff_min, Duration::from_millis(50));
        assert_eq!(st.postgres.backoff_max, Duration::from_secs(2));
        assert_eq!(st.postgres.heartbeat, Duration::from_millis(250));
        // An empty URL is no URL: SQLite.
        let c = parse(&["--database-url", ""]).unwrap();
        assert_eq!(c.storage.engine(), Engine::Sqlite);
    }

    #[test]
    fn the_password_never_shows_in_errors_or_dumps() {
        let c = parse(&["--database-url", "postgres://rc:s3cret@db/rc"]).unwrap();
        let dump = format!("{c:?}");
        assert!(!dump.contains("s3cret"), "{dump}");
        assert!(dump.contains("postgres://rc:***@db/rc"), "{dump}");
        let e = parse(&["--database-url", "mysql://rc:s3cret@db/rc"]).unwrap_err();
        assert!(
            e.contains("DATABASE_URL") && e.contains("postgres://"),
            "{e}"
        );
        assert!(!e.contains("s3cret"), "{e}");
        for (args, needle) in [
            (["--database-heartbeat-ms", "0"], "DATABASE_HEARTBEAT_MS"),
            (
                ["--database-backoff-max-ms", "10"],
                "DATABASE_BACKOFF_MAX_MS",
            ),
            (["--storage-stuck-after-ms", "x"], "STORAGE_STUCK_AFTER_MS"),
            (["--storage-auto-migrate", "maybe"], "STORAGE_AUTO_MIGRATE"),
        ] {
            let e = parse(&args).unwrap_err();
            assert!(e.contains(needle), "{args:?}: {e}");
        }
    }

    #[test]
    fn every_flag_has_a_row_in_the_readme_configuration_table() {
        let readme = include_str!("../../../README.md");
        let help = match Config::parse_from(["roomcore", "--help"], None) {
            Err(Exit::Info(h)) => h,
            other => panic!("--help: {other:?}"),
        };
        let flags: Vec<&str> = help
            .lines()
            .filter_map(|l| l.trim_start().strip_prefix("--"))
            .filter_map(|l| l.split([' ', '=']).next())
            .filter(|f| !matches!(*f, "help" | "version"))
            .collect();
        assert!(flags.contains(&"database-url"), "{help}");
        for f in flags {
            assert!(
                readme.contains(&format!("| `--{f}` |")),
                "--{f} has no row in README.md"
            );
        }
    }

    #[test]
    fn database_subcommands_take_the_storage_flags_before_or_after() {
        let c = parse(&["migrate"]).unwrap();
        assert_eq!(c.command, Some(DbCommand::Migrate));
        let c = parse(&["--data-dir", "d", "export", "--output", "x.jsonl"]).unwrap();
        assert_eq!(
            c.command,
            Some(DbCommand::Export {
                output: PathBuf::from("x.jsonl")
            })
        );
        assert_eq!(
            c.storage.db_path.as_deref(),
            Some(std::path::Path::new("d/roomcore.db"))
        );
        let c = parse(&["import", "--database-url", "postgres://h/db", "-i", "-"]).unwrap();
        assert_eq!(
            c.command,
            Some(DbCommand::Import {
                input: PathBuf::from("-")
            })
        );
        assert_eq!(c.storage.engine(), Engine::Postgres);
        let c = parse(&["export", "--data-dir", "e"]).unwrap();
        assert_eq!(
            c.command,
            Some(DbCommand::Export {
                output: PathBuf::from("-")
            })
        );
        assert_eq!(c.server.data_dir, PathBuf::from("e"));
        let e = parse(&["vacuum"]).unwrap_err();
        assert!(e.contains("vacuum"), "{e}");
        // Server flags belong before the subcommand.
        assert!(parse(&["migrate", "--listen", "127.0.0.1:1"]).is_err());
    }
}
