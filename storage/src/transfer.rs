//! Moving a whole database between engines (e.g. SQLite → PostgreSQL):
//! [`export`] writes every durable row as JSON lines, [`import`] loads them
//! into an empty database. Works from and to either engine.
//!
//! # Format `roomcore-export` version 1
//! UTF-8, one JSON object per line, each with a `"type"`:
//! - first line `{"type":"header","format":"roomcore-export","version":1,
//!   "schema":4,"source":"sqlite","exported_at_ms":…}` (`schema` is the
//!   source's migration version);
//! - then rows, table by table in this order (foreign keys point backwards):
//!   `account`, `score`, `best_alltime`, `best_daily`, `rating`, `game`,
//!   `room`. A row's keys are its SQL column names; integers are JSON
//!   numbers (times in ms since the epoch, days since the epoch), booleans
//!   are JSON booleans, `password_hash` is the PHC string or null, a room's
//!   `state` bytes are standard base64;
//! - last line `{"type":"end","counts":{"accounts":…,"scores":…,…}}`, so a
//!   truncated file is refused.
//!
//! Ids (account and score ids, game and room ids) are kept, so tokens signed
//! before the move stay valid. A newer `version` or `schema` than this build
//! knows is refused. Import runs in ONE transaction: on any error nothing is
//! kept. The target must be empty (freshly migrated).

use std::io::{BufRead, BufReader, Read, Write};

use base64::Engine as _;
use serde_json::{Map, Value};

use crate::config::{Engine, StorageConfig};
use crate::error::StorageError;
use crate::sql::{Arg, Cell, Db, Q};
use crate::{now_ms, pg, schema, sqlite};

/// The `format` of the header line.
pub const FORMAT: &str = "roomcore-export";
/// The format version this build writes and the newest it reads.
pub const FORMAT_VERSION: u32 = 1;

/// Rows carried, per table (also the `end` line's `counts`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TransferCounts {
    pub accounts: u64,
    pub scores: u64,
    pub best_alltime: u64,
    pub best_daily: u64,
    pub ratings: u64,
    pub games: u64,
    pub rooms: u64,
}

/// How a column travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Int,
    Text,
    OptText,
    Bool,
    Blob,
}

/// One exported table: its line type, columns, and the two statements.
struct Table {
    line: &'static str,
    cols: &'static [(&'static str, Kind)],
    select: Q,
    insert: Q,
}

use Kind::{Blob, Bool, Int, OptText, Text};

