//! The persistence thread: owns the only `rusqlite::Connection`.
//!
//! Each round blocks for the first command, drains whatever else is queued
//! (up to `batch_max`) and runs all of it inside ONE transaction, each write
//! command under its own savepoint so one failing command does not undo the
//! others. Only after COMMIT returns does it publish the boards the round
//! touched and answer every command; if the commit fails, every write of the
//! round is answered with an error. This is group commit: one WAL fsync
//! (under `synchronous=FULL`) covers the whole round.

use std::collections::{BTreeSet, HashSet};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError};
use rusqlite::Connection;

use crate::boards::BoardFeed;
use crate::cmd::{Cmd, Reply};
use crate::config::StorageConfig;
use crate::error::StorageError;
use crate::handle::Counters;
use crate::model::{Board, Period};
use crate::{accounts, day_of, now_ms, rooms, schema, scores};

/// Answers a command once the fate of its transaction is known.
pub(crate) type Finish = Box<dyn FnOnce(Option<&str>) + Send>;

pub(crate) fn finish<T: Send + 'static>(reply: Reply<T>, res: Result<T, StorageError>) -> Finish {
    Box::new(move |commit_error: Option<&str>| {
        let res = match (res, commit_error) {
            (Ok(_), Some(e)) => Err(StorageError::Commit(e.to_string())),
            (res, _) => res,
        };
        let _ = reply.send(res);
    })
}

/// Open the database, configure it and bring its schema up to date.
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
    schema::migrate(&mut conn)?;
    Ok(conn)
}

/// State the thread keeps between rounds.
pub(crate) struct Worker {
    conn: Connection,
    cfg: StorageConfig,
    feed: BoardFeed,
    games: HashSet<String>,
    version: u64,
    counters: Arc<Counters>,
}

impl Worker {
    pub(crate) fn new(
        conn: Connection,
        cfg: StorageConfig,
        feed: BoardFeed,
        counters: Arc<Counters>,
    ) -> Result<Worker, StorageError> {
        let games: HashSet<String> = scores::games(&conn, usize::MAX >> 1)?.into_iter().collect();
        let mut w = Worker {
            conn,
            cfg,
            feed,
            games,
            version: 0,
            counters,
        };
        let all: BTreeSet<String> = w.games.iter().cloned().collect();
        w.publish(&all);
        Ok(w)
    }

