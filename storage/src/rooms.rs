//! SQL of room snapshots: save (upsert keeping `created_at`), load by kind,
//! delete, and sweep rows not updated for a while. Runs only on the
//! persistence thread. Written once over [`Db`]; the public functions taking
//! a `rusqlite::Connection` are the SQLite entry points kept for callers.

use rusqlite::Connection;

use crate::error::StorageError;
use crate::model::RoomRow;
use crate::sql::{Arg, Db, Q};
use crate::sqlite::Lite;

const SAVE: Q = Q::both(
    "save room",
    "INSERT INTO rooms (id, kind, state, created_at, updated_at, owner_epoch)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6)
     ON CONFLICT (id) DO UPDATE SET kind = excluded.kind, state = excluded.state,
         updated_at = excluded.updated_at, owner_epoch = excluded.owner_epoch
     WHERE rooms.owner_epoch <= excluded.owner_epoch",
);
const LOAD: Q = Q::both(
    "load rooms",
    "SELECT id, kind, state, created_at, updated_at, owner_epoch FROM rooms WHERE kind = ?1
     ORDER BY id",
);
const DELETE: Q = Q::both("delete room", "DELETE FROM rooms WHERE id = ?1");
const SWEEP: Q = Q::both("sweep rooms", "DELETE FROM rooms WHERE updated_at < ?1");

/// Insert or replace a snapshot; the first `created_at` is kept. A row saved last by a newer
/// owner (higher `epoch`) is not replaced: [`StorageError::Fenced`].
pub fn save(conn: &Connection, row: &RoomRow) -> Result<(), StorageError> {
    save_in(&mut Lite(conn), row)
}

/// Every snapshot of `kind`.
pub fn load(conn: &Connection, kind: &str) -> Result<Vec<RoomRow>, StorageError> {
    load_in(&mut Lite(conn), kind)
}

/// Delete one snapshot; true if it existed.
pub fn delete(conn: &Connection, id: &str) -> Result<bool, StorageError> {
    delete_in(&mut Lite(conn), id)
}

/// Delete snapshots last updated before `cutoff_ms`; returns how many.
pub fn sweep(conn: &Connection, cutoff_ms: i64) -> Result<usize, StorageError> {
    sweep_in(&mut Lite(conn), cutoff_ms)
}

pub(crate) fn save_in<D: Db + ?Sized>(db: &mut D, row: &RoomRow) -> Result<(), StorageError> {
    let args = [
        Arg::Text(&row.id),
        Arg::Text(&row.kind),
        Arg::Blob(&row.state),
        Arg::Int(row.created_at_ms),
        Arg::Int(row.updated_at_ms),
        Arg::Int(row.epoch),
    ];
    let n = db
        .execute(&SAVE, &args)
        .map_err(|e| e.into_storage(SAVE.op))?;
    if n == 0 {
        return Err(StorageError::Fenced {
            room: row.id.clone(),
        });
    }
    Ok(())
}

pub(crate) fn load_in<D: Db + ?Sized>(
    db: &mut D,
    kind: &str,
) -> Result<Vec<RoomRow>, StorageError> {
    db.query(&LOAD, &[Arg::Text(kind)])
        .map_err(|e| e.into_storage(LOAD.op))?
        .iter()
        .map(|r| {
            Ok(RoomRow {
                id: r.text(0)?,
                kind: r.text(1)?,
                state: r.blob(2)?,
                created_at_ms: r.int(3)?,
                updated_at_ms: r.int(4)?,
                epoch: r.int(5)?,
            })
        })
        .collect()
}

pub(crate) fn delete_in<D: Db + ?Sized>(db: &mut D, id: &str) -> Result<bool, StorageError> {
    db.execute(&DELETE, &[Arg::Text(id)])
        .map(|n| n > 0)
        .map_err(|e| e.into_storage(DELETE.op))
}

pub(crate) fn sweep_in<D: Db + ?Sized>(db: &mut D, cutoff_ms: i64) -> Result<usize, StorageError> {
    db.execute(&SWEEP, &[Arg::Int(cutoff_ms)])
        .map(|n| n as usize)
        .map_err(|e| e.into_storage(SWEEP.op))
}
