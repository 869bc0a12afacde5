//! Knobs of the persistence thread. Parsing them from the environment is the
//! engine's job; this module only holds validated values and defaults, and
//! picks the database engine from [`StorageConfig::database_url`].

use std::path::PathBuf;
use std::time::Duration;

/// SQLite `PRAGMA synchronous` under WAL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Synchronous {
    /// fsync the WAL at every commit: a power loss keeps every acknowledged write.
    Full,
    /// fsync only at checkpoints: a process crash keeps every acknowledged write,
    /// a power loss may lose the last commits (never corrupts).
    Normal,
}

impl Synchronous {
    /// Parse `full` / `normal` (case-insensitive).
    pub fn parse(s: &str) -> Option<Synchronous> {
        match s.trim().to_ascii_lowercase().as_str() {
            "full" => Some(Synchronous::Full),
            "normal" => Some(Synchronous::Normal),
            _ => None,
        }
    }

    pub(crate) fn pragma(self) -> &'static str {
        match self {
            Synchronous::Full => "FULL",
            Synchronous::Normal => "NORMAL",
        }
    }
}

/// Which database holds the durable state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// The embedded default: one SQLite file at [`StorageConfig::path`].
    Sqlite,
    /// A PostgreSQL server at [`StorageConfig::database_url`], shareable by
    /// several roomcore processes.
    Postgres,
}

impl Engine {
    /// `sqlite` / `postgres`.
    pub fn as_str(self) -> &'static str {
        match self {
            Engine::Sqlite => "sqlite",
            Engine::Postgres => "postgres",
        }
    }
}

/// PostgreSQL-only settings (ignored on SQLite).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostgresConfig {
    /// How long one connection attempt may take (unless the URL sets
    /// `connect_timeout`).
    pub connect_timeout: Duration,
    /// Unacknowledged data older than this drops the connection
    /// (`TCP_USER_TIMEOUT`), so a vanished server is noticed, not waited on.
    pub io_timeout: Duration,
    /// First wait before reconnecting after the connection was lost.
    pub backoff_min: Duration,
    /// Longest wait between reconnection attempts (the wait doubles up to it).
    pub backoff_max: Duration,
    /// An idle writer checks its connection this often, so `health()` turns
    /// false without traffic.
    pub heartbeat: Duration,
}

impl Default for PostgresConfig {
    fn default() -> PostgresConfig {
        PostgresConfig {
            connect_timeout: Duration::from_secs(2),
            io_timeout: Duration::from_secs(10),
            backoff_min: Duration::from_millis(100),
            backoff_max: Duration::from_secs(5),
            heartbeat: Duration::from_secs(1),
        }
    }
}

/// Settings of [`crate::Storage::open`].
#[derive(Clone)]
pub struct StorageConfig {
    /// The database file (created with its directory if missing); SQLite only.
    pub path: PathBuf,
    /// `postgres://…` or `postgresql://…` selects PostgreSQL; `None` (the
    /// default) keeps the SQLite file at `path`.
    pub database_url: Option<String>,
    /// `PRAGMA synchronous` (SQLite only).
    pub synchronous: Synchronous,
    /// Commands that may wait in the queue; past it calls fail with `Busy`.
    pub queue_capacity: usize,
    /// Most commands committed in one transaction (1 = one transaction per command).
    pub batch_max: usize,
    /// Entries kept per published leaderboard (the most a read can ask for).
    pub board_size: usize,
    /// Distinct games accepted; a score for one more game is refused.
    pub max_games: usize,
    /// Number of board subscribers (one per shard).
    pub subscribers: usize,
    /// Apply missing migrations when opening (default). When false, opening a
    /// database older than this build fails with `TooOld` (run
    /// [`crate::migrate`] first).
    pub auto_migrate: bool,
    /// A round running longer than this reads as unhealthy in `health()`, and new commands
    /// fail at once with `Unavailable` while it lasts.
    pub stuck_after: Duration,
    /// PostgreSQL connection and reconnection settings.
    pub postgres: PostgresConfig,
}