const TABLES: &[Table] = &[
    Table {
        line: "account",
        cols: &[
            ("id", Int),
            ("username", Text),
            ("username_key", Text),
            ("password_hash", OptText),
            ("guest", Bool),
            ("created_at", Int),
        ],
        select: Q::both(
            "export accounts",
            "SELECT id, username, username_key, password_hash, guest, created_at
             FROM accounts ORDER BY id",
        ),
        insert: Q::both(
            "import account",
            "INSERT INTO accounts (id, username, username_key, password_hash, guest, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        ),
    },
    Table {
        line: "score",
        cols: &[
            ("id", Int),
            ("user_id", Int),
            ("game", Text),
            ("score", Int),
            ("created_at", Int),
        ],
        select: Q::both(
            "export scores",
            "SELECT id, user_id, game, score, created_at FROM scores ORDER BY id",
        ),
        insert: Q::both(
            "import score",
            "INSERT INTO scores (id, user_id, game, score, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        ),
    },
    Table {
        line: "best_alltime",
        cols: &[
            ("game", Text),
            ("user_id", Int),
            ("score", Int),
            ("at", Int),
        ],
        select: Q::both(
            "export all-time bests",
            "SELECT game, user_id, score, at FROM best_alltime ORDER BY game, user_id",
        ),
        insert: Q::both(
            "import all-time best",
            "INSERT INTO best_alltime (game, user_id, score, at) VALUES (?1, ?2, ?3, ?4)",
        ),
    },
    Table {
        line: "best_daily",
        cols: &[
            ("game", Text),
            ("day", Int),
            ("user_id", Int),
            ("score", Int),
            ("at", Int),
        ],
        select: Q::both(
            "export daily bests",
            "SELECT game, day, user_id, score, at FROM best_daily ORDER BY game, day, user_id",
        ),
        insert: Q::both(
            "import daily best",
            "INSERT INTO best_daily (game, day, user_id, score, at) VALUES (?1, ?2, ?3, ?4, ?5)",
        ),
    },
    Table {
        line: "rating",
        cols: &[
            ("user_id", Int),
            ("mode", Text),
            ("rating", Int),
            ("games", Int),
            ("updated_at", Int),
        ],
        select: Q::both(
            "export ratings",
            "SELECT user_id, mode, rating, games, updated_at FROM ratings ORDER BY user_id, mode",
        ),
        insert: Q::both(
            "import rating",
            "INSERT INTO ratings (user_id, mode, rating, games, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5)",
        ),
    },
    Table {
        line: "game",
        cols: &[
            ("id", Text),
            ("mode", Text),
            ("white_id", Int),
            ("white_name", Text),
            ("black_id", Int),
            ("black_name", Text),
            ("result", Text),
            ("reason", Text),
            ("pgn", Text),
            ("moves", Int),
            ("started_at", Int),
            ("ended_at", Int),
            ("white_before", Int),
            ("white_after", Int),
            ("black_before", Int),
            ("black_after", Int),
        ],
        select: Q::both(
            "export games",
            "SELECT id, mode, white_id, white_name, black_id, black_name, result, reason, pgn,
                    moves, started_at, ended_at, white_before, white_after, black_before,
                    black_after
             FROM games ORDER BY id",
        ),
        insert: Q::both(
            "import game",
            "INSERT INTO games (id, mode, white_id, white_name, black_id, black_name, result,
                 reason, pgn, moves, started_at, ended_at, white_before, white_after,
                 black_before, black_after)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
        ),
    },
    Table {
        line: "room",
        cols: &[
            ("id", Text),
            ("kind", Text),
            ("state", Blob),
            ("created_at", Int),
            ("updated_at", Int),
        ],
        select: Q::both(
            "export rooms",
            "SELECT id, kind, state, created_at, updated_at FROM rooms ORDER BY id",
        ),
        insert: Q::both(
            "import room",
            "INSERT INTO rooms (id, kind, state, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        ),
    },
];

const NOT_EMPTY: Q = Q::both(
    "check import target",
    "SELECT (SELECT COUNT(*) FROM accounts) + (SELECT COUNT(*) FROM rooms)",
);
/// After inserting explicit ids, PostgreSQL's identity sequences must move
/// past them (SQLite picks max + 1 by itself).
const RESYNC_IDS: Q = Q::split(
    "resync id sequences",
    "SELECT 1",
    "SELECT setval(pg_get_serial_sequence('accounts', 'id'),
                   GREATEST((SELECT MAX(id) FROM accounts), 1)),
            setval(pg_get_serial_sequence('scores', 'id'),
                   GREATEST((SELECT MAX(id) FROM scores), 1))",
);

impl TransferCounts {
    fn slot(&mut self, i: usize) -> &mut u64 {
        match i {
            0 => &mut self.accounts,
            1 => &mut self.scores,
            2 => &mut self.best_alltime,
            3 => &mut self.best_daily,
            4 => &mut self.ratings,
            5 => &mut self.games,
            _ => &mut self.rooms,
        }
    }
}

/// Write every durable row of the database `cfg` names to `out` (format
/// above), from one consistent snapshot. The source is migrated first if it
/// is older than this build (as the server would at start).
pub fn export(cfg: &StorageConfig, out: impl Write) -> Result<TransferCounts, StorageError> {
    let mut out = std::io::BufWriter::new(out);
    let counts = match cfg.engine()? {
        Engine::Sqlite => {
            let conn = sqlite::open(&with_migrations(cfg))?;
            let v = schema::version(&conn)?;
            export_from(
                &mut sqlite::Lite(&conn),
                "BEGIN",
                Engine::Sqlite,
                v,
                &mut out,
            )?
        }
        Engine::Postgres => {
            let mut client = pg::connect_ready(cfg, true)?;
            let v = schema::pg_version(&mut client)?;
            let mut db = pg::conn::PgDb::new(client, 0);
            let begin = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY";
            export_from(&mut db, begin, Engine::Postgres, v, &mut out)?
        }
    };
    out.flush().map_err(StorageError::Stream)?;
    Ok(counts)
}

/// Load an export from `input` into the EMPTY database `cfg` names
/// (migrated first), in one transaction; nothing is kept on any error.
pub fn import(cfg: &StorageConfig, input: impl Read) -> Result<TransferCounts, StorageError> {
    let input = BufReader::new(input);
    match cfg.engine()? {
        Engine::Sqlite => {
            let conn = sqlite::open(&with_migrations(cfg))?;
            import_into(&mut sqlite::Lite(&conn), input)
        }
        Engine::Postgres => {
            let client = pg::connect_ready(cfg, true)?;
            import_into(&mut pg::conn::PgDb::new(client, 0), input)
        }
    }
}

fn with_migrations(cfg: &StorageConfig) -> StorageConfig {
    StorageConfig {
        auto_migrate: true,
        ..cfg.clone()
    }
}

fn write_line(out: &mut impl Write, v: &Value) -> Result<(), StorageError> {
    serde_json::to_writer(&mut *out, v).map_err(|e| StorageError::Stream(e.into()))?;
    out.write_all(b"\n").map_err(StorageError::Stream)
}

fn export_from<D: Db>(
    db: &mut D,
    begin: &str,
    source: Engine,
    version: u32,
    out: &mut impl Write,
) -> Result<TransferCounts, StorageError> {
    db.batch(begin)
        .map_err(|e| e.into_storage("begin export"))?;
    write_line(
        out,
        &serde_json::json!({
            "type": "header",
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "schema": version,
            "source": source.as_str(),
            "exported_at_ms": now_ms(),
        }),
    )?;
    let mut counts = TransferCounts::default();
    for (i, t) in TABLES.iter().enumerate() {
        let n = counts.slot(i);
        db.each(&t.select, &[], &mut |row| {
            let mut obj = Map::new();
            obj.insert("type".into(), Value::from(t.line));
            for (c, (name, kind)) in t.cols.iter().enumerate() {
                let v = match (kind, row.cells.get(c)) {
                    (_, Some(Cell::Null)) => Value::Null,
                    (Int, _) => Value::from(row.int(c)?),
                    (Bool, _) => Value::from(row.bool(c)?),
                    (Blob, _) => {
                        Value::from(base64::engine::general_purpose::STANDARD.encode(row.blob(c)?))
                    }
                    (Text | OptText, _) => Value::from(row.text(c)?),
                };
                obj.insert((*name).into(), v);
            }
            *n += 1;
            write_line(out, &Value::Object(obj))
        })?;
    }
    let _ = db.commit();
    write_line(out, &serde_json::json!({ "type": "end", "counts": counts }))?;
    Ok(counts)
}

/// A column value read from a line, owned until it is bound.
enum Owned {
    Int(i64),
    Text(String),
    OptText(Option<String>),
    Bool(bool),
    Blob(Vec<u8>),
}

impl Owned {
    fn arg(&self) -> Arg<'_> {
        match self {
            Owned::Int(v) => Arg::Int(*v),
            Owned::Text(s) => Arg::Text(s),
            Owned::OptText(s) => Arg::OptText(s.as_deref()),
            Owned::Bool(b) => Arg::Bool(*b),
            Owned::Blob(b) => Arg::Blob(b),
        }
    }
}

