//! SQL of scores and leaderboards: append a score, keep per-player bests
//! (all-time and per UTC day), read the top of a board and a player's rank.
//! Runs only on the persistence thread. Written once over [`Db`] (so ranks
//! come from the same SQL on SQLite and PostgreSQL); the public functions
//! taking a `rusqlite::Connection` are the SQLite entry points kept for callers.

use rusqlite::Connection;

use crate::day_of;
use crate::error::StorageError;
use crate::model::{BoardEntry, Period, ScoreAck, Standing};
use crate::sql::{Arg, Db, Q};
use crate::sqlite::Lite;

const INSERT: Q = Q::both(
    "insert score",
    "INSERT INTO scores (user_id, game, score, created_at) VALUES (?1, ?2, ?3, ?4) RETURNING id",
);
const BEST_ALLTIME: Q = Q::both(
    "update all-time best",
    "INSERT INTO best_alltime (game, user_id, score, at) VALUES (?1, ?2, ?3, ?4)
     ON CONFLICT (game, user_id) DO UPDATE SET score = excluded.score, at = excluded.at
     WHERE excluded.score > best_alltime.score",
);
const BEST_DAILY: Q = Q::both(
    "update daily best",
    "INSERT INTO best_daily (game, day, user_id, score, at) VALUES (?1, ?2, ?3, ?4, ?5)
     ON CONFLICT (game, day, user_id) DO UPDATE SET score = excluded.score, at = excluded.at
     WHERE excluded.score > best_daily.score",
);
/// PostgreSQL: the three statements of a score write as one (one round trip). Arguments:
/// user_id, game, score, now, day. Answers the score's id and 1 when the all-time best improved.
const ADD_PG: Q = Q::both(
    "insert score",
    "WITH ins AS (
        INSERT INTO scores (user_id, game, score, created_at) VALUES ($1, $2, $3, $4) RETURNING id
     ), best AS (
        INSERT INTO best_alltime (game, user_id, score, at) VALUES ($2, $1, $3, $4)
        ON CONFLICT (game, user_id) DO UPDATE SET score = excluded.score, at = excluded.at
        WHERE excluded.score > best_alltime.score
        RETURNING 1
     ), daily AS (
        INSERT INTO best_daily (game, day, user_id, score, at) VALUES ($2, $5, $1, $3, $4)
        ON CONFLICT (game, day, user_id) DO UPDATE SET score = excluded.score, at = excluded.at
        WHERE excluded.score > best_daily.score
        RETURNING 1
     )
     SELECT (SELECT id FROM ins), (SELECT count(*) FROM best)",
);
/// PostgreSQL: a run of score writes in one call of `roomcore_add_scores` (migration 6).
/// Arguments: user ids, games, scores (arrays, one element per write), now, day. One row per
/// write, in order: the score's id and whether the all-time best improved, or the SQLSTATE and
/// message it failed with.
const ADD_MANY_PG: Q = Q::both(
    "insert scores",
    "SELECT score_id, improved, failed, detail FROM roomcore_add_scores($1, $2, $3, $4, $5)",
);
const GAMES: Q = Q::both(
    "list games",
    "SELECT DISTINCT game FROM best_alltime ORDER BY game LIMIT ?1",
);
/// Arguments: game, limit.
const TOP_ALLTIME: Q = Q::both(
    "leaderboard",
    "SELECT b.user_id, a.username, b.score, b.at FROM best_alltime b
     JOIN accounts a ON a.id = b.user_id
     WHERE b.game = ?1
     ORDER BY b.score DESC, b.at, b.user_id LIMIT ?2",
);
/// Arguments: game, day, limit.
const TOP_DAILY: Q = Q::both(
    "daily leaderboard",
    "SELECT b.user_id, a.username, b.score, b.at FROM best_daily b
     JOIN accounts a ON a.id = b.user_id
     WHERE b.game = ?1 AND b.day = ?2
     ORDER BY b.score DESC, b.at, b.user_id LIMIT ?3",
);
/// Arguments: game, user.
const STANDING_ALLTIME: Q = Q::both(
    "standing",
    "SELECT b.score, b.at, 1 + (SELECT COUNT(*) FROM best_alltime o
        WHERE o.game = b.game AND (o.score > b.score OR (o.score = b.score
          AND (o.at < b.at OR (o.at = b.at AND o.user_id < b.user_id)))))
     FROM best_alltime b WHERE b.game = ?1 AND b.user_id = ?2",
);
/// Arguments: game, user, day.
const STANDING_DAILY: Q = Q::both(
    "daily standing",
    "SELECT b.score, b.at, 1 + (SELECT COUNT(*) FROM best_daily o
        WHERE o.game = b.game AND o.day = b.day AND (o.score > b.score OR (o.score = b.score
          AND (o.at < b.at OR (o.at = b.at AND o.user_id < b.user_id)))))
     FROM best_daily b WHERE b.game = ?1 AND b.user_id = ?2 AND b.day = ?3",
);

