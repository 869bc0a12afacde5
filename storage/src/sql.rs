//! The one SQL interface both engines implement, so every domain's logic is
//! written once and only its statement texts differ.
//!
//! A [`Q`] holds one statement for both dialects side by side: written once
//! in SQLite syntax with `?N` parameters (PostgreSQL gets the same text with
//! `$N`), or as two texts where the dialects really differ. [`Arg`] binds to
//! both drivers, [`Row`] holds a result row decoded the same way from both,
//! and [`Db`] is what the persistence loop and the domain modules call.
//! Implemented by `sqlite::Lite` and `pg::conn::PgDb`.

use std::collections::BTreeSet;
use std::error::Error as StdError;

use bytes::BytesMut;
use postgres::types::{IsNull, ToSql as PgToSql, Type};
use rusqlite::types::{ToSqlOutput, ValueRef};

use crate::error::StorageError;

/// One statement in both dialects.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Q {
    /// What the statement does (error context).
    pub op: &'static str,
    /// SQLite text, `?N` parameters.
    pub sqlite: &'static str,
    /// PostgreSQL text (`$N` parameters); `None`: the SQLite text with `?N`
    /// rewritten to `$N`.
    pub postgres: Option<&'static str>,
}

impl Q {
    /// A statement whose text is the same in both dialects.
    pub(crate) const fn both(op: &'static str, sql: &'static str) -> Q {
        Q {
            op,
            sqlite: sql,
            postgres: None,
        }
    }

    /// A statement with a text per dialect.
    pub(crate) const fn split(op: &'static str, sqlite: &'static str, postgres: &'static str) -> Q {
        Q {
            op,
            sqlite,
            postgres: Some(postgres),
        }
    }

    /// The PostgreSQL text.
    pub(crate) fn postgres_text(&self) -> String {
        match self.postgres {
            Some(t) => t.to_string(),
            None => dollar_params(self.sqlite),
        }
    }
}

/// `?N` → `$N` (our statements use `?` only for parameters).
fn dollar_params(sql: &str) -> String {
    sql.replace('?', "$")
}

/// One bound parameter, for either driver.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Arg<'a> {
    Int(i64),
    Text(&'a str),
    OptText(Option<&'a str>),
    Blob(&'a [u8]),
    Bool(bool),
    /// PostgreSQL only: a `BIGINT[]`.
    Ints(&'a [i64]),
    /// PostgreSQL only: a `TEXT[]`.
    Texts(&'a [&'a str]),
}

impl rusqlite::ToSql for Arg<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match *self {
            Arg::Int(v) => ToSqlOutput::from(v),
            Arg::Text(s) | Arg::OptText(Some(s)) => ToSqlOutput::from(s),
            Arg::OptText(None) => ToSqlOutput::from(rusqlite::types::Null),
            Arg::Blob(b) => ToSqlOutput::from(b),
            Arg::Bool(b) => ToSqlOutput::from(b),
            Arg::Ints(_) | Arg::Texts(_) => {
                return Err(rusqlite::Error::ToSqlConversionFailure(
                    "SQLite has no array parameters".into(),
                ))
            }
        })
    }
}

type PgResult = Result<IsNull, Box<dyn StdError + Sync + Send>>;

impl PgToSql for Arg<'_> {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> PgResult {
        match *self {
            Arg::Int(v) => v.to_sql(ty, out),
            Arg::Text(s) => s.to_sql(ty, out),
            Arg::OptText(s) => s.to_sql(ty, out),
            Arg::Blob(b) => b.to_sql(ty, out),
            Arg::Bool(b) => b.to_sql(ty, out),
            Arg::Ints(v) => v.to_sql(ty, out),
            Arg::Texts(v) => v.to_sql(ty, out),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    fn to_sql_checked(&self, ty: &Type, out: &mut BytesMut) -> PgResult {
        // Each variant checks the column type against its own Rust type.
        match *self {
            Arg::Int(v) => v.to_sql_checked(ty, out),
            Arg::Text(s) => s.to_sql_checked(ty, out),
            Arg::OptText(s) => s.to_sql_checked(ty, out),
            Arg::Blob(b) => b.to_sql_checked(ty, out),
            Arg::Bool(b) => b.to_sql_checked(ty, out),
            Arg::Ints(v) => v.to_sql_checked(ty, out),
            Arg::Texts(v) => v.to_sql_checked(ty, out),
        }
    }
}

