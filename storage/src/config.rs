//! Knobs of the persistence thread. Parsing them from the environment is the
//! engine's job; this module only holds validated values and defaults.

use std::path::PathBuf;

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

/// Settings of [`crate::Storage::open`].
#[derive(Debug, Clone)]
pub struct StorageConfig {
    /// The database file (created with its directory if missing).
    pub path: PathBuf,
    /// `PRAGMA synchronous`.
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
}

impl StorageConfig {
    /// Defaults for a database at `path`.
    pub fn new(path: PathBuf) -> StorageConfig {
        StorageConfig {
            path,
            synchronous: Synchronous::Full,
            queue_capacity: 4096,
            batch_max: 512,
            board_size: 100,
            max_games: 1000,
            subscribers: 1,
        }
    }
}