fn column(obj: &Map<String, Value>, name: &str, kind: Kind) -> Result<Owned, String> {
    let v = obj.get(name).unwrap_or(&Value::Null);
    let bad = || format!("column {name:?} is not {kind:?}");
    Ok(match kind {
        Int => Owned::Int(v.as_i64().ok_or_else(bad)?),
        Text => Owned::Text(v.as_str().ok_or_else(bad)?.to_string()),
        OptText if v.is_null() => Owned::OptText(None),
        OptText => Owned::OptText(Some(v.as_str().ok_or_else(bad)?.to_string())),
        Bool => Owned::Bool(v.as_bool().ok_or_else(bad)?),
        Blob => Owned::Blob(
            base64::engine::general_purpose::STANDARD
                .decode(v.as_str().ok_or_else(bad)?)
                .map_err(|e| format!("column {name:?}: {e}"))?,
        ),
    })
}

fn import_into<D: Db>(db: &mut D, input: impl BufRead) -> Result<TransferCounts, StorageError> {
    db.begin().map_err(|e| e.into_storage("begin import"))?;
    let res = import_rows(db, input);
    match res {
        Ok(counts) => {
            db.commit().map_err(|e| e.into_storage("commit import"))?;
            Ok(counts)
        }
        Err(e) => {
            db.rollback();
            Err(e)
        }
    }
}