/// One column value of a result row.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Cell {
    Null,
    Int(i64),
    Text(String),
    Blob(Vec<u8>),
    Bool(bool),
}

/// One result row, decoded the same way from both engines.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Row {
    pub op: &'static str,
    pub cells: Vec<Cell>,
}

impl Row {
    fn bad(&self, column: usize, expected: &'static str) -> StorageError {
        StorageError::Decode {
            op: self.op,
            column,
            expected,
        }
    }

    pub(crate) fn int(&self, i: usize) -> Result<i64, StorageError> {
        match self.cells.get(i) {
            Some(Cell::Int(v)) => Ok(*v),
            Some(Cell::Bool(b)) => Ok(i64::from(*b)),
            _ => Err(self.bad(i, "an integer")),
        }
    }

    pub(crate) fn bool(&self, i: usize) -> Result<bool, StorageError> {
        match self.cells.get(i) {
            Some(Cell::Bool(b)) => Ok(*b),
            Some(Cell::Int(v)) => Ok(*v != 0),
            _ => Err(self.bad(i, "a boolean")),
        }
    }

    pub(crate) fn text(&self, i: usize) -> Result<String, StorageError> {
        match self.cells.get(i) {
            Some(Cell::Text(s)) => Ok(s.clone()),
            _ => Err(self.bad(i, "text")),
        }
    }

    pub(crate) fn opt_text(&self, i: usize) -> Result<Option<String>, StorageError> {
        match self.cells.get(i) {
            Some(Cell::Null) => Ok(None),
            Some(Cell::Text(s)) => Ok(Some(s.clone())),
            _ => Err(self.bad(i, "text or NULL")),
        }
    }

    pub(crate) fn blob(&self, i: usize) -> Result<Vec<u8>, StorageError> {
        match self.cells.get(i) {
            Some(Cell::Blob(b)) => Ok(b.clone()),
            Some(Cell::Text(s)) => Ok(s.clone().into_bytes()),
            _ => Err(self.bad(i, "a blob")),
        }
    }

    /// Decode a SQLite row.
    pub(crate) fn from_sqlite(op: &'static str, r: &rusqlite::Row<'_>) -> rusqlite::Result<Row> {
        let n = r.as_ref().column_count();
        let mut cells = Vec::with_capacity(n);
        for i in 0..n {
            cells.push(match r.get_ref(i)? {
                ValueRef::Null => Cell::Null,
                ValueRef::Integer(v) => Cell::Int(v),
                ValueRef::Real(v) => Cell::Int(v as i64),
                ValueRef::Text(t) => Cell::Text(String::from_utf8_lossy(t).into_owned()),
                ValueRef::Blob(b) => Cell::Blob(b.to_vec()),
            });
        }
        Ok(Row { op, cells })
    }

    /// Decode a PostgreSQL row.
    pub(crate) fn from_pg(op: &'static str, r: &postgres::Row) -> Result<Row, StorageError> {
        let mut cells = Vec::with_capacity(r.len());
        for (i, col) in r.columns().iter().enumerate() {
            let ty = col.type_();
            let get_err = |_| StorageError::Decode {
                op,
                column: i,
                expected: "a supported type",
            };
            let cell = if *ty == Type::INT8 {
                r.try_get::<_, Option<i64>>(i).map(|v| v.map(Cell::Int))
            } else if *ty == Type::INT4 {
                r.try_get::<_, Option<i32>>(i)
                    .map(|v| v.map(|v| Cell::Int(v.into())))
            } else if *ty == Type::INT2 {
                r.try_get::<_, Option<i16>>(i)
                    .map(|v| v.map(|v| Cell::Int(v.into())))
            } else if *ty == Type::BOOL {
                r.try_get::<_, Option<bool>>(i).map(|v| v.map(Cell::Bool))
            } else if *ty == Type::BYTEA {
                r.try_get::<_, Option<Vec<u8>>>(i)
                    .map(|v| v.map(Cell::Blob))
            } else {
                r.try_get::<_, Option<String>>(i).map(|v| v.map(Cell::Text))
            };
            cells.push(cell.map_err(get_err)?.unwrap_or(Cell::Null));
        }
        Ok(Row { op, cells })
    }
}

