//! Finished games and ratings: the SQL of `games` and `ratings`, the typed
//! commands the engine sends for them, and the Elo update. Runs only on the
//! persistence thread (except the [`Storage`] methods, which send commands).
//!
//! Recording a game is idempotent (a retried record of the same id returns
//! the ratings stored the first time). Each player's new rating is also
//! posted as a score of the game's mode, so the mode's leaderboard lists
//! players by their best (peak) rating. The SQL is written once over
//! [`Db`] for both engines.

use crate::cmd::{Cmd, Reply};
use crate::error::StorageError;
use crate::handle::Storage;
use crate::scores;
use crate::sql::{atomically, Arg, Db, Q};

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

impl GamesCmd {
    pub(crate) fn span(&self) -> &tracing::Span {
        match self {
            GamesCmd::Record { reply, .. } => reply.span(),
            GamesCmd::Get { reply, .. } => reply.span(),
            GamesCmd::Rating { reply, .. } => reply.span(),
        }
    }

    pub(crate) fn name(&self) -> &'static str {
        match self {
            GamesCmd::Record { .. } => "record_game",
            GamesCmd::Get { .. } => "get_game",
            GamesCmd::Rating { .. } => "rating",
        }
    }
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

const RATING: Q = Q::both(
    "read rating",
    "SELECT rating FROM ratings WHERE user_id = ?1 AND mode = ?2",
);
const SET_RATING: Q = Q::both(
    "write rating",
    "INSERT INTO ratings (user_id, mode, rating, games, updated_at) VALUES (?1, ?2, ?3, 1, ?4)
     ON CONFLICT (user_id, mode) DO UPDATE SET rating = excluded.rating,
         games = ratings.games + 1, updated_at = excluded.updated_at",
);
const GET: Q = Q::both(
    "read game",
    "SELECT id, mode, white_id, white_name, black_id, black_name, result, reason, pgn, moves,
            started_at, ended_at, white_before, white_after, black_before, black_after
     FROM games WHERE id = ?1",
);
const INSERT: Q = Q::both(
    "insert game",
    "INSERT INTO games (id, mode, white_id, white_name, black_id, black_name, result, reason,
         pgn, moves, started_at, ended_at, white_before, white_after, black_before, black_after)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
);

fn rating<D: Db + ?Sized>(db: &mut D, user_id: i64, mode: &str) -> Result<i64, StorageError> {
    match db
        .query_opt(&RATING, &[Arg::Int(user_id), Arg::Text(mode)])
        .map_err(|e| e.into_storage(RATING.op))?
    {
        Some(r) => r.int(0),
        None => Ok(INITIAL_RATING),
    }
}

fn set_rating<D: Db + ?Sized>(
    db: &mut D,
    user_id: i64,
    mode: &str,
    rating: i64,
    now: i64,
) -> Result<(), StorageError> {
    db.execute(
        &SET_RATING,
        &[
            Arg::Int(user_id),
            Arg::Text(mode),
            Arg::Int(rating),
            Arg::Int(now),
        ],
    )
    .map(drop)
    .map_err(|e| e.into_storage(SET_RATING.op))
}

fn get<D: Db + ?Sized>(db: &mut D, id: &str) -> Result<Option<StoredGame>, StorageError> {
    let Some(r) = db
        .query_opt(&GET, &[Arg::Text(id)])
        .map_err(|e| e.into_storage(GET.op))?
    else {
        return Ok(None);
    };
    Ok(Some(StoredGame {
        record: GameRecord {
            id: r.text(0)?,
            mode: r.text(1)?,
            white_id: r.int(2)?,
            white_name: r.text(3)?,
            black_id: r.int(4)?,
            black_name: r.text(5)?,
            result: r.text(6)?,
            reason: r.text(7)?,
            pgn: r.text(8)?,
            moves: u32::try_from(r.int(9)?).unwrap_or(u32::MAX),
            started_at_ms: r.int(10)?,
            ended_at_ms: r.int(11)?,
        },
        rated: Rated {
            white_before: r.int(12)?,
            white_after: r.int(13)?,
            black_before: r.int(14)?,
            black_after: r.int(15)?,
        },
    }))
}

