//! SQL of scores and leaderboards: append a score, keep per-player bests
//! (all-time and per UTC day), read the top of a board and a player's rank.
//! Runs only on the persistence thread.

use rusqlite::{params, Connection, OptionalExtension};

use crate::day_of;
use crate::error::StorageError;
use crate::model::{BoardEntry, Period, ScoreAck, Standing};

/// Append a score and raise the player's bests. Returns the acknowledgement.
pub fn add(
    conn: &Connection,
    user_id: i64,
    game: &str,
    score: i64,
    now_ms: i64,
) -> Result<ScoreAck, StorageError> {
    conn.prepare_cached(
        "INSERT INTO scores (user_id, game, score, created_at) VALUES (?1, ?2, ?3, ?4)",
    )
    .and_then(|mut st| st.execute(params![user_id, game, score, now_ms]))
    .map_err(|e| match &e {
        rusqlite::Error::SqliteFailure(f, _)
            if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY =>
        {
            StorageError::UnknownAccount
        }
        _ => StorageError::Sql {
            op: "insert score",
            source: e,
        },
    })?;
    let id = conn.last_insert_rowid();
    let improved = conn
        .prepare_cached(
            "INSERT INTO best_alltime (game, user_id, score, at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (game, user_id) DO UPDATE SET score = excluded.score, at = excluded.at
             WHERE excluded.score > best_alltime.score",
        )
        .and_then(|mut st| st.execute(params![game, user_id, score, now_ms]))
        .map_err(StorageError::sql("update all-time best"))?;
    conn.prepare_cached(
        "INSERT INTO best_daily (game, day, user_id, score, at) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (game, day, user_id) DO UPDATE SET score = excluded.score, at = excluded.at
         WHERE excluded.score > best_daily.score",
    )
    .and_then(|mut st| st.execute(params![game, day_of(now_ms), user_id, score, now_ms]))
    .map_err(StorageError::sql("update daily best"))?;
    Ok(ScoreAck {
        id,
        game: game.to_string(),
        score,
        at_ms: now_ms,
        personal_best: improved > 0,
    })
}

/// Games that have at least one score, up to `limit`.
pub fn games(conn: &Connection, limit: usize) -> Result<Vec<String>, StorageError> {
    let mut st = conn
        .prepare_cached("SELECT DISTINCT game FROM best_alltime ORDER BY game LIMIT ?1")
        .map_err(StorageError::sql("prepare list games"))?;
    let rows = st
        .query_map([limit as i64], |r| r.get(0))
        .map_err(StorageError::sql("list games"))?;
    rows.collect::<Result<Vec<String>, _>>()
        .map_err(StorageError::sql("list games"))
}

/// The best `limit` players of a board (`day` is used for daily boards).
pub fn top(
    conn: &Connection,
    game: &str,
    period: Period,
    day: i64,
    limit: usize,
) -> Result<Vec<BoardEntry>, StorageError> {
    let sql = match period {
        Period::AllTime => {
            "SELECT b.user_id, a.username, b.score, b.at FROM best_alltime b
             JOIN accounts a ON a.id = b.user_id
             WHERE b.game = ?1 AND ?2 = ?2
             ORDER BY b.score DESC, b.at, b.user_id LIMIT ?3"
        }
        Period::Daily => {
            "SELECT b.user_id, a.username, b.score, b.at FROM best_daily b
             JOIN accounts a ON a.id = b.user_id
             WHERE b.game = ?1 AND b.day = ?2
             ORDER BY b.score DESC, b.at, b.user_id LIMIT ?3"
        }
    };
    let mut st = conn
        .prepare_cached(sql)
        .map_err(StorageError::sql("prepare leaderboard"))?;
    let rows = st
        .query_map(params![game, day, limit as i64], |r| {
            Ok(BoardEntry {
                rank: 0,
                user_id: r.get(0)?,
                player: r.get(1)?,
                score: r.get(2)?,
                at_ms: r.get(3)?,
            })
        })
        .map_err(StorageError::sql("leaderboard"))?;
    let mut out = rows
        .collect::<Result<Vec<_>, _>>()
        .map_err(StorageError::sql("leaderboard"))?;
    for (i, e) in out.iter_mut().enumerate() {
        e.rank = i as u32 + 1;
    }
    Ok(out)
}

/// A player's best and rank on a board, if they have a score there.
pub fn standing(
    conn: &Connection,
    user_id: i64,
    game: &str,
    period: Period,
    day: i64,
) -> Result<Option<Standing>, StorageError> {
    let sql = match period {
        Period::AllTime => {
            "SELECT b.score, b.at, 1 + (SELECT COUNT(*) FROM best_alltime o
                WHERE o.game = b.game AND (o.score > b.score OR (o.score = b.score
                  AND (o.at < b.at OR (o.at = b.at AND o.user_id < b.user_id)))))
             FROM best_alltime b WHERE b.game = ?1 AND b.user_id = ?2 AND ?3 = ?3"
        }
        Period::Daily => {
            "SELECT b.score, b.at, 1 + (SELECT COUNT(*) FROM best_daily o
                WHERE o.game = b.game AND o.day = b.day AND (o.score > b.score OR (o.score = b.score
                  AND (o.at < b.at OR (o.at = b.at AND o.user_id < b.user_id)))))
             FROM best_daily b WHERE b.game = ?1 AND b.user_id = ?2 AND b.day = ?3"
        }
    };
    let mut st = conn
        .prepare_cached(sql)
        .map_err(StorageError::sql("prepare standing"))?;
    st.query_row(params![game, user_id, day], |r| {
        Ok(Standing {
            score: r.get(0)?,
            at_ms: r.get(1)?,
            rank: r.get::<_, i64>(2)? as u64,
        })
    })
    .optional()
    .map_err(StorageError::sql("standing"))
}
