//! Finished games and ratings: the SQL of `games` and `ratings`, the typed
//! commands the engine sends for them, and the Elo update. Runs only on the
//! persistence thread (except the [`Storage`] methods, which send commands).
//!
//! Recording a game is idempotent (a retried record of the same id returns
//! the ratings stored the first time). Each player's new rating is also
//! posted as a score of the game's mode, so the mode's leaderboard lists
//! players by their best (peak) rating.

use rusqlite::{params, Connection, OptionalExtension};

use crate::cmd::{Cmd, Reply};
use crate::error::StorageError;
use crate::handle::Storage;
use crate::scores;

/// Rating of a player with no rated game yet.
pub const INITIAL_RATING: i64 = 1200;
/// Elo K-factor.
pub const K: f64 = 32.0;

/// A finished game, as the engine hands it over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GameRecord {
    pub id: String,
    pub mode: String,
    pub white_id: i64,
    pub white_name: String,
    pub black_id: i64,
    pub black_name: String,
    /// `1-0`, `0-1` or `1/2-1/2`.
    pub result: String,
    pub reason: String,
    pub pgn: String,
    pub moves: u32,
    pub started_at_ms: i64,
    pub ended_at_ms: i64,
}

/// Ratings before and after a recorded game.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rated {
    pub white_before: i64,
    pub white_after: i64,
    pub black_before: i64,
    pub black_after: i64,
}

/// A stored game with its rating changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredGame {
    pub record: GameRecord,
    pub rated: Rated,
}

/// Commands of this module (inside `Cmd::Games`).
pub(crate) enum GamesCmd {
    Record {
        rec: Box<GameRecord>,
        reply: Reply<Rated>,
    },
    Get {
        id: String,
        reply: Reply<Option<StoredGame>>,
    },
    Rating {
        user_id: i64,
        mode: String,
        reply: Reply<i64>,
    },
}

/// New ratings of (white, black) after `result`.
pub fn elo(white: i64, black: i64, result: &str) -> (i64, i64) {
    let sw = match result {
        "1-0" => 1.0,
        "0-1" => 0.0,
        _ => 0.5,
    };
    let ew = 1.0 / (1.0 + 10f64.powf((black - white) as f64 / 400.0));
    let dw = (K * (sw - ew)).round() as i64;
    (white + dw, black - dw)
}

fn rating(conn: &Connection, user_id: i64, mode: &str) -> Result<i64, StorageError> {
    conn.prepare_cached("SELECT rating FROM ratings WHERE user_id = ?1 AND mode = ?2")
        .and_then(|mut st| {
            st.query_row(params![user_id, mode], |r| r.get(0))
                .optional()
        })
        .map(|r| r.unwrap_or(INITIAL_RATING))
        .map_err(StorageError::sql("read rating"))
}

fn set_rating(
    conn: &Connection,
    user_id: i64,
    mode: &str,
    rating: i64,
    now: i64,
) -> Result<(), StorageError> {
    conn.prepare_cached(
        "INSERT INTO ratings (user_id, mode, rating, games, updated_at) VALUES (?1, ?2, ?3, 1, ?4)
         ON CONFLICT (user_id, mode) DO UPDATE SET rating = excluded.rating,
             games = games + 1, updated_at = excluded.updated_at",
    )
    .and_then(|mut st| st.execute(params![user_id, mode, rating, now]))
    .map(|_| ())
    .map_err(StorageError::sql("write rating"))
}

fn get(conn: &Connection, id: &str) -> Result<Option<StoredGame>, StorageError> {
    conn.prepare_cached(
        "SELECT id, mode, white_id, white_name, black_id, black_name, result, reason, pgn, moves,
                started_at, ended_at, white_before, white_after, black_before, black_after
         FROM games WHERE id = ?1",
    )
    .and_then(|mut st| {
        st.query_row([id], |r| {
            Ok(StoredGame {
                record: GameRecord {
                    id: r.get(0)?,
                    mode: r.get(1)?,
                    white_id: r.get(2)?,
                    white_name: r.get(3)?,
                    black_id: r.get(4)?,
                    black_name: r.get(5)?,
                    result: r.get(6)?,
                    reason: r.get(7)?,
                    pgn: r.get(8)?,
                    moves: r.get(9)?,
                    started_at_ms: r.get(10)?,
                    ended_at_ms: r.get(11)?,
                },
                rated: Rated {
                    white_before: r.get(12)?,
                    white_after: r.get(13)?,
                    black_before: r.get(14)?,
                    black_after: r.get(15)?,
                },
            })
        })
        .optional()
    })
    .map_err(StorageError::sql("read game"))
}

/// Store `rec`, update both ratings and post them as scores of the mode.
fn record(conn: &Connection, rec: &GameRecord, now: i64) -> Result<Rated, StorageError> {
    if let Some(g) = get(conn, &rec.id)? {
        return Ok(g.rated);
    }
    let wb = rating(conn, rec.white_id, &rec.mode)?;
    let bb = rating(conn, rec.black_id, &rec.mode)?;
    let (wa, ba) = elo(wb, bb, &rec.result);
    conn.prepare_cached(
        "INSERT INTO games (id, mode, white_id, white_name, black_id, black_name, result, reason,
             pgn, moves, started_at, ended_at, white_before, white_after, black_before, black_after)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
    )
    .and_then(|mut st| {
        st.execute(params![
            rec.id,
            rec.mode,
            rec.white_id,
            rec.white_name,
            rec.black_id,
            rec.black_name,
            rec.result,
            rec.reason,
            rec.pgn,
            rec.moves,
            rec.started_at_ms,
            rec.ended_at_ms,
            wb,
            wa,
            bb,
            ba
        ])
    })
    .map_err(|e| match e {
        rusqlite::Error::SqliteFailure(f, _)
            if f.code == rusqlite::ErrorCode::ConstraintViolation =>
        {
            StorageError::UnknownAccount
        }
        e => StorageError::Sql {
            op: "insert game",
            source: e,
        },
    })?;
    set_rating(conn, rec.white_id, &rec.mode, wa, now)?;
    set_rating(conn, rec.black_id, &rec.mode, ba, now)?;
    scores::add(conn, rec.white_id, &rec.mode, wa, now)?;
    scores::add(conn, rec.black_id, &rec.mode, ba, now)?;
    Ok(Rated {
        white_before: wb,
        white_after: wa,
        black_before: bb,
        black_after: ba,
    })
}