    /// Serve commands until `Shutdown` or until every sender is gone.
    pub(crate) fn run(mut self, rx: Receiver<Cmd>) {
        loop {
            let first = if self.feed.has_pending() {
                match rx.recv_timeout(Duration::from_millis(200)) {
                    Ok(c) => c,
                    Err(RecvTimeoutError::Timeout) => {
                        self.feed.flush();
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
            let mut batch = Vec::with_capacity(64);
            batch.push(first);
            while batch.len() < self.cfg.batch_max {
                match rx.try_recv() {
                    Ok(c) => batch.push(c),
                    Err(_) => break,
                }
            }
            if self.round(batch) {
                break;
            }
        }
        // Commands that raced with the shutdown get `Closed` when dropped.
        let _ = self.conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);");
    }

    /// Run one batch in one transaction. Returns true when asked to stop.
    pub(crate) fn round(&mut self, batch: Vec<Cmd>) -> bool {
        let now = now_ms();
        let mut done: Vec<Finish> = Vec::with_capacity(batch.len());
        let mut touched: BTreeSet<String> = BTreeSet::new();
        let mut stop = false;
        let began = self.conn.execute_batch("BEGIN IMMEDIATE");
        if let Err(e) = began {
            let msg = e.to_string();
            for cmd in batch {
                if let Some(f) = self.refuse(cmd, &msg) {
                    f(None);
                }
            }
            return false;
        }
        for cmd in batch {
            match cmd {
                Cmd::Shutdown => stop = true,
                cmd => done.push(self.exec(cmd, now, &mut touched)),
            }
        }
        let commit_error = match self.conn.execute_batch("COMMIT") {
            Ok(()) => None,
            Err(e) => {
                let _ = self.conn.execute_batch("ROLLBACK");
                // The set of known games may now hold a rolled-back one: reload it.
                if let Ok(g) = scores::games(&self.conn, usize::MAX >> 1) {
                    self.games = g.into_iter().collect();
                }
                Some(e.to_string())
            }
        };
        let n = done.len() as u64;
        if commit_error.is_none() {
            self.counters.rounds.fetch_add(1, Ordering::Relaxed);
            self.counters.commands.fetch_add(n, Ordering::Relaxed);
            self.counters.max_batch.fetch_max(n, Ordering::Relaxed);
        } else {
            self.counters.failed_commits.fetch_add(1, Ordering::Relaxed);
        }
        if commit_error.is_none() && !touched.is_empty() {
            self.publish(&touched);
        }
        for f in done {
            f(commit_error.as_deref());
        }
        stop
    }

    /// Answer a command that cannot run (the transaction did not begin).
    fn refuse(&self, cmd: Cmd, msg: &str) -> Option<Finish> {
        let e = || StorageError::Commit(msg.to_string());
        Some(match cmd {
            Cmd::CreateAccount { reply, .. } => finish(reply, Err(e())),
            Cmd::FindAccount { reply, .. } => finish(reply, Err(e())),
            Cmd::AddScore { reply, .. } => finish(reply, Err(e())),
            Cmd::Standing { reply, .. } => finish(reply, Err(e())),
            Cmd::SaveRooms { reply, .. } => finish(reply, Err(e())),
            Cmd::LoadRooms { reply, .. } => finish(reply, Err(e())),
            Cmd::DeleteRoom { reply, .. } => finish(reply, Err(e())),
            Cmd::SweepRooms { reply, .. } => finish(reply, Err(e())),
            Cmd::Ping { reply } => finish(reply, Err(e())),
            Cmd::Stall { reply, .. } => finish(reply, Err(e())),
            Cmd::Games(c) => crate::games::refuse(c, e()),
            Cmd::Shutdown => return None,
        })
    }

    /// Run `f` under a savepoint: all of it or none of it.
    fn atomically<T>(
        conn: &Connection,
        f: impl FnOnce(&Connection) -> Result<T, StorageError>,
    ) -> Result<T, StorageError> {
        conn.execute_batch("SAVEPOINT cmd")
            .map_err(StorageError::sql("savepoint"))?;
        match f(conn) {
            Ok(v) => {
                conn.execute_batch("RELEASE cmd")
                    .map_err(StorageError::sql("release savepoint"))?;
                Ok(v)
            }
            Err(e) => {
                let _ = conn.execute_batch("ROLLBACK TO cmd; RELEASE cmd");
                Err(e)
            }
        }
    }

    fn exec(&mut self, cmd: Cmd, now: i64, touched: &mut BTreeSet<String>) -> Finish {
        let conn = &self.conn;
        match cmd {
            Cmd::CreateAccount {
                username,
                password_hash,
                reply,
            } => {
                let res = match username {
                    Some(name) => Self::atomically(conn, |c| {
                        accounts::create(c, &name, password_hash.as_deref(), false, now)
                    }),
                    None => {
                        // A random guest name; retry the rare collision.
                        let mut res = Err(StorageError::UsernameTaken);
                        for _ in 0..4 {
                            let name = guest_name();
                            res = Self::atomically(conn, |c| {
                                accounts::create(c, &name, None, true, now)
                            });
                            if !matches!(res, Err(StorageError::UsernameTaken)) {
                                break;
                            }
                        }
                        res
                    }
                };
                finish(reply, res)
            }
            Cmd::FindAccount { username, reply } => finish(reply, accounts::find(conn, &username)),
            Cmd::AddScore {
                user_id,
                game,
                score,
                reply,
            } => {
                if !self.games.contains(&game) && self.games.len() >= self.cfg.max_games {
                    return finish(
                        reply,
                        Err(StorageError::TooManyGames {
                            limit: self.cfg.max_games,
                        }),
                    );
                }
                let res = Self::atomically(conn, |c| scores::add(c, user_id, &game, score, now));
                if res.is_ok() {
                    if !self.games.contains(&game) {
                        self.games.insert(game.clone());
                    }
                    touched.insert(game);
                }
                finish(reply, res)
            }
            Cmd::Standing {
                user_id,
                game,
                period,
                reply,
            } => finish(
                reply,
                scores::standing(conn, user_id, &game, period, day_of(now)),
            ),
            Cmd::SaveRooms { rows, reply } => {
                let res =
                    Self::atomically(conn, |c| rows.iter().try_for_each(|r| rooms::save(c, r)));
                finish(reply, res)
            }
            Cmd::LoadRooms { kind, reply } => finish(reply, rooms::load(conn, &kind)),
            Cmd::DeleteRoom { id, reply } => finish(reply, rooms::delete(conn, &id)),
            Cmd::SweepRooms { cutoff_ms, reply } => finish(reply, rooms::sweep(conn, cutoff_ms)),
            Cmd::Ping { reply } => finish(reply, Ok(())),
            Cmd::Stall { pause, reply } => {
                std::thread::sleep(pause);
                finish(reply, Ok(()))
            }
            Cmd::Games(c) => {
                let games = &mut self.games;
                crate::games::exec(conn, c, now, &mut |g| {
                    games.insert(g.clone());
                    touched.insert(g);
                })
            }
            Cmd::Shutdown => Box::new(|_| {}),
        }
    }

    /// Rebuild and publish the all-time and today's boards of `games`.
    fn publish(&mut self, games: &BTreeSet<String>) {
        let now = now_ms();
        let today = day_of(now);
        for game in games {
            for period in [Period::AllTime, Period::Daily] {
                let entries =
                    match scores::top(&self.conn, game, period, today, self.cfg.board_size) {
                        Ok(e) => e,
                        Err(_) => continue,
                    };
                self.version += 1;
                self.feed.publish(Arc::new(Board {
                    game: game.clone(),
                    period,
                    day: (period == Period::Daily).then_some(today),
                    entries,
                    updated_at_ms: now,
                    version: self.version,
                }));
            }
        }
    }
}

/// `guest-` and 10 random hex digits.
fn guest_name() -> String {
    let mut b = [0u8; 5];
    if getrandom::getrandom(&mut b).is_err() {
        let t = now_ms() as u64;
        b.copy_from_slice(&t.to_le_bytes()[..5]);
    }
    let mut s = String::from("guest-");
    for x in b {
        s.push_str(&format!("{x:02x}"));
    }
    s
}