/// A driver error of either engine.
#[derive(Debug)]
pub(crate) enum DbError {
    Sqlite(rusqlite::Error),
    Pg(postgres::Error),
    /// A row did not decode.
    Decode(StorageError),
}

impl DbError {
    /// A UNIQUE or PRIMARY KEY constraint was violated.
    pub(crate) fn is_unique_violation(&self) -> bool {
        match self {
            DbError::Sqlite(rusqlite::Error::SqliteFailure(f, _)) => {
                f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                    || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
            }
            DbError::Pg(e) => e.code() == Some(&postgres::error::SqlState::UNIQUE_VIOLATION),
            _ => false,
        }
    }

    /// The database has no room to grow: SQLite's `SQLITE_FULL` (the disk, or the file-size
    /// limit), PostgreSQL's `disk_full` (53100). Transient for the caller: nothing was kept,
    /// and the same write succeeds once space is freed.
    pub(crate) fn is_out_of_space(&self) -> bool {
        match self {
            DbError::Sqlite(rusqlite::Error::SqliteFailure(f, _)) => {
                f.code == rusqlite::ErrorCode::DiskFull
            }
            DbError::Pg(e) => e.code() == Some(&postgres::error::SqlState::DISK_FULL),
            _ => false,
        }
    }

    /// A FOREIGN KEY constraint was violated.
    pub(crate) fn is_foreign_key_violation(&self) -> bool {
        match self {
            DbError::Sqlite(rusqlite::Error::SqliteFailure(f, _)) => {
                f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY
            }
            DbError::Pg(e) => e.code() == Some(&postgres::error::SqlState::FOREIGN_KEY_VIOLATION),
            _ => false,
        }
    }

    /// The error says the server connection is gone (not the statement's fault).
    pub(crate) fn is_connection_lost(&self) -> bool {
        use postgres::error::SqlState;
        match self {
            DbError::Pg(e) => {
                e.is_closed()
                    || e.source().is_some_and(|s| s.is::<std::io::Error>())
                    || matches!(
                        e.code(),
                        Some(c) if *c == SqlState::ADMIN_SHUTDOWN
                            || *c == SqlState::CRASH_SHUTDOWN
                            || *c == SqlState::CANNOT_CONNECT_NOW
                    )
            }
            _ => false,
        }
    }

    /// A conflict with a concurrent transaction that a retry resolves.
    pub(crate) fn is_transient(&self) -> bool {
        use postgres::error::SqlState;
        match self {
            DbError::Pg(e) => matches!(
                e.code(),
                Some(c) if *c == SqlState::T_R_DEADLOCK_DETECTED
                    || *c == SqlState::T_R_SERIALIZATION_FAILURE
                    || *c == SqlState::LOCK_NOT_AVAILABLE
            ),
            _ => false,
        }
    }

    /// The matching [`StorageError`] (`Unavailable` for a lost connection,
    /// `Retry` for a transient conflict).
    pub(crate) fn into_storage(self, op: &'static str) -> StorageError {
        if self.is_connection_lost() {
            return StorageError::Unavailable {
                reason: format!("{op}: {}", self.message()),
            };
        }
        if self.is_transient() {
            return StorageError::Retry {
                reason: format!("{op}: {}", self.message()),
            };
        }
        if self.is_out_of_space() {
            let reason = format!("{op}: {}", self.message());
            OUT_OF_SPACE.with(|r| *r.borrow_mut() = Some(reason.clone()));
            return StorageError::Unavailable { reason };
        }
        match self {
            DbError::Sqlite(source) => StorageError::Sql { op, source },
            DbError::Pg(source) => StorageError::Postgres { op, source },
            DbError::Decode(e) => e,
        }
    }

    /// The driver's message, with the server's detail when there is one.
    pub(crate) fn message(&self) -> String {
        match self {
            DbError::Sqlite(e) => e.to_string(),
            DbError::Pg(e) => match e.as_db_error() {
                Some(db) => format!("{}: {}", db.severity(), db.message()),
                None => match e.source() {
                    Some(s) => format!("{e}: {s}"),
                    None => e.to_string(),
                },
            },
            DbError::Decode(e) => e.to_string(),
        }
    }
}

impl From<rusqlite::Error> for DbError {
    fn from(e: rusqlite::Error) -> DbError {
        DbError::Sqlite(e)
    }
}