fn import_rows<D: Db>(db: &mut D, input: impl BufRead) -> Result<TransferCounts, StorageError> {
    let present = db
        .query_opt(&NOT_EMPTY, &[])
        .map_err(|e| e.into_storage(NOT_EMPTY.op))?
        .map_or(Ok(0), |r| r.int(0))?;
    if present > 0 {
        return Err(StorageError::NotEmpty(format!(
            "{present} accounts and rooms are stored already"
        )));
    }
    let mut counts = TransferCounts::default();
    let mut header = false;
    let mut end = None;
    for (i, line) in input.lines().enumerate() {
        let n = i + 1;
        let fmt = |reason: String| StorageError::Format { line: n, reason };
        let line = line.map_err(StorageError::Stream)?;
        if line.trim().is_empty() {
            continue;
        }
        if end.is_some() {
            return Err(fmt("data after the end line".into()));
        }
        let obj: Map<String, Value> =
            serde_json::from_str(&line).map_err(|e| fmt(format!("not a JSON object: {e}")))?;
        let ty = obj.get("type").and_then(Value::as_str).unwrap_or_default();
        if !header {
            check_header(ty, &obj).map_err(fmt)?;
            header = true;
            continue;
        }
        if ty == "end" {
            let c: TransferCounts = obj
                .get("counts")
                .cloned()
                .map(serde_json::from_value)
                .transpose()
                .map_err(|e| fmt(format!("bad counts: {e}")))?
                .ok_or_else(|| fmt("end line without counts".into()))?;
            end = Some(c);
            continue;
        }
        let (ti, t) = TABLES
            .iter()
            .enumerate()
            .find(|(_, t)| t.line == ty)
            .ok_or_else(|| fmt(format!("unknown line type {ty:?}")))?;
        let values = t
            .cols
            .iter()
            .map(|(name, kind)| column(&obj, name, *kind))
            .collect::<Result<Vec<_>, _>>()
            .map_err(fmt)?;
        let args: Vec<Arg<'_>> = values.iter().map(Owned::arg).collect();
        db.execute(&t.insert, &args)
            .map_err(|e| fmt(format!("{}: {}", t.insert.op, e.message())))?;
        *counts.slot(ti) += 1;
    }
    if !header {
        return Err(StorageError::Format {
            line: 0,
            reason: "empty input: no header line".into(),
        });
    }
    match end {
        Some(c) if c == counts => {}
        Some(c) => {
            return Err(StorageError::Format {
                line: 0,
                reason: format!("the end line counts {c:?} but {counts:?} rows were read"),
            })
        }
        None => {
            return Err(StorageError::Format {
                line: 0,
                reason: "truncated: no end line".into(),
            })
        }
    }
    db.query(&RESYNC_IDS, &[])
        .map_err(|e| e.into_storage(RESYNC_IDS.op))?;
    Ok(counts)
}

fn check_header(ty: &str, obj: &Map<String, Value>) -> Result<(), String> {
    if ty != "header" || obj.get("format").and_then(Value::as_str) != Some(FORMAT) {
        return Err(format!("not a {FORMAT} file (no header line)"));
    }
    let version = obj
        .get("version")
        .and_then(Value::as_u64)
        .unwrap_or(u64::MAX);
    if version > u64::from(FORMAT_VERSION) {
        return Err(format!(
            "format version {version} is newer than this build ({FORMAT_VERSION})"
        ));
    }
    let schema = obj
        .get("schema")
        .and_then(Value::as_u64)
        .unwrap_or(u64::MAX);
    if schema > u64::from(schema::VERSION) {
        return Err(format!(
            "exported at schema version {schema}, newer than this build ({})",
            schema::VERSION
        ));
    }
    Ok(())
}