/// Store `rec`, update both ratings and post them as scores of the mode.
fn record<D: Db + ?Sized>(db: &mut D, rec: &GameRecord, now: i64) -> Result<Rated, StorageError> {
    if let Some(g) = get(db, &rec.id)? {
        return Ok(g.rated);
    }
    let wb = rating(db, rec.white_id, &rec.mode)?;
    let bb = rating(db, rec.black_id, &rec.mode)?;
    let (wa, ba) = elo(wb, bb, &rec.result);
    db.execute(
        &INSERT,
        &[
            Arg::Text(&rec.id),
            Arg::Text(&rec.mode),
            Arg::Int(rec.white_id),
            Arg::Text(&rec.white_name),
            Arg::Int(rec.black_id),
            Arg::Text(&rec.black_name),
            Arg::Text(&rec.result),
            Arg::Text(&rec.reason),
            Arg::Text(&rec.pgn),
            Arg::Int(rec.moves.into()),
            Arg::Int(rec.started_at_ms),
            Arg::Int(rec.ended_at_ms),
            Arg::Int(wb),
            Arg::Int(wa),
            Arg::Int(bb),
            Arg::Int(ba),
        ],
    )
    .map_err(|e| {
        if e.is_foreign_key_violation() {
            StorageError::UnknownAccount
        } else if e.is_unique_violation() {
            // Another process recorded the same game a moment ago: a retry
            // finds it and answers its ratings (idempotent).
            StorageError::Retry {
                reason: format!("game {} is being recorded concurrently", rec.id),
            }
        } else {
            e.into_storage(INSERT.op)
        }
    })?;
    set_rating(db, rec.white_id, &rec.mode, wa, now)?;
    set_rating(db, rec.black_id, &rec.mode, ba, now)?;
    scores::add_in(db, rec.white_id, &rec.mode, wa, now)?;
    scores::add_in(db, rec.black_id, &rec.mode, ba, now)?;
    Ok(Rated {
        white_before: wb,
        white_after: wa,
        black_before: bb,
        black_after: ba,
    })
}

/// Run one command under its own savepoint; `touched`
/// receives a board (game name) to republish. Returns the reply, to be sent
/// once the transaction's fate is known.
pub(crate) fn exec<D: Db + ?Sized>(
    db: &mut D,
    cmd: GamesCmd,
    now: i64,
    touched: &mut dyn FnMut(String),
) -> crate::worker::Finish {
    use crate::worker::finish;
    match cmd {
        GamesCmd::Record { rec, reply } => {
            let res = atomically(db, |d| record(d, &rec, now));
            if res.is_ok() {
                touched(rec.mode.clone());
            }
            finish(reply, res)
        }
        GamesCmd::Get { id, reply } => finish(reply, atomically(db, |d| get(d, &id))),
        GamesCmd::Rating {
            user_id,
            mode,
            reply,
        } => finish(reply, atomically(db, |d| rating(d, user_id, &mode))),
    }
}

/// Answer a command that cannot run.
pub(crate) fn refuse(cmd: GamesCmd, e: StorageError) {
    match cmd {
        GamesCmd::Record { reply, .. } => drop(reply.send(Err(e))),
        GamesCmd::Get { reply, .. } => drop(reply.send(Err(e))),
        GamesCmd::Rating { reply, .. } => drop(reply.send(Err(e))),
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
        let mut c = rusqlite::Connection::open_in_memory().unwrap();
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
        let c = &mut crate::sqlite::Lite(&c);
        let r = record(c, &rec, 5).unwrap();
        assert_eq!((r.white_after, r.black_after), (1184, 1216));
        assert_eq!(record(c, &rec, 6).unwrap(), r, "idempotent");
        assert_eq!(rating(c, 2, "chess").unwrap(), 1216);
        assert_eq!(rating(c, 3, "chess").unwrap(), INITIAL_RATING);
        assert_eq!(get(c, "g1").unwrap().unwrap().record, rec);
        let mut bad = rec.clone();
        bad.id = "g2".into();
        bad.white_id = 99;
        assert!(matches!(
            record(c, &bad, 7),
            Err(StorageError::UnknownAccount)
        ));
    }
}