impl From<postgres::Error> for DbError {
    fn from(e: postgres::Error) -> DbError {
        DbError::Pg(e)
    }
}

/// A connection the persistence loop and the domain modules use.
pub(crate) trait Db {
    /// Run a statement; the number of rows it changed.
    fn execute(&mut self, q: &Q, args: &[Arg<'_>]) -> Result<u64, DbError>;
    /// Run a query; every row.
    fn query(&mut self, q: &Q, args: &[Arg<'_>]) -> Result<Vec<Row>, DbError>;
    /// Run a query and hand each row to `f` as it arrives (large reads).
    fn each(
        &mut self,
        q: &Q,
        args: &[Arg<'_>],
        f: &mut dyn FnMut(Row) -> Result<(), StorageError>,
    ) -> Result<(), StorageError>;
    /// Run parameterless statements (transaction control).
    fn batch(&mut self, sql: &str) -> Result<(), DbError>;
    /// Open a write transaction.
    fn begin(&mut self) -> Result<(), DbError>;
    /// Commit the open transaction.
    fn commit(&mut self) -> Result<(), DbError> {
        self.batch("COMMIT")
    }
    /// Abandon the open transaction (after a failure; its own failure changes nothing).
    fn rollback(&mut self) {
        let _ = self.batch("ROLLBACK");
    }
    /// Tell other processes, at COMMIT, that these games' boards changed
    /// (PostgreSQL: NOTIFY inside the open transaction; SQLite: nothing).
    fn announce(&mut self, _games: &BTreeSet<String>) -> Result<(), DbError> {
        Ok(())
    }
    /// Why the connection is gone, once it is (never on SQLite).
    fn lost(&self) -> Option<String> {
        None
    }
    /// Open the savepoint of one command ([`atomically`]).
    fn savepoint(&mut self) -> Result<(), DbError> {
        self.batch("SAVEPOINT cmd")
    }
    /// Keep what the command's savepoint holds (PostgreSQL defers the RELEASE to the next
    /// command's SAVEPOINT or the COMMIT: one round trip fewer per command).
    fn release(&mut self) -> Result<(), DbError> {
        self.batch("RELEASE cmd")
    }
    /// Undo what the command's savepoint holds; the transaction stays usable.
    fn rollback_savepoint(&mut self) {
        let _ = self.batch("ROLLBACK TO cmd; RELEASE cmd");
    }
    /// PostgreSQL: multi-statement writes may run as one statement (data-modifying CTEs).
    fn postgres(&self) -> bool {
        false
    }

    /// The first row, if any.
    fn query_opt(&mut self, q: &Q, args: &[Arg<'_>]) -> Result<Option<Row>, DbError> {
        Ok(self.query(q, args)?.into_iter().next())
    }
}

thread_local! {
    /// The last statement of this thread that failed for lack of space, until the writer takes
    /// it ([`take_out_of_space`]). A statement's error becomes its command's answer deep in the
    /// query modules; this is how the round learns of it and marks storage unhealthy.
    static OUT_OF_SPACE: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

/// Why a statement of this thread last failed for lack of space since the previous call.
pub(crate) fn take_out_of_space() -> Option<String> {
    OUT_OF_SPACE.with(|r| r.borrow_mut().take())
}

/// Run `f` under a savepoint: all of it or none of it. On PostgreSQL this
/// also keeps the transaction usable after a failed statement.
pub(crate) fn atomically<D: Db + ?Sized, T>(
    db: &mut D,
    f: impl FnOnce(&mut D) -> Result<T, StorageError>,
) -> Result<T, StorageError> {
    db.savepoint().map_err(|e| e.into_storage("savepoint"))?;
    match f(db) {
        Ok(v) => {
            db.release()
                .map_err(|e| e.into_storage("release savepoint"))?;
            Ok(v)
        }
        Err(e) => {
            db.rollback_savepoint();
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_text_serves_both_dialects() {
        let q = Q::both("x", "SELECT a FROM t WHERE b = ?1 AND c = ?2");
        assert_eq!(q.postgres_text(), "SELECT a FROM t WHERE b = $1 AND c = $2");
        let q = Q::split("x", "SELECT 1", "SELECT 2");
        assert_eq!(q.postgres_text(), "SELECT 2");
    }
}
