//! The PostgreSQL writer loop (`storage` thread): waits on the command
//! queue and the listener's refresh requests at once, runs each batch as one
//! round of the shared [`Core`], and keeps the connection alive: a heartbeat
//! when idle, `Unavailable` answers while down, reconnection with capped
//! exponential backoff, and a reload of every board once back.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};

use super::conn::PgDb;
use super::listener::Refresh;
use super::Connector;
use crate::cmd::Cmd;
use crate::health::HealthState;
use crate::schema;
use crate::sql::Db;
use crate::worker::{refuse_all, Core, Failure};

/// How often a feed with boards waiting for room is flushed.
const FLUSH_EVERY: Duration = Duration::from_millis(200);

pub(crate) struct PgWorker {
    core: Core,
    db: Option<PgDb>,
    connector: Connector,
    health: Arc<HealthState>,
    origin: u64,
    backoff: Duration,
    next_attempt: Instant,
    last_used: Instant,
}

impl PgWorker {
    pub(crate) fn new(
        core: Core,
        db: PgDb,
        connector: Connector,
        health: Arc<HealthState>,
        origin: u64,
    ) -> PgWorker {
        let backoff = core.config().postgres.backoff_min;
        PgWorker {
            core,
            db: Some(db),
            connector,
            health,
            origin,
            backoff,
            next_attempt: Instant::now(),
            last_used: Instant::now(),
        }
    }

    /// Serve until `Shutdown` or until every handle is gone. Dropping
    /// `_stop` on return stops the listener.
    pub(crate) fn run(
        mut self,
        rx: Receiver<Cmd>,
        mut refresh: Receiver<Refresh>,
        _stop: Sender<()>,
    ) {
        self.waiting(|w| w.publish_all());
        loop {
            if self.db.is_none() && Instant::now() >= self.next_attempt {
                self.waiting(|w| w.reconnect());
            }
            let timeout = self.wait();
            crossbeam_channel::select! {
                recv(rx) -> m => match m {
                    Ok(first) => {
                        let batch = self.core.drain(first, &rx);
                        if self.serve(batch) {
                            break;
                        }
                    }
                    Err(_) => break,
                },
                recv(refresh) -> m => match m {
                    Ok(r) => self.waiting(|w| w.refresh(r, &refresh)),
                    Err(_) => refresh = crossbeam_channel::never(),
                },
                default(timeout) => self.waiting(|w| w.tick()),
            }
        }
    }

    /// Runs a duty that queries the database outside a round (a reload of boards, a
    /// heartbeat, a reconnection) under the health's waiting mark, so that a database that
    /// hangs during it is seen as stuck (`HealthState::stuck_for`) exactly as in a round:
    /// new commands then fail fast instead of queueing behind the hang.
    fn waiting(&mut self, duty: impl FnOnce(&mut Self)) {
        self.health.round_started(crate::now_ms());
        duty(self);
        self.health.round_finished();
    }

    /// How long to wait for work before the next timed duty.
    fn wait(&self) -> Duration {
        let now = Instant::now();
        let pg = &self.core.config().postgres;
        let due = if self.db.is_none() {
            self.next_attempt
        } else {
            self.last_used + pg.heartbeat
        };
        let mut d = due.saturating_duration_since(now);
        if self.core.feed_pending() {
            d = d.min(FLUSH_EVERY);
        }
        d.max(Duration::from_millis(1))
    }

    /// Run one batch (or refuse it while down). True when asked to stop.
    fn serve(&mut self, batch: Vec<Cmd>) -> bool {
        self.last_used = Instant::now();
        let Some(db) = self.db.as_mut() else {
            return refuse_all(batch, &Failure::Unavailable(self.health.writer.reason()));
        };
        let stop = self.core.round(db, batch);
        if let Some(reason) = db.lost() {
            self.lose(reason);
        }
        stop
    }

    /// Timed duties: flush the board feed, heartbeat an idle connection.
    fn tick(&mut self) {
        self.core.flush_feed();
        let pg = self.core.config().postgres.clone();
        if self.last_used.elapsed() < pg.heartbeat {
            return;
        }
        self.last_used = Instant::now();
        if let Some(db) = self.db.as_mut() {
            if let Err(reason) = db.ping(pg.connect_timeout) {
                self.lose(reason);
            }
        }
    }

    /// Boards changed by another process (coalesced with what else is queued).
    fn refresh(&mut self, first: Refresh, rx: &Receiver<Refresh>) {
        let mut all = false;
        let mut check = false;
        let mut games = BTreeSet::new();
        for r in std::iter::once(first).chain(rx.try_iter()) {
            match r {
                Refresh::All => all = true,
                Refresh::Check => check = true,
                Refresh::Game(g) => {
                    games.insert(g);
                }
            }
        }
        if check {
            let timeout = self.core.config().postgres.connect_timeout;
            if let Some(db) = self.db.as_mut() {
                if let Err(reason) = db.ping(timeout) {
                    self.lose(reason);
                }
            }
        }
        let Some(db) = self.db.as_mut() else {
            return; // every board is reloaded on reconnection
        };
        if all {
            if self.core.load_games(db).is_ok() {
                games = self.core.games().cloned().collect();
            }
        } else {
            for g in &games {
                self.core.know_game(g);
            }
        }
        self.core.publish(db, &games);
        if let Some(reason) = db.lost() {
            self.lose(reason);
        }
    }

    fn publish_all(&mut self) {
        if let Some(db) = self.db.as_mut() {
            let games: BTreeSet<String> = self.core.games().cloned().collect();
            self.core.publish(db, &games);
        }
    }

    /// The connection broke: go down and schedule the first reconnection.
    fn lose(&mut self, reason: String) {
        self.db = None;
        self.health.writer.set_down(&reason);
        self.backoff = self.core.config().postgres.backoff_min;
        self.next_attempt = Instant::now() + self.backoff;
    }

    /// One reconnection attempt; on failure the next waits twice as long.
    fn reconnect(&mut self) {
        let attempt = self.connector.connect().and_then(|mut client| {
            schema::check_not_newer(schema::pg_version(&mut client)?)?;
            Ok(client)
        });
        match attempt {
            Ok(client) => {
                let mut db = PgDb::new(client, self.origin);
                let _ = self.core.load_games(&mut db);
                self.db = Some(db);
                self.health.writer.set_up();
                self.backoff = self.core.config().postgres.backoff_min;
                self.last_used = Instant::now();
                // Other processes may have changed any board meanwhile.
                self.publish_all();
            }
            Err(e) => {
                let reason = match e {
                    crate::StorageError::Connect { url, source } => format!(
                        "cannot connect to {url}: {}",
                        crate::sql::DbError::Pg(source).message()
                    ),
                    e => e.to_string(),
                };
                self.health.writer.set_down(&reason);
                let max = self.core.config().postgres.backoff_max;
                self.next_attempt = Instant::now() + self.backoff;
                self.backoff = (self.backoff * 2).min(max);
            }
        }
    }
}