/// Run one command; `touched` receives a board (game name) to republish.
/// Returns the reply, to be sent once the transaction's fate is known.
pub(crate) fn exec(
    conn: &Connection,
    cmd: GamesCmd,
    now: i64,
    touched: &mut dyn FnMut(String),
) -> crate::worker::Finish {
    use crate::worker::finish;
    match cmd {
        GamesCmd::Record { rec, reply } => {
            let res = savepoint(conn, |c| record(c, &rec, now));
            if res.is_ok() {
                touched(rec.mode.clone());
            }
            finish(reply, res)
        }
        GamesCmd::Get { id, reply } => finish(reply, get(conn, &id)),
        GamesCmd::Rating {
            user_id,
            mode,
            reply,
        } => finish(reply, rating(conn, user_id, &mode)),
    }
}

/// Answer a command that cannot run.
pub(crate) fn refuse(cmd: GamesCmd, e: StorageError) -> crate::worker::Finish {
    use crate::worker::finish;
    match cmd {
        GamesCmd::Record { reply, .. } => finish(reply, Err(e)),
        GamesCmd::Get { reply, .. } => finish(reply, Err(e)),
        GamesCmd::Rating { reply, .. } => finish(reply, Err(e)),
    }
}

fn savepoint<T>(
    conn: &Connection,
    f: impl FnOnce(&Connection) -> Result<T, StorageError>,
) -> Result<T, StorageError> {
    conn.execute_batch("SAVEPOINT game")
        .map_err(StorageError::sql("savepoint"))?;
    match f(conn) {
        Ok(v) => {
            conn.execute_batch("RELEASE game")
                .map_err(StorageError::sql("release savepoint"))?;
            Ok(v)
        }
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK TO game; RELEASE game");
            Err(e)
        }
    }
}

impl Storage {
    /// Store a finished game and rate it (durable when this returns).
    pub async fn record_game(&self, rec: GameRecord) -> Result<Rated, StorageError> {
        let rec = Box::new(rec);
        self.call(|reply| Cmd::Games(GamesCmd::Record { rec, reply }))
            .await
    }

    /// A stored game by id.
    pub async fn game(&self, id: &str) -> Result<Option<StoredGame>, StorageError> {
        let id = id.to_string();
        self.call(|reply| Cmd::Games(GamesCmd::Get { id, reply }))
            .await
    }

    /// A player's rating in `mode` ([`INITIAL_RATING`] before any game).
    pub async fn rating(&self, user_id: i64, mode: &str) -> Result<i64, StorageError> {
        let mode = mode.to_string();
        self.call(|reply| {
            Cmd::Games(GamesCmd::Rating {
                user_id,
                mode,
                reply,
            })
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elo_is_zero_sum_and_favours_the_upset() {
        assert_eq!(elo(1200, 1200, "1-0"), (1216, 1184));
        assert_eq!(elo(1200, 1200, "1/2-1/2"), (1200, 1200));
        let (w, b) = elo(1000, 1400, "1-0");
        assert!(w - 1000 > 16 && 1400 - b == w - 1000);
    }

    #[test]
    fn record_is_idempotent_and_rates() {
        let mut c = Connection::open_in_memory().unwrap();
        crate::schema::migrate(&mut c).unwrap();
        c.execute_batch("PRAGMA foreign_keys = ON").unwrap();
        c.execute_batch(
            "INSERT INTO accounts VALUES (1, 'ann', 'ann', NULL, 1, 0);
             INSERT INTO accounts VALUES (2, 'bob', 'bob', NULL, 1, 0);",
        )
        .unwrap();
        let rec = GameRecord {
            id: "g1".into(),
            mode: "chess".into(),
            white_id: 1,
            white_name: "ann".into(),
            black_id: 2,
            black_name: "bob".into(),
            result: "0-1".into(),
            reason: "checkmate".into(),
            pgn: "1. f3 e5 2. g4 Qh4# 0-1".into(),
            moves: 4,
            started_at_ms: 1,
            ended_at_ms: 2,
        };
        let r = record(&c, &rec, 5).unwrap();
        assert_eq!((r.white_after, r.black_after), (1184, 1216));
        assert_eq!(record(&c, &rec, 6).unwrap(), r, "idempotent");
        assert_eq!(rating(&c, 2, "chess").unwrap(), 1216);
        assert_eq!(rating(&c, 3, "chess").unwrap(), INITIAL_RATING);
        assert_eq!(get(&c, "g1").unwrap().unwrap().record, rec);
        let mut bad = rec.clone();
        bad.id = "g2".into();
        bad.white_id = 99;
        assert!(matches!(
            record(&c, &bad, 7),
            Err(StorageError::UnknownAccount)
        ));
    }
}
