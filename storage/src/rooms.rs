//! SQL of room snapshots: save (upsert keeping `created_at`), load by kind,
//! delete, and sweep rows not updated for a while. Runs only on the
//! persistence thread.

use rusqlite::{params, Connection};

use crate::error::StorageError;
use crate::model::RoomRow;

/// Insert or replace a snapshot; the first `created_at` is kept.
pub fn save(conn: &Connection, row: &RoomRow) -> Result<(), StorageError> {
    conn.prepare_cached(
        "INSERT INTO rooms (id, kind, state, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (id) DO UPDATE SET kind = excluded.kind, state = excluded.state,
             updated_at = excluded.updated_at",
    )
    .and_then(|mut st| {
        st.execute(params![
            row.id,
            row.kind,
            row.state,
            row.created_at_ms,
            row.updated_at_ms
        ])
    })
    .map(|_| ())
    .map_err(StorageError::sql("save room"))
}

/// Every snapshot of `kind`.
pub fn load(conn: &Connection, kind: &str) -> Result<Vec<RoomRow>, StorageError> {
    let mut st = conn
        .prepare_cached(
            "SELECT id, kind, state, created_at, updated_at FROM rooms WHERE kind = ?1 ORDER BY id",
        )
        .map_err(StorageError::sql("prepare load rooms"))?;
    let rows = st
        .query_map([kind], |r| {
            Ok(RoomRow {
                id: r.get(0)?,
                kind: r.get(1)?,
                state: r.get(2)?,
                created_at_ms: r.get(3)?,
                updated_at_ms: r.get(4)?,
            })
        })
        .map_err(StorageError::sql("load rooms"))?;
    rows.collect::<Result<Vec<_>, _>>()
        .map_err(StorageError::sql("load rooms"))
}

/// Delete one snapshot; true if it existed.
pub fn delete(conn: &Connection, id: &str) -> Result<bool, StorageError> {
    conn.prepare_cached("DELETE FROM rooms WHERE id = ?1")
        .and_then(|mut st| st.execute([id]))
        .map(|n| n > 0)
        .map_err(StorageError::sql("delete room"))
}

/// Delete snapshots last updated before `cutoff_ms`; returns how many.
pub fn sweep(conn: &Connection, cutoff_ms: i64) -> Result<usize, StorageError> {
    conn.prepare_cached("DELETE FROM rooms WHERE updated_at < ?1")
        .and_then(|mut st| st.execute([cutoff_ms]))
        .map_err(StorageError::sql("sweep rooms"))
}
