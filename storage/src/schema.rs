//! Versioned schema migrations, tracked in `PRAGMA user_version`.
//!
//! Migration `n` (1-based) takes a database at version `n - 1` to `n` inside
//! one transaction, so a crash mid-migration leaves the previous version.
//! Never edit a shipped migration: append a new one.

use rusqlite::Connection;

use crate::error::StorageError;

/// Every migration, in order; index + 1 is the version it produces.
const MIGRATIONS: &[&str] = &[
    // 1: accounts and the raw score log.
    "CREATE TABLE accounts (
        id INTEGER PRIMARY KEY,
        username TEXT NOT NULL,
        username_key TEXT NOT NULL UNIQUE,
        password_hash TEXT,
        guest INTEGER NOT NULL DEFAULT 0,
        created_at INTEGER NOT NULL
    );
    CREATE TABLE scores (
        id INTEGER PRIMARY KEY,
        user_id INTEGER NOT NULL REFERENCES accounts(id),
        game TEXT NOT NULL,
        score INTEGER NOT NULL,
        created_at INTEGER NOT NULL
    );
    CREATE INDEX scores_user_game ON scores(user_id, game);",
    // 2: per-player bests (all-time and per UTC day), backfilled from the log.
    "CREATE TABLE best_alltime (
        game TEXT NOT NULL,
        user_id INTEGER NOT NULL,
        score INTEGER NOT NULL,
        at INTEGER NOT NULL,
        PRIMARY KEY (game, user_id)
    ) WITHOUT ROWID;
    CREATE INDEX best_alltime_rank ON best_alltime(game, score DESC, at, user_id);
    CREATE TABLE best_daily (
        game TEXT NOT NULL,
        day INTEGER NOT NULL,
        user_id INTEGER NOT NULL,
        score INTEGER NOT NULL,
        at INTEGER NOT NULL,
        PRIMARY KEY (game, day, user_id)
    ) WITHOUT ROWID;
    CREATE INDEX best_daily_rank ON best_daily(game, day, score DESC, at, user_id);
    INSERT INTO best_alltime (game, user_id, score, at)
        SELECT game, user_id, MAX(score), created_at FROM scores GROUP BY game, user_id;
    INSERT INTO best_daily (game, day, user_id, score, at)
        SELECT game, created_at / 86400000, user_id, MAX(score), created_at
        FROM scores GROUP BY game, created_at / 86400000, user_id;",
    // 3: durable room snapshots.
    "CREATE TABLE rooms (
        id TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        state BLOB NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
    );
    CREATE INDEX rooms_updated_at ON rooms(updated_at);",
    // 4: finished games (PGN) and per-mode ratings.
    "CREATE TABLE games (
        id TEXT PRIMARY KEY,
        mode TEXT NOT NULL,
        white_id INTEGER NOT NULL REFERENCES accounts(id),
        white_name TEXT NOT NULL,
        black_id INTEGER NOT NULL REFERENCES accounts(id),
        black_name TEXT NOT NULL,
        result TEXT NOT NULL,
        reason TEXT NOT NULL,
        pgn TEXT NOT NULL,
        moves INTEGER NOT NULL,
        started_at INTEGER NOT NULL,
        ended_at INTEGER NOT NULL,
        white_before INTEGER NOT NULL,
        white_after INTEGER NOT NULL,
        black_before INTEGER NOT NULL,
        black_after INTEGER NOT NULL
    );
    CREATE INDEX games_white ON games(white_id, ended_at);
    CREATE INDEX games_black ON games(black_id, ended_at);
    CREATE TABLE ratings (
        user_id INTEGER NOT NULL REFERENCES accounts(id),
        mode TEXT NOT NULL,
        rating INTEGER NOT NULL,
        games INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        PRIMARY KEY (user_id, mode)
    ) WITHOUT ROWID;",
];

/// The schema version this build writes.
pub const VERSION: u32 = MIGRATIONS.len() as u32;

/// The database's current version.
pub fn version(conn: &Connection) -> Result<u32, StorageError> {
    conn.query_row("PRAGMA user_version", [], |r| r.get::<_, u32>(0))
        .map_err(StorageError::sql("read user_version"))
}

/// Apply every migration the database lacks. Returns the version before.
pub fn migrate(conn: &mut Connection) -> Result<u32, StorageError> {
    migrate_to(conn, VERSION)
}

/// Apply migrations up to `target` (tests build old databases with this).
pub fn migrate_to(conn: &mut Connection, target: u32) -> Result<u32, StorageError> {
    let found = version(conn)?;
    if found > VERSION {
        return Err(StorageError::TooNew {
            found,
            known: VERSION,
        });
    }
    for v in (found + 1)..=target.min(VERSION) {
        let sql = MIGRATIONS[(v - 1) as usize];
        let step = |conn: &mut Connection| -> rusqlite::Result<()> {
            let tx = conn.transaction()?;
            tx.execute_batch(sql)?;
            tx.pragma_update(None, "user_version", v)?;
            tx.commit()
        };
        step(conn).map_err(|source| StorageError::Migrate { version: v, source })?;
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_database_reaches_the_latest_version() {
        let mut c = Connection::open_in_memory().unwrap();
        assert_eq!(migrate(&mut c).unwrap(), 0);
        assert_eq!(version(&c).unwrap(), VERSION);
        // Idempotent.
        assert_eq!(migrate(&mut c).unwrap(), VERSION);
    }

    #[test]
    fn version_one_upgrades_in_place_and_backfills_bests() {
        let mut c = Connection::open_in_memory().unwrap();
        migrate_to(&mut c, 1).unwrap();
        assert_eq!(version(&c).unwrap(), 1);
        c.execute_batch(
            "INSERT INTO accounts VALUES (1, 'ann', 'ann', NULL, 1, 0);
             INSERT INTO accounts VALUES (2, 'bob', 'bob', NULL, 1, 0);
             INSERT INTO scores (user_id, game, score, created_at) VALUES
                (1, 'g', 10, 1000), (1, 'g', 30, 2000), (2, 'g', 20, 3000),
                (1, 'g', 5, 86400000 + 10);",
        )
        .unwrap();
        assert_eq!(migrate(&mut c).unwrap(), 1);
        assert_eq!(version(&c).unwrap(), VERSION);
        let best: Vec<(i64, i64)> = c
            .prepare("SELECT user_id, score FROM best_alltime WHERE game='g' ORDER BY score DESC")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(best, vec![(1, 30), (2, 20)]);
        let day1: i64 = c
            .query_row(
                "SELECT score FROM best_daily WHERE game='g' AND day=1 AND user_id=1",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(day1, 5);
        // The score log survived untouched.
        let n: i64 = c
            .query_row("SELECT COUNT(*) FROM scores", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 4);
    }

    #[test]
    fn newer_database_is_refused() {
        let mut c = Connection::open_in_memory().unwrap();
        c.pragma_update(None, "user_version", VERSION + 1).unwrap();
        assert!(matches!(migrate(&mut c), Err(StorageError::TooNew { .. })));
    }
}
