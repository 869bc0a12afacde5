//! The persistence round, shared by both engines: [`Core`] runs one batch of
//! commands in ONE transaction over a [`Db`], each command under its own
//! savepoint so one failing command does not undo the others. Only after
//! COMMIT returns does it publish the boards the round touched and answer
//! every command; if the commit fails, every write of the round is answered
//! with an error (`Unavailable` when the connection was lost). This is group
//! commit: one WAL fsync (SQLite `synchronous=FULL`) or one PostgreSQL commit
//! covers the whole round. The loops that feed it live in `sqlite` and
//! `pg::worker`.

use std::collections::{BTreeSet, HashSet};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use crossbeam_channel::Receiver;

use crate::boards::BoardFeed;
use crate::cmd::{Cmd, Reply};
use crate::config::StorageConfig;
use crate::error::StorageError;
use crate::handle::Counters;
use crate::health::HealthState;
use crate::model::{Board, Period};
use crate::sql::{atomically, Db};
use crate::{accounts, day_of, now_ms, rooms, scores};

/// Why a whole round failed.
#[derive(Debug, Clone)]
pub(crate) enum Failure {
    /// The transaction did not begin or commit; writes were not kept.
    Commit(String),
    /// The connection is gone; nothing of the round was kept.
    Unavailable(String),
}

impl Failure {
    pub(crate) fn error(&self) -> StorageError {
        match self {
            Failure::Commit(m) => StorageError::Commit(m.clone()),
            Failure::Unavailable(m) => StorageError::Unavailable { reason: m.clone() },
        }
    }
}

/// Answers a command once the fate of its transaction is known.
pub(crate) type Finish = Box<dyn FnOnce(Option<&Failure>) + Send>;

pub(crate) fn finish<T: Send + 'static>(reply: Reply<T>, res: Result<T, StorageError>) -> Finish {
    Box::new(move |failure: Option<&Failure>| {
        let res = match (res, failure) {
            (_, Some(f @ Failure::Unavailable(_))) => Err(f.error()),
            (Ok(_), Some(f)) => Err(f.error()),
            (res, _) => res,
        };
        let _ = reply.send(res);
    })
}

/// Answer every command of `batch` with `failure`; true if it held `Shutdown`.
pub(crate) fn refuse_all(batch: Vec<Cmd>, failure: &Failure) -> bool {
    let mut stop = false;
    for cmd in batch {
        let e = failure.error();
        match cmd {
            Cmd::CreateAccount { reply, .. } => drop(reply.send(Err(e))),
            Cmd::FindAccount { reply, .. } => drop(reply.send(Err(e))),
            Cmd::AddScore { reply, .. } => drop(reply.send(Err(e))),
            Cmd::Standing { reply, .. } => drop(reply.send(Err(e))),
            Cmd::SaveRooms { reply, .. } => drop(reply.send(Err(e))),
            Cmd::LoadRooms { reply, .. } => drop(reply.send(Err(e))),
            Cmd::DeleteRoom { reply, .. } => drop(reply.send(Err(e))),
            Cmd::SweepRooms { reply, .. } => drop(reply.send(Err(e))),
            Cmd::Ping { reply } => drop(reply.send(Err(e))),
            Cmd::Stall { reply, .. } => drop(reply.send(Err(e))),
            Cmd::Games(c) => crate::games::refuse(c, e),
            Cmd::Shutdown => stop = true,
        }
    }
    stop
}

/// State the persistence thread keeps between rounds.
pub(crate) struct Core {
    cfg: StorageConfig,
    feed: BoardFeed,
    /// Games with a board (bounded by `max_games`).
    games: HashSet<String>,
    version: u64,
    counters: Arc<Counters>,
    health: Arc<HealthState>,
    /// `db.system` of the round spans.
    db_system: &'static str,
}

impl Core {
    pub(crate) fn new(
        cfg: StorageConfig,
        feed: BoardFeed,
        counters: Arc<Counters>,
        health: Arc<HealthState>,
    ) -> Core {
        let db_system = crate::trace::db_system(cfg.engine().map_or("sqlite", |e| e.as_str()));
        Core {
            cfg,
            feed,
            db_system,
            games: HashSet::new(),
            version: 0,
            counters,
            health,
        }
    }

    pub(crate) fn config(&self) -> &StorageConfig {
        &self.cfg
    }

    /// Reload the set of games that have a board.
    pub(crate) fn load_games<D: Db + ?Sized>(&mut self, db: &mut D) -> Result<(), StorageError> {
        self.games = scores::games_in(db, usize::MAX >> 1)?.into_iter().collect();
        Ok(())
    }

