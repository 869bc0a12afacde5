//! Inspection of a database from outside the server (tests, operators):
//! ids of stored scores and the schema version, read-only (a SQLite file by
//! path, or either engine by [`StorageConfig`]); and building a SQLite
//! database at an old schema version for upgrade tests, or stamping a newer
//! version (refusal tests). Opens its own
//! connection; never used by the running server.

use std::path::Path;

use rusqlite::{Connection, OpenFlags};

use crate::config::{Engine, StorageConfig};
use crate::error::StorageError;
use crate::sql::{Arg, Db, Q};
use crate::sqlite::Lite;

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

const SCORE_IDS: Q = Q::both(
    "score ids",
    "SELECT id FROM scores WHERE game = ?1 ORDER BY id",
);

/// Ids of every stored score of `game` in the database `cfg` names (SQLite
/// file or PostgreSQL), ascending. Opens its own connection.
pub fn score_ids_in(cfg: &StorageConfig, game: &str) -> Result<Vec<i64>, StorageError> {
    let rows = match cfg.engine()? {
        Engine::Sqlite => {
            let conn = open(&cfg.path)?;
            Lite(&conn).query(&SCORE_IDS, &[Arg::Text(game)])
        }
        Engine::Postgres => {
            let client = crate::pg::Connector::new(cfg)?.connect()?;
            crate::pg::conn::PgDb::new(client, 0).query(&SCORE_IDS, &[Arg::Text(game)])
        }
    }
    .map_err(|e| e.into_storage(SCORE_IDS.op))?;
    rows.iter().map(|r| r.int(0)).collect()
}

/// The schema version of the database `cfg` names (0 before any migration).
pub fn schema_version_in(cfg: &StorageConfig) -> Result<u32, StorageError> {
    match cfg.engine()? {
        Engine::Sqlite => schema_version(&cfg.path),
        Engine::Postgres => {
            let mut client = crate::pg::Connector::new(cfg)?.connect()?;
            crate::schema::pg_version(&mut client)
        }
    }
}

/// Bring the database `cfg` names to an old schema `version` (tests of
/// in-place upgrades on either engine).
pub fn create_at_version_in(cfg: &StorageConfig, version: u32) -> Result<(), StorageError> {
    match cfg.engine()? {
        Engine::Sqlite => create_at_version(&cfg.path, version),
        Engine::Postgres => {
            let mut client = crate::pg::Connector::new(cfg)?.connect()?;
            crate::schema::pg_migrate_to(&mut client, version).map(drop)
        }
    }
}

/// Record `version` as the schema version of the database `cfg` names, without running any
/// migration (tests and drills of a database newer than the build: `TooNew`).
pub fn stamp_version_in(cfg: &StorageConfig, version: u32) -> Result<(), StorageError> {
    match cfg.engine()? {
        Engine::Sqlite => {
            let conn = Connection::open(&cfg.path).map_err(|source| StorageError::Open {
                path: cfg.path.clone(),
                source,
            })?;
            conn.pragma_update(None, "user_version", version)
                .map_err(StorageError::sql("stamp user_version"))
        }
        Engine::Postgres => {
            let mut client = crate::pg::Connector::new(cfg)?.connect()?;
            client
                .execute(
                    "INSERT INTO schema_migrations (version, applied_at_ms) VALUES ($1, $2)",
                    &[&i64::from(version), &crate::now_ms()],
                )
                .map(drop)
                .map_err(|e| crate::sql::DbError::Pg(e).into_storage("stamp schema_migrations"))
        }
    }
}
