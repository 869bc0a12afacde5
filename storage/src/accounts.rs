//! SQL of accounts: create (registered or guest) and look up by username.
//! Runs only on the persistence thread, inside its current transaction. The
//! logic is written once over [`Db`]; the public functions taking a
//! `rusqlite::Connection` are the SQLite entry points kept for callers.

use rusqlite::Connection;

use crate::error::StorageError;
use crate::model::{Account, Credentials};
use crate::sql::{Arg, Db, Q};
use crate::sqlite::Lite;

const CREATE: Q = Q::both(
    "create account",
    "INSERT INTO accounts (username, username_key, password_hash, guest, created_at)
     VALUES (?1, ?2, ?3, ?4, ?5) RETURNING id",
);

const FIND: Q = Q::both(
    "find account",
    "SELECT id, username, password_hash, guest, created_at
     FROM accounts WHERE username_key = ?1",
);

/// The case-insensitive uniqueness key of a username.
pub fn username_key(username: &str) -> String {
    username.to_ascii_lowercase()
}

/// Insert an account. `UsernameTaken` if the key exists.
pub fn create(
    conn: &Connection,
    username: &str,
    password_hash: Option<&str>,
    guest: bool,
    now_ms: i64,
) -> Result<Account, StorageError> {
    create_in(&mut Lite(conn), username, password_hash, guest, now_ms)
}

/// Find an account by username (case-insensitive).
pub fn find(conn: &Connection, username: &str) -> Result<Option<Credentials>, StorageError> {
    find_in(&mut Lite(conn), username)
}

pub(crate) fn create_in<D: Db + ?Sized>(
    db: &mut D,
    username: &str,
    password_hash: Option<&str>,
    guest: bool,
    now_ms: i64,
) -> Result<Account, StorageError> {
    let key = username_key(username);
    let args = [
        Arg::Text(username),
        Arg::Text(&key),
        Arg::OptText(password_hash),
        Arg::Bool(guest),
        Arg::Int(now_ms),
    ];
    match db.query_opt(&CREATE, &args) {
        Ok(Some(row)) => Ok(Account {
            id: row.int(0)?,
            username: username.to_string(),
            guest,
            created_at_ms: now_ms,
        }),
        Ok(None) => Err(StorageError::Decode {
            op: CREATE.op,
            column: 0,
            expected: "a returned id",
        }),
        Err(e) if e.is_unique_violation() => Err(StorageError::UsernameTaken),
        Err(e) => Err(e.into_storage(CREATE.op)),
    }
}

pub(crate) fn find_in<D: Db + ?Sized>(
    db: &mut D,
    username: &str,
) -> Result<Option<Credentials>, StorageError> {
    let key = username_key(username);
    let Some(r) = db
        .query_opt(&FIND, &[Arg::Text(&key)])
        .map_err(|e| e.into_storage(FIND.op))?
    else {
        return Ok(None);
    };
    Ok(Some(Credentials {
        account: Account {
            id: r.int(0)?,
            username: r.text(1)?,
            guest: r.bool(3)?,
            created_at_ms: r.int(4)?,
        },
        password_hash: r.opt_text(2)?,
    }))
}