/// Append a score and raise the player's bests. Returns the acknowledgement.
pub fn add(
    conn: &Connection,
    user_id: i64,
    game: &str,
    score: i64,
    now_ms: i64,
) -> Result<ScoreAck, StorageError> {
    add_in(&mut Lite(conn), user_id, game, score, now_ms)
}

/// Games that have at least one score, up to `limit`.
pub fn games(conn: &Connection, limit: usize) -> Result<Vec<String>, StorageError> {
    games_in(&mut Lite(conn), limit)
}

/// The best `limit` players of a board (`day` is used for daily boards).
pub fn top(
    conn: &Connection,
    game: &str,
    period: Period,
    day: i64,
    limit: usize,
) -> Result<Vec<BoardEntry>, StorageError> {
    top_in(&mut Lite(conn), game, period, day, limit)
}

/// A player's best and rank on a board, if they have a score there.
pub fn standing(
    conn: &Connection,
    user_id: i64,
    game: &str,
    period: Period,
    day: i64,
) -> Result<Option<Standing>, StorageError> {
    standing_in(&mut Lite(conn), user_id, game, period, day)
}

pub(crate) fn add_in<D: Db + ?Sized>(
    db: &mut D,
    user_id: i64,
    game: &str,
    score: i64,
    now_ms: i64,
) -> Result<ScoreAck, StorageError> {
    if db.postgres() {
        return add_pg(db, user_id, game, score, now_ms);
    }
    let row = db
        .query_opt(
            &INSERT,
            &[
                Arg::Int(user_id),
                Arg::Text(game),
                Arg::Int(score),
                Arg::Int(now_ms),
            ],
        )
        .map_err(|e| {
            if e.is_foreign_key_violation() {
                StorageError::UnknownAccount
            } else {
                e.into_storage(INSERT.op)
            }
        })?;
    let id = match row {
        Some(r) => r.int(0)?,
        None => {
            return Err(StorageError::Decode {
                op: INSERT.op,
                column: 0,
                expected: "a returned id",
            })
        }
    };
    let improved = db
        .execute(
            &BEST_ALLTIME,
            &[
                Arg::Text(game),
                Arg::Int(user_id),
                Arg::Int(score),
                Arg::Int(now_ms),
            ],
        )
        .map_err(|e| e.into_storage(BEST_ALLTIME.op))?;
    db.execute(
        &BEST_DAILY,
        &[
            Arg::Text(game),
            Arg::Int(day_of(now_ms)),
            Arg::Int(user_id),
            Arg::Int(score),
            Arg::Int(now_ms),
        ],
    )
    .map_err(|e| e.into_storage(BEST_DAILY.op))?;
    Ok(ScoreAck {
        id,
        game: game.to_string(),
        score,
        at_ms: now_ms,
        personal_best: improved > 0,
    })
}

fn add_pg<D: Db + ?Sized>(
    db: &mut D,
    user_id: i64,
    game: &str,
    score: i64,
    now_ms: i64,
) -> Result<ScoreAck, StorageError> {
    let args = [
        Arg::Int(user_id),
        Arg::Text(game),
        Arg::Int(score),
        Arg::Int(now_ms),
        Arg::Int(day_of(now_ms)),
    ];
    let row = db.query_opt(&ADD_PG, &args).map_err(|e| {
        if e.is_foreign_key_violation() {
            StorageError::UnknownAccount
        } else {
            e.into_storage(ADD_PG.op)
        }
    })?;
    let Some(r) = row else {
        return Err(StorageError::Decode {
            op: ADD_PG.op,
            column: 0,
            expected: "a returned id",
        });
    };
    Ok(ScoreAck {
        id: r.int(0)?,
        game: game.to_string(),
        score,
        at_ms: now_ms,
        personal_best: r.int(1)? > 0,
    })
}

/// One score write of a run ([`add_many_in`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct NewScore<'a> {
    pub user_id: i64,
    pub game: &'a str,
    pub score: i64,
}