    /// Games that have a board.
    pub(crate) fn games(&self) -> impl Iterator<Item = &String> {
        self.games.iter()
    }

    /// A game another process posted to (it has a board now).
    pub(crate) fn know_game(&mut self, game: &str) {
        if !self.games.contains(game) {
            self.games.insert(game.to_string());
        }
    }

    pub(crate) fn feed_pending(&self) -> bool {
        self.feed.has_pending()
    }

    pub(crate) fn flush_feed(&mut self) {
        self.feed.flush();
    }

    /// `first` and whatever else is queued, up to `batch_max`.
    pub(crate) fn drain(&self, first: Cmd, rx: &Receiver<Cmd>) -> Vec<Cmd> {
        let mut batch = Vec::with_capacity(64);
        batch.push(first);
        while batch.len() < self.cfg.batch_max {
            match rx.try_recv() {
                Ok(c) => batch.push(c),
                Err(_) => break,
            }
        }
        batch
    }

    /// Run one batch in one transaction. Returns true when asked to stop.
    pub(crate) fn round<D: Db + ?Sized>(&mut self, db: &mut D, batch: Vec<Cmd>) -> bool {
        let now = now_ms();
        self.health.round_started(now);
        let _ = crate::sql::take_out_of_space();
        let stop = self.round_at(db, batch, now);
        // A statement that could not grow the database (PostgreSQL reports `disk_full` when a
        // table cannot be extended, before any COMMIT): unhealthy, as for a failed COMMIT.
        if let Some(reason) = crate::sql::take_out_of_space() {
            self.health.out_of_space(&reason, now_ms());
        }
        self.health.round_finished();
        stop
    }

    fn round_at<D: Db + ?Sized>(&mut self, db: &mut D, batch: Vec<Cmd>, now: i64) -> bool {
        let round = crate::trace::round(self.db_system, &batch);
        let mut done: Vec<Finish> = Vec::with_capacity(batch.len());
        let mut touched: BTreeSet<String> = BTreeSet::new();
        let mut stop = false;
        if let Err(e) = db.begin() {
            let failure = match db.lost() {
                Some(reason) => Failure::Unavailable(reason),
                None => Failure::Commit(e.message()),
            };
            round.record("error.type", "begin_failed");
            return refuse_all(batch, &failure);
        }
        let mut cmds = batch.into_iter().peekable();
        while let Some(cmd) = cmds.next() {
            match cmd {
                Cmd::Shutdown => stop = true,
                // Score writes go to the database as runs of consecutive ones (one round trip
                // per run on PostgreSQL), still in order and each under its own savepoint.
                cmd @ Cmd::AddScore { .. } => {
                    let mut run = vec![cmd];
                    while let Some(next) = cmds.next_if(|c| matches!(c, Cmd::AddScore { .. })) {
                        run.push(next);
                    }
                    self.add_scores(db, run, now, &mut touched, &mut done);
                }
                cmd => done.push(self.exec(db, cmd, now, &mut touched)),
            }
        }
        let committed = match db.announce(&touched) {
            Ok(()) => db.commit(),
            Err(e) => Err(e),
        };
        let failure = match committed {
            Ok(()) => None,
            Err(e) => {
                db.rollback();
                // The set of known games may now hold a rolled-back one: reload it.
                let _ = self.load_games(db);
                Some(match db.lost() {
                    Some(reason) => Failure::Unavailable(reason),
                    // No room to grow: a 503 with Retry-After, and `health()` says why.
                    None if e.is_out_of_space() => {
                        let reason = format!("commit: {}", e.message());
                        self.health.out_of_space(&reason, now_ms());
                        Failure::Unavailable(reason)
                    }
                    None => Failure::Commit(e.message()),
                })
            }
        };
        let n = done.len() as u64;
        if failure.is_none() {
            self.counters.rounds.fetch_add(1, Ordering::Relaxed);
            self.counters.commands.fetch_add(n, Ordering::Relaxed);
            self.counters.max_batch.fetch_max(n, Ordering::Relaxed);
            if !touched.is_empty() {
                self.publish(db, &touched);
            }
        } else {
            self.counters.failed_commits.fetch_add(1, Ordering::Relaxed);
            round.record("error.type", "commit_failed");
            round.record("otel.status_code", "error");
        }
        for f in done {
            f(failure.as_ref());
        }
        stop
    }

