//! roomcore persistence: one writer thread with group commit, on SQLite (the
//! embedded default) or PostgreSQL (several processes, one database).
//!
//! Owns every byte of SQL in the project: the schema and its migrations, the
//! thread that holds the only writer connection, and the typed commands
//! shards send it. Shards never block: they `try_send` a command over a
//! bounded crossbeam channel and await a oneshot reply that arrives only after
//! the transaction holding the command committed. Both engines serve the same
//! [`Storage`] API; `StorageConfig::database_url = Some("postgres://…")`
//! selects PostgreSQL. Also owns the pure credential helpers (argon2id
//! password hashes, HMAC-signed tokens) so the engine never hand-rolls
//! crypto. Does not touch sockets, HTTP or shards.
//!
//! Reading order:
//! - [`config`]: knobs of the persistence thread, and which engine.
//! - [`handle`]: [`Storage`], the `Clone` handle shards use (async methods).
//! - [`health`]: [`StorageHealth`], the non-blocking readiness probe.
//! - `worker`: the round both engines share (group commit, savepoints,
//!   replies after COMMIT, publishing boards).
//! - `sqlite`, `pg`: each engine's connection and thread loop (PostgreSQL
//!   adds LISTEN/NOTIFY between processes, reconnection with backoff).
//! - `sql`: the statement pairs and the `Db` trait both engines implement.
//! - [`schema`]: one numbered migration list, a SQLite and a PostgreSQL text
//!   per step (`user_version` / `schema_migrations`).
//! - [`accounts`], [`scores`], [`rooms`]: the SQL of each domain.
//! - [`games`]: finished games (PGN) and Elo ratings.
//! - [`transfer`]: [`export`] / [`import`] of everything, as versioned JSON lines.
//! - [`inspect`]: read-only looks at a database (tests, operators).
//! - [`boards`]: leaderboard snapshots published to every shard after commits.
//! - [`model`]: the plain data types crossing the channel.
//! - [`password`], [`token`]: argon2id hashing and HMAC-SHA256 tokens.
//! - [`error`]: the [`StorageError`] enum.
//!
//! Operator entry points (no running [`Storage`] needed): [`migrate`],
//! [`export`], [`import`].

pub mod accounts;
pub mod boards;
mod cmd;
pub mod config;
pub mod error;
pub mod games;
pub mod handle;
pub mod health;
pub mod inspect;
pub mod model;
pub mod password;
mod pg;
pub mod rooms;
pub mod schema;
pub mod scores;
mod sql;
mod sqlite;
pub mod token;
mod trace;
pub mod transfer;
mod worker;

pub use boards::{BoardReceiver, BoardView};
pub use config::{Engine, PostgresConfig, StorageConfig, Synchronous};
pub use error::StorageError;
pub use handle::{CounterSnapshot, Storage};
pub use health::StorageHealth;
pub use model::{Account, Board, BoardEntry, Credentials, Period, RoomRow, ScoreAck, Standing};
pub use password::Passwords;
pub use token::{Claims, TokenError, TokenKey};
pub use transfer::{export, import, TransferCounts};

/// Apply every missing migration to the database `cfg` names (SQLite file or
/// PostgreSQL) and return its schema version, now [`schema::VERSION`]. A
/// database newer than this build is refused (`TooNew`). Safe to run while
/// other processes use the database (PostgreSQL migrates under a lock).
pub fn migrate(cfg: &StorageConfig) -> Result<u32, StorageError> {
    match cfg.engine()? {
        Engine::Sqlite => {
            let conn = sqlite::open(&StorageConfig {
                auto_migrate: true,
                ..cfg.clone()
            })?;
            schema::version(&conn)
        }
        Engine::Postgres => {
            let mut client = pg::connect_ready(cfg, true)?;
            schema::pg_version(&mut client)
        }
    }
}

/// Milliseconds since the Unix epoch (0 if the clock is before it).
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// The UTC day number (days since the Unix epoch) of a millisecond time.
pub fn day_of(ms: i64) -> i64 {
    ms.div_euclid(86_400_000)
}