/// Several score writes of one round, in order, each all or nothing on its own (one failing
/// leaves the others). On PostgreSQL they are ONE round trip: a call of `roomcore_add_scores`,
/// whose per-write `EXCEPTION` block is the command's savepoint. A write that failed with a
/// state other than an unknown account or a transient conflict is run again alone, so its
/// error is the driver's own; so is every write when the call itself failed. On SQLite each
/// write has its own savepoint (it costs no round trip there).
pub(crate) fn add_many_in<D: Db + ?Sized>(
    db: &mut D,
    writes: &[NewScore<'_>],
    now_ms: i64,
) -> Vec<Result<ScoreAck, StorageError>> {
    let alone = |db: &mut D, w: &NewScore<'_>| {
        crate::sql::atomically(db, |d| add_in(d, w.user_id, w.game, w.score, now_ms))
    };
    if !db.postgres() || writes.len() < 2 {
        return writes.iter().map(|w| alone(db, w)).collect();
    }
    let users: Vec<i64> = writes.iter().map(|w| w.user_id).collect();
    let games: Vec<&str> = writes.iter().map(|w| w.game).collect();
    let points: Vec<i64> = writes.iter().map(|w| w.score).collect();
    let args = [
        Arg::Ints(&users),
        Arg::Texts(&games),
        Arg::Ints(&points),
        Arg::Int(now_ms),
        Arg::Int(day_of(now_ms)),
    ];
    let rows = crate::sql::atomically(db, |d| {
        d.query(&ADD_MANY_PG, &args)
            .map_err(|e| e.into_storage(ADD_MANY_PG.op))
    });
    let rows = match rows {
        Ok(rows) if rows.len() == writes.len() => rows,
        // The call failed as a whole (or answered the wrong number of rows): one at a time.
        _ => return writes.iter().map(|w| alone(db, w)).collect(),
    };
    writes
        .iter()
        .zip(rows)
        .map(|(w, r)| {
            let ack = |id: i64, improved: bool| ScoreAck {
                id,
                game: w.game.to_string(),
                score: w.score,
                at_ms: now_ms,
                personal_best: improved,
            };
            match r.opt_text(2)? {
                None => Ok(ack(r.int(0)?, r.bool(1)?)),
                Some(state) => match state.as_str() {
                    "23503" => Err(StorageError::UnknownAccount),
                    // deadlock_detected, serialization_failure, lock_not_available
                    "40P01" | "40001" | "55P03" => Err(StorageError::Retry {
                        reason: format!("{}: {}", ADD_MANY_PG.op, r.opt_text(3)?.unwrap_or(state)),
                    }),
                    _ => alone(db, w),
                },
            }
        })
        .collect()
}

pub(crate) fn games_in<D: Db + ?Sized>(
    db: &mut D,
    limit: usize,
) -> Result<Vec<String>, StorageError> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    db.query(&GAMES, &[Arg::Int(limit)])
        .map_err(|e| e.into_storage(GAMES.op))?
        .iter()
        .map(|r| r.text(0))
        .collect()
}

pub(crate) fn top_in<D: Db + ?Sized>(
    db: &mut D,
    game: &str,
    period: Period,
    day: i64,
    limit: usize,
) -> Result<Vec<BoardEntry>, StorageError> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = match period {
        Period::AllTime => db.query(&TOP_ALLTIME, &[Arg::Text(game), Arg::Int(limit)]),
        Period::Daily => db.query(
            &TOP_DAILY,
            &[Arg::Text(game), Arg::Int(day), Arg::Int(limit)],
        ),
    }
    .map_err(|e| e.into_storage(TOP_ALLTIME.op))?;
    rows.iter()
        .enumerate()
        .map(|(i, r)| {
            Ok(BoardEntry {
                rank: i as u32 + 1,
                user_id: r.int(0)?,
                player: r.text(1)?,
                score: r.int(2)?,
                at_ms: r.int(3)?,
            })
        })
        .collect()
}

pub(crate) fn standing_in<D: Db + ?Sized>(
    db: &mut D,
    user_id: i64,
    game: &str,
    period: Period,
    day: i64,
) -> Result<Option<Standing>, StorageError> {
    let row = match period {
        Period::AllTime => db.query_opt(&STANDING_ALLTIME, &[Arg::Text(game), Arg::Int(user_id)]),
        Period::Daily => db.query_opt(
            &STANDING_DAILY,
            &[Arg::Text(game), Arg::Int(user_id), Arg::Int(day)],
        ),
    }
    .map_err(|e| e.into_storage(STANDING_ALLTIME.op))?;
    row.map(|r| {
        Ok(Standing {
            score: r.int(0)?,
            at_ms: r.int(1)?,
            rank: r.int(2)? as u64,
        })
    })
    .transpose()
}
