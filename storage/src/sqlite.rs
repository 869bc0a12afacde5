//! The SQLite engine: opening the file (WAL, `synchronous`, migrations), the
//! [`Db`] implementation over a `rusqlite::Connection`, and the persistence
//! thread's loop for it (block for a command, drain a batch, one round).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use rusqlite::Connection;

use crate::boards::BoardFeed;
use crate::cmd::Cmd;
use crate::config::StorageConfig;
use crate::error::StorageError;
use crate::handle::Counters;
use crate::health::HealthState;
use crate::schema;
use crate::sql::{Arg, Db, DbError, Row, Q};
use crate::worker::Core;

/// A borrowed SQLite connection seen through [`Db`] (statements are cached
/// by rusqlite's prepared-statement cache).
pub(crate) struct Lite<'c>(pub &'c Connection);

impl Db for Lite<'_> {
    fn execute(&mut self, q: &Q, args: &[Arg<'_>]) -> Result<u64, DbError> {
        let mut st = self.0.prepare_cached(q.sqlite)?;
        Ok(st.execute(rusqlite::params_from_iter(args.iter()))? as u64)
    }

    fn query(&mut self, q: &Q, args: &[Arg<'_>]) -> Result<Vec<Row>, DbError> {
        let mut st = self.0.prepare_cached(q.sqlite)?;
        let rows = st.query_map(rusqlite::params_from_iter(args.iter()), |r| {
            Row::from_sqlite(q.op, r)
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    fn each(
        &mut self,
        q: &Q,
        args: &[Arg<'_>],
        f: &mut dyn FnMut(Row) -> Result<(), StorageError>,
    ) -> Result<(), StorageError> {
        let err = |e: rusqlite::Error| DbError::Sqlite(e).into_storage(q.op);
        let mut st = self.0.prepare_cached(q.sqlite).map_err(err)?;
        let mut rows = st
            .query(rusqlite::params_from_iter(args.iter()))
            .map_err(err)?;
        while let Some(r) = rows.next().map_err(err)? {
            f(Row::from_sqlite(q.op, r).map_err(err)?)?;
        }
        Ok(())
    }

    fn batch(&mut self, sql: &str) -> Result<(), DbError> {
        Ok(self.0.execute_batch(sql)?)
    }

    fn begin(&mut self) -> Result<(), DbError> {
        self.batch("BEGIN IMMEDIATE")
    }
}

/// Open the database file, configure it and bring its schema up to date
/// (or check it is current when `auto_migrate` is off).
pub(crate) fn open(cfg: &StorageConfig) -> Result<Connection, StorageError> {
    let open_err = |source| StorageError::Open {
        path: cfg.path.clone(),
        source,
    };
    if let Some(dir) = cfg.path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| StorageError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
    }
    let mut conn = Connection::open(&cfg.path).map_err(open_err)?;
    conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get::<_, String>(0))
        .map_err(open_err)?;
    conn.execute_batch(&format!(
        "PRAGMA synchronous = {}; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;",
        cfg.synchronous.pragma()
    ))
    .map_err(open_err)?;
    conn.set_prepared_statement_cache_capacity(64);
    if cfg.auto_migrate {
        schema::migrate(&mut conn)?;
    } else {
        schema::check(schema::version(&conn)?)?;
    }
    Ok(conn)
}

/// Start the SQLite persistence thread; returns once the file is open.
pub(crate) fn spawn(
    cfg: StorageConfig,
    rx: Receiver<Cmd>,
    feed: BoardFeed,
    counters: Arc<Counters>,
    health: Arc<HealthState>,
    done: Sender<()>,
) -> Result<(), StorageError> {
    let (opened_tx, opened) = crossbeam_channel::bounded(1);
    std::thread::Builder::new()
        .name("storage".into())
        .spawn(move || {
            let _done = done;
            let started = open(&cfg).and_then(|conn| {
                let mut core = Core::new(cfg, feed, counters, health);
                core.load_games(&mut Lite(&conn))?;
                Ok((conn, core))
            });
            match started {
                Ok((conn, core)) => {
                    let _ = opened_tx.send(Ok(()));
                    run(conn, core, rx);
                }
                Err(e) => {
                    let _ = opened_tx.send(Err(e));
                }
            }
        })
        .map_err(StorageError::Spawn)?;
    opened.recv().map_err(|_| StorageError::Closed)?
}

/// Serve commands until `Shutdown` or until every sender is gone.
fn run(conn: Connection, mut core: Core, rx: Receiver<Cmd>) {
    let all: BTreeSet<String> = core.games().cloned().collect();
    core.publish(&mut Lite(&conn), &all);
    loop {
        let first = if core.feed_pending() {
            match rx.recv_timeout(Duration::from_millis(200)) {
                Ok(c) => c,
                Err(RecvTimeoutError::Timeout) => {
                    core.flush_feed();
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => break,
            }
        } else {
            match rx.recv() {
                Ok(c) => c,
                Err(_) => break,
            }
        };
        let batch = core.drain(first, &rx);
        if core.round(&mut Lite(&conn), batch) {
            break;
        }
    }
    // Commands that raced with the shutdown get `Closed` when dropped.
    let _ = conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);");
}