    fn exec<D: Db + ?Sized>(
        &mut self,
        db: &mut D,
        cmd: Cmd,
        now: i64,
        touched: &mut BTreeSet<String>,
    ) -> Finish {
        match cmd {
            Cmd::CreateAccount {
                username,
                password_hash,
                reply,
            } => {
                let res = match username {
                    Some(name) => atomically(db, |d| {
                        accounts::create_in(d, &name, password_hash.as_deref(), false, now)
                    }),
                    None => {
                        // A random guest name; retry the rare collision.
                        let mut res = Err(StorageError::UsernameTaken);
                        for _ in 0..4 {
                            let name = guest_name();
                            res =
                                atomically(db, |d| accounts::create_in(d, &name, None, true, now));
                            if !matches!(res, Err(StorageError::UsernameTaken)) {
                                break;
                            }
                        }
                        res
                    }
                };
                finish(reply, res)
            }
            Cmd::FindAccount { username, reply } => {
                finish(reply, atomically(db, |d| accounts::find_in(d, &username)))
            }
            Cmd::AddScore { .. } => unreachable!("score writes run through add_scores"),
            Cmd::Standing {
                user_id,
                game,
                period,
                reply,
            } => finish(
                reply,
                atomically(db, |d| {
                    scores::standing_in(d, user_id, &game, period, day_of(now))
                }),
            ),
            Cmd::SaveRooms { rows, reply } => {
                let res = atomically(db, |d| rows.iter().try_for_each(|r| rooms::save_in(d, r)));
                finish(reply, res)
            }
            Cmd::LoadRooms { kind, reply } => {
                finish(reply, atomically(db, |d| rooms::load_in(d, &kind)))
            }
            Cmd::DeleteRoom { id, reply } => {
                finish(reply, atomically(db, |d| rooms::delete_in(d, &id)))
            }
            Cmd::SweepRooms { cutoff_ms, reply } => {
                finish(reply, atomically(db, |d| rooms::sweep_in(d, cutoff_ms)))
            }
            Cmd::Ping { reply } => finish(reply, Ok(())),
            Cmd::Stall { pause, reply } => {
                std::thread::sleep(pause);
                finish(reply, Ok(()))
            }
            Cmd::Games(c) => {
                let games = &mut self.games;
                crate::games::exec(db, c, now, &mut |g| {
                    games.insert(g.clone());
                    touched.insert(g);
                })
            }
            Cmd::Shutdown => Box::new(|_| {}),
        }
    }

    /// A run of one or more `Cmd::AddScore`s ([`scores::add_many_in`]); pushes one answer per
    /// command.
    fn add_scores<D: Db + ?Sized>(
        &mut self,
        db: &mut D,
        run: Vec<Cmd>,
        now: i64,
        touched: &mut BTreeSet<String>,
        done: &mut Vec<Finish>,
    ) {
        // Admit each write: a new game only while there is room for one.
        let mut admitted = Vec::with_capacity(run.len());
        let mut refused = Vec::new();
        let mut new_games: HashSet<String> = HashSet::new();
        for cmd in run {
            let Cmd::AddScore {
                user_id,
                game,
                score,
                reply,
            } = cmd
            else {
                unreachable!("a run holds score writes only");
            };
            let known = self.games.contains(&game) || new_games.contains(&game);
            if !known && self.games.len() + new_games.len() >= self.cfg.max_games {
                refused.push(finish(
                    reply,
                    Err(StorageError::TooManyGames {
                        limit: self.cfg.max_games,
                    }),
                ));
                continue;
            }
            if !known {
                new_games.insert(game.clone());
            }
            admitted.push((user_id, game, score, reply));
        }
        let writes: Vec<scores::NewScore<'_>> = admitted
            .iter()
            .map(|(user_id, game, score, _)| scores::NewScore {
                user_id: *user_id,
                game,
                score: *score,
            })
            .collect();
        let results = scores::add_many_in(db, &writes, now);
        for ((_, game, _, reply), res) in admitted.into_iter().zip(results) {
            if res.is_ok() {
                self.know_game(&game);
                touched.insert(game);
            }
            done.push(finish(reply, res));
        }
        done.extend(refused);
    }

    /// Rebuild and publish the all-time and today's boards of `games`
    /// (a board that cannot be read keeps its cached copy).
    pub(crate) fn publish<D: Db + ?Sized>(&mut self, db: &mut D, games: &BTreeSet<String>) {
        let now = now_ms();
        let today = day_of(now);
        for game in games {
            for period in [Period::AllTime, Period::Daily] {
                let entries = match scores::top_in(db, game, period, today, self.cfg.board_size) {
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
