//! SQL of accounts: create (registered or guest) and look up by username.
//! Runs only on the persistence thread, inside its current transaction.

use rusqlite::{params, Connection, OptionalExtension};

use crate::error::StorageError;
use crate::model::{Account, Credentials};

/// The case-insensitive uniqueness key of a username.
pub fn username_key(username: &str) -> String {
    username.to_ascii_lowercase()
}

fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(
        e,
        rusqlite::Error::SqliteFailure(f, _)
            if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
    )
}

/// Insert an account. `UsernameTaken` if the key exists.
pub fn create(
    conn: &Connection,
    username: &str,
    password_hash: Option<&str>,
    guest: bool,
    now_ms: i64,
) -> Result<Account, StorageError> {
    let mut st = conn
        .prepare_cached(
            "INSERT INTO accounts (username, username_key, password_hash, guest, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )
        .map_err(StorageError::sql("prepare create account"))?;
    match st.execute(params![
        username,
        username_key(username),
        password_hash,
        guest,
        now_ms
    ]) {
        Ok(_) => Ok(Account {
            id: conn.last_insert_rowid(),
            username: username.to_string(),
            guest,
            created_at_ms: now_ms,
        }),
        Err(e) if is_unique_violation(&e) => Err(StorageError::UsernameTaken),
        Err(source) => Err(StorageError::Sql {
            op: "create account",
            source,
        }),
    }
}

/// Find an account by username (case-insensitive).
pub fn find(conn: &Connection, username: &str) -> Result<Option<Credentials>, StorageError> {
    let mut st = conn
        .prepare_cached(
            "SELECT id, username, password_hash, guest, created_at
             FROM accounts WHERE username_key = ?1",
        )
        .map_err(StorageError::sql("prepare find account"))?;
    st.query_row([username_key(username)], |r| {
        Ok(Credentials {
            account: Account {
                id: r.get(0)?,
                username: r.get(1)?,
                guest: r.get(3)?,
                created_at_ms: r.get(4)?,
            },
            password_hash: r.get(2)?,
        })
    })
    .optional()
    .map_err(StorageError::sql("find account"))
}
