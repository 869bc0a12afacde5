//! The persistence thread's knobs, credentials (tokens and password hashing) and the API's
//! limits (leaderboards, scores, room state documents and their snapshots).

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;
use storage::{StorageConfig, Synchronous};

use super::parse;

fn synchronous(v: &str) -> Result<Synchronous, String> {
    Synchronous::parse(v).ok_or_else(|| format!("expected full or normal, got {v:?}"))
}

/// The persistence thread.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Storage")]
pub struct StorageArgs {
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
        Ok(())
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
