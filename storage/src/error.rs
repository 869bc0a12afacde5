//! [`StorageError`]: every way a storage call can fail, with context.
//!
//! Owns only the error type; mapping errors to HTTP statuses is the engine's
//! job. Each variant's doc says the status it is meant to map to.

use std::path::PathBuf;

/// Why a storage call failed.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// A room snapshot from an owner older than the one that saved it last: this node no
    /// longer owns the room.
    #[error("room {room} was saved by a newer owner: this node no longer owns it")]
    Fenced { room: String },
    /// The command queue is full: back off and retry (maps to 503 + Retry-After).
    #[error("storage is busy: its queue of {capacity} commands is full")]
    Busy { capacity: usize },
    /// The persistence thread has stopped.
    #[error("storage is closed")]
    Closed,
    /// The database file could not be opened or configured.
    #[error("cannot open database {path}: {source}")]
    Open {
        path: PathBuf,
        source: rusqlite::Error,
    },
    /// A schema migration failed (the database is left at the previous version).
    #[error("schema migration to version {version} failed: {source}")]
    Migrate {
        version: u32,
        source: rusqlite::Error,
    },
    /// The database was written by a newer build.
    #[error("database schema version {found} is newer than this build ({known})")]
    TooNew { found: u32, known: u32 },
    /// One statement failed.
    #[error("{op} failed: {source}")]
    Sql {
        op: &'static str,
        source: rusqlite::Error,
    },
    /// The transaction holding this command failed to commit; nothing of it was kept.
    #[error("commit failed: {0}")]
    Commit(String),
    /// Registration with a username that exists (case-insensitive).
    #[error("username is taken")]
    UsernameTaken,
    /// The account a command refers to does not exist (e.g. a token that
    /// outlived its database).
    #[error("unknown account")]
    UnknownAccount,
    /// A score for a new game past the configured number of games.
    #[error("too many distinct games (limit {limit})")]
    TooManyGames { limit: usize },
    /// A file next to the database (e.g. the token secret) failed.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The configured token secret or password hashing parameters are unusable.
    #[error("invalid credential settings: {0}")]
    Credentials(String),
    /// The persistence thread could not be started.
    #[error("cannot start the persistence thread: {0}")]
    Spawn(std::io::Error),
    /// The database server is down or unreachable (PostgreSQL): the command
    /// was not run, or its transaction was cut off before COMMIT (nothing of
    /// it was acknowledged). The connection is being re-established with
    /// backoff. Maps to 503 + Retry-After.
    #[error("database unavailable: {reason}")]
    Unavailable { reason: String },
    /// A transient conflict with another process sharing the database
    /// (PostgreSQL deadlock or serialization failure, or a concurrent insert
    /// of the same game): only this command was undone; retrying it is safe.
    /// Maps to 503 + Retry-After.
    #[error("conflict with a concurrent writer, retry: {reason}")]
    Retry { reason: String },
    /// The storage settings are unusable (e.g. a database URL of an unknown
    /// scheme). A start-up error.
    #[error("invalid storage settings: {0}")]
    Config(String),
    /// The first connection to PostgreSQL failed (start-up, `migrate`,
    /// `export`, `import`). `url` has its password hidden.
    #[error("cannot connect to {url}: {source}")]
    Connect {
        url: String,
        source: postgres::Error,
    },
    /// A server took the connection but did not finish PostgreSQL's start-up exchange within
    /// `after` (not a PostgreSQL server, or a hung one). `url` has its password hidden.
    #[error("cannot connect to {url}: no answer to the start-up exchange within {} ms (is it a PostgreSQL server?)", .after.as_millis())]
    NoAnswer {
        url: String,
        after: std::time::Duration,
    },
    /// One PostgreSQL statement failed (not a lost connection). Maps to 500.
    #[error("{op} failed: {source}")]
    Postgres {
        op: &'static str,
        source: postgres::Error,
    },
    /// A PostgreSQL schema migration failed (the database is left at the
    /// previous version).
    #[error("schema migration to version {version} failed: {source}")]
    PgMigrate {
        version: u32,
        source: postgres::Error,
    },
    /// The database lacks migrations and `auto_migrate` is off: run
    /// `roomcore migrate` first. A start-up error.
    #[error("database schema version {found} is older than this build ({known}); run the migrations first")]
    TooOld { found: u32, known: u32 },
    /// A column did not hold the type the code reads (a bug or a foreign
    /// schema). Maps to 500.
    #[error("{op}: column {column} is not {expected}")]
    Decode {
        op: &'static str,
        column: usize,
        expected: &'static str,
    },
    /// An export file is malformed, truncated or of a newer format (import).
    #[error("export line {line}: {reason}")]
    Format { line: usize, reason: String },
    /// Reading or writing an export stream failed.
    #[error("export stream: {0}")]
    Stream(std::io::Error),
    /// Import refused: the target database already holds data.
    #[error("import target is not empty: {0}")]
    NotEmpty(String),
}

impl StorageError {
    pub(crate) fn sql(op: &'static str) -> impl FnOnce(rusqlite::Error) -> StorageError {
        move |source| StorageError::Sql { op, source }
    }
}