impl StorageConfig {
    /// Defaults for a SQLite database at `path`.
    pub fn new(path: PathBuf) -> StorageConfig {
        StorageConfig {
            path,
            database_url: None,
            synchronous: Synchronous::Full,
            queue_capacity: 4096,
            batch_max: 512,
            board_size: 100,
            max_games: 1000,
            subscribers: 1,
            auto_migrate: true,
            stuck_after: Duration::from_secs(5),
            postgres: PostgresConfig::default(),
        }
    }

    /// Defaults for a PostgreSQL database at `url` (`postgres://…`).
    pub fn postgres(url: &str) -> StorageConfig {
        let mut cfg = StorageConfig::new(PathBuf::new());
        cfg.database_url = Some(url.to_string());
        cfg
    }

    /// The engine `database_url` selects. An empty URL means SQLite; any
    /// other scheme than `postgres://` / `postgresql://` is refused.
    pub fn engine(&self) -> Result<Engine, crate::StorageError> {
        match self.database_url.as_deref().map(str::trim) {
            None | Some("") => Ok(Engine::Sqlite),
            Some(u) if u.starts_with("postgres://") || u.starts_with("postgresql://") => {
                Ok(Engine::Postgres)
            }
            Some(u) => Err(crate::StorageError::Config(format!(
                "database URL {} is not postgres://… (leave it unset for SQLite)",
                redact_url(u)
            ))),
        }
    }

    /// Where the data lives, without secrets (for logs and errors).
    pub fn describe(&self) -> String {
        match self.database_url.as_deref().map(str::trim) {
            Some(u) if !u.is_empty() => redact_url(u),
            _ => self.path.display().to_string(),
        }
    }
}

impl std::fmt::Debug for StorageConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StorageConfig")
            .field("path", &self.path)
            .field(
                "database_url",
                &self.database_url.as_deref().map(redact_url),
            )
            .field("synchronous", &self.synchronous)
            .field("queue_capacity", &self.queue_capacity)
            .field("batch_max", &self.batch_max)
            .field("board_size", &self.board_size)
            .field("max_games", &self.max_games)
            .field("subscribers", &self.subscribers)
            .field("auto_migrate", &self.auto_migrate)
            .field("stuck_after", &self.stuck_after)
            .field("postgres", &self.postgres)
            .finish()
    }
}

/// `url` with its password (`user:secret@` and `password=` parameters) hidden.
pub fn redact_url(url: &str) -> String {
    let mut out = url.to_string();
    if let Some(scheme_end) = out.find("://") {
        let rest = scheme_end + 3;
        let auth_end = out[rest..].find(['/', '?']).map_or(out.len(), |i| rest + i);
        if let Some(at) = out[rest..auth_end].rfind('@') {
            if let Some(colon) = out[rest..rest + at].find(':') {
                out.replace_range(rest + colon + 1..rest + at, "***");
            }
        }
    }
    if let Some(q) = out.find('?') {
        let (head, query) = out.split_at(q + 1);
        let query: Vec<String> = query
            .split('&')
            .map(|kv| match kv.split_once('=') {
                Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
                _ => kv.to_string(),
            })
            .collect();
        out = format!("{head}{}", query.join("&"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_selects_the_engine() {
        let mut c = StorageConfig::new("x.db".into());
        assert_eq!(c.engine().unwrap(), Engine::Sqlite);
        c.database_url = Some("postgresql://u@h/db".into());
        assert_eq!(c.engine().unwrap(), Engine::Postgres);
        c.database_url = Some("mysql://u@h/db".into());
        assert!(c.engine().is_err());
        c.database_url = Some(String::new());
        assert_eq!(c.engine().unwrap(), Engine::Sqlite);
    }

    #[test]
    fn passwords_never_reach_logs() {
        assert_eq!(
            redact_url("postgres://ann:s3cret@db:5432/rc?password=x&sslmode=disable"),
            "postgres://ann:***@db:5432/rc?password=***&sslmode=disable"
        );
        assert_eq!(redact_url("postgres://ann@db/rc"), "postgres://ann@db/rc");
        let c = StorageConfig::postgres("postgres://a:pw@h/d");
        assert!(!format!("{c:?}").contains("pw"));
    }
}
