//! Inspection of a database file from outside the server (tests,
//! operators): ids of stored scores and the schema version, read-only; and
//! building a database at an old schema version for upgrade tests. Opens its
//! own connection; never used by the running server.

use std::path::Path;

use rusqlite::{Connection, OpenFlags};

use crate::error::StorageError;

fn open(path: &Path) -> Result<Connection, StorageError> {
    Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(|source| {
        StorageError::Open {
            path: path.to_path_buf(),
            source,
        }
    })
}

/// Ids of every stored score of `game`, ascending.
pub fn score_ids(path: &Path, game: &str) -> Result<Vec<i64>, StorageError> {
    let conn = open(path)?;
    let mut st = conn
        .prepare("SELECT id FROM scores WHERE game = ?1 ORDER BY id")
        .map_err(StorageError::sql("prepare score ids"))?;
    let rows = st
        .query_map([game], |r| r.get(0))
        .map_err(StorageError::sql("score ids"))?;
    rows.collect::<Result<Vec<i64>, _>>()
        .map_err(StorageError::sql("score ids"))
}

/// The schema version of the file.
pub fn schema_version(path: &Path) -> Result<u32, StorageError> {
    crate::schema::version(&open(path)?)
}

/// Create a database at an old schema `version` (tests of in-place upgrades).
pub fn create_at_version(path: &Path, version: u32) -> Result<(), StorageError> {
    let mut conn = Connection::open(path).map_err(|source| StorageError::Open {
        path: path.to_path_buf(),
        source,
    })?;
    crate::schema::migrate_to(&mut conn, version).map(drop)
}
