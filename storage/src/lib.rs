//! roomcore persistence: one SQLite writer thread with group commit.
//!
//! Owns every byte of SQL in the project: the schema and its migrations, the
//! thread that holds the only `rusqlite::Connection`, and the typed commands
//! shards send it. Shards never block: they `try_send` a command over a
//! bounded crossbeam channel and await a oneshot reply that arrives only after
//! the transaction holding the command committed. Also owns the pure
//! credential helpers (argon2id password hashes, HMAC-signed tokens) so the
//! engine never hand-rolls crypto. Does not touch sockets, HTTP or shards.
//!
//! Reading order:
//! - [`config`]: knobs of the persistence thread (`synchronous`, queue, batch).
//! - [`handle`]: [`Storage`], the `Clone` handle shards use (async methods).
//! - [`worker`]: the persistence thread's loop (group commit, replies, publishing).
//! - [`schema`]: versioned migrations (`PRAGMA user_version`).
//! - [`accounts`], [`scores`], [`rooms`]: the SQL of each domain.
//! - [`games`]: finished games (PGN) and Elo ratings.
//! - [`inspect`]: read-only looks at a database file (tests, operators).
//! - [`boards`]: leaderboard snapshots published to every shard after commits.
//! - [`model`]: the plain data types crossing the channel.
//! - [`password`], [`token`]: argon2id hashing and HMAC-SHA256 tokens.
//! - [`error`]: the [`StorageError`] enum.

pub mod accounts;
pub mod boards;
mod cmd;
pub mod config;
pub mod error;
pub mod games;
pub mod handle;
pub mod inspect;
pub mod model;
pub mod password;
pub mod rooms;
pub mod schema;
pub mod scores;
pub mod token;
mod worker;

pub use boards::{BoardReceiver, BoardView};
pub use config::{StorageConfig, Synchronous};
pub use error::StorageError;
pub use handle::{CounterSnapshot, Storage};
pub use model::{Account, Board, BoardEntry, Credentials, Period, RoomRow, ScoreAck, Standing};
pub use password::Passwords;
pub use token::{Claims, TokenError, TokenKey};

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
