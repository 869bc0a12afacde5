//! [`Storage`]: the `Clone + Send` handle every shard holds.
//!
//! Every call `try_send`s one command over the bounded channel (a full queue
//! is an immediate [`StorageError::Busy`], never a blocked shard) and returns
//! a future of the oneshot reply, which the thread sends after the command's
//! transaction committed; while the database is known to be down
//! (PostgreSQL) it is an immediate [`StorageError::Unavailable`]. Owns
//! opening (per engine) and closing the persistence thread, and reading its
//! health and counters.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender, TrySendError};
use futures_channel::oneshot;

use crate::boards::{BoardFeed, BoardReceiver};
use crate::cmd::{Cmd, Reply};
use crate::config::{Engine, StorageConfig};
use crate::error::StorageError;
use crate::health::{HealthState, StorageHealth};
use crate::model::{Account, Credentials, Period, RoomRow, ScoreAck, Standing};

/// Capacity of each shard's board channel: room for one entry per board
/// (all-time and daily of every game), so compaction always fits.
fn board_channel(cfg: &StorageConfig) -> usize {
    (2 * cfg.max_games + 16).max(64)
}

/// Counters the persistence thread keeps (read by `/health` and tests).
#[derive(Debug, Default)]
pub struct Counters {
    /// Transactions committed.
    pub rounds: AtomicU64,
    /// Commands answered from committed transactions.
    pub commands: AtomicU64,
    /// Largest number of commands in one transaction.
    pub max_batch: AtomicU64,
    /// Transactions whose COMMIT failed.
    pub failed_commits: AtomicU64,
}

/// A copy of [`Counters`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CounterSnapshot {
    pub rounds: u64,
    pub commands: u64,
    pub max_batch: u64,
    pub failed_commits: u64,
}

/// A handle to the persistence thread.
#[derive(Clone, Debug)]
pub struct Storage {
    tx: Sender<Cmd>,
    capacity: usize,
    /// Disconnects (`recv` errors) when the thread has exited.
    done: Receiver<()>,
    cfg: Arc<StorageConfig>,
    counters: Arc<Counters>,
    health: Arc<HealthState>,
    engine: Engine,
    /// `db.system` of the command spans.
    db_system: &'static str,
}

impl std::fmt::Debug for Cmd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Cmd")
    }
}

impl Storage {
    /// Start the persistence thread(s): open the database (SQLite file, or
    /// PostgreSQL when `database_url` is `postgres://…`), migrate it (unless
    /// `auto_migrate` is off), load the boards. Returns once the database is
    /// open (or failed to open), with one board receiver per subscriber.
    /// Blocks the caller for that long: call it before the shards start.
    pub fn open(cfg: StorageConfig) -> Result<(Storage, Vec<BoardReceiver>), StorageError> {
        let engine = cfg.engine()?;
        let capacity = cfg.queue_capacity.max(1);
        let (tx, rx) = crossbeam_channel::bounded::<Cmd>(capacity);
        let (done_tx, done) = crossbeam_channel::bounded::<()>(0);
        let (feed, receivers) = BoardFeed::new(cfg.subscribers, board_channel(&cfg));
        let counters = Arc::new(Counters::default());
        let stuck_ms = i64::try_from(cfg.stuck_after.as_millis()).unwrap_or(i64::MAX);
        let health = Arc::new(HealthState::new(stuck_ms));
        let thread_cfg = cfg.clone();
        let (c, h) = (counters.clone(), health.clone());
        match engine {
            Engine::Sqlite => crate::sqlite::spawn(thread_cfg, rx, feed, c, h, done_tx)?,
            Engine::Postgres => crate::pg::spawn(thread_cfg, rx, feed, c, h, done_tx)?,
        }
        Ok((
            Storage {
                tx,
                capacity,
                done,
                cfg: Arc::new(cfg),
                counters,
                health,
                engine,
                db_system: crate::trace::db_system(engine.as_str()),
            },
            receivers,
        ))
    }

    /// Which database this handle writes to.
    pub fn engine(&self) -> Engine {
        self.engine
    }

    /// Whether the database is reachable, without blocking (an atomic load,
    /// and a `try_lock` of the reason only when unhealthy): cheap enough for
    /// every `/ready` or `/health` request from any shard. False while the
    /// PostgreSQL connection (or its listener) is down, while a round has run
    /// longer than `stuck_after`, and once the thread has stopped.
    pub fn health(&self) -> StorageHealth {
        if matches!(
            self.done.try_recv(),
            Err(crossbeam_channel::TryRecvError::Disconnected)
        ) {
            return StorageHealth {
                ok: false,
                reason: Some("the persistence thread has stopped".into()),
            };
        }
        self.health.snapshot(crate::now_ms())
    }

    /// The settings the thread runs with.
    pub fn config(&self) -> &StorageConfig {
        &self.cfg
    }

    /// What the thread has committed so far.
    pub fn counters(&self) -> CounterSnapshot {
        let c = &self.counters;
        CounterSnapshot {
            rounds: c.rounds.load(Ordering::Relaxed),
            commands: c.commands.load(Ordering::Relaxed),
            max_batch: c.max_batch.load(Ordering::Relaxed),
            failed_commits: c.failed_commits.load(Ordering::Relaxed),
        }
    }

    /// Commands waiting in the queue now.
    pub fn queue_depth(&self) -> usize {
        self.tx.len()
    }

    /// Most commands the queue holds.
    pub fn queue_capacity(&self) -> usize {
        self.capacity
    }

    fn send<T>(
        &self,
        make: impl FnOnce(Reply<T>) -> Cmd,
    ) -> Result<oneshot::Receiver<Result<T, StorageError>>, StorageError> {
        if self.health.writer.is_down() {
            // Fail fast: the database is known to be unreachable.
            return Err(StorageError::Unavailable {
                reason: self.health.writer.reason(),
            });
        }
        if let Some(ms) = self.health.stuck_for(crate::now_ms()) {
            // Fail fast too: the writer has waited past `stuck_after` (a hung
            // database answers nothing, and its kernel keeps the connection alive), so this
            // command would only queue behind it. Commands already queued stay queued.
            return Err(StorageError::Unavailable {
                reason: crate::health::stuck_reason(ms),
            });
        }
        let (tx, rx) = oneshot::channel();
        let cmd = make(Reply::new(tx, crate::trace::command(self.db_system)));
        crate::trace::named(&cmd);
        match self.tx.try_send(cmd) {
            Ok(()) => Ok(rx),
            Err(TrySendError::Full(cmd)) => {
                let e = StorageError::Busy {
                    capacity: self.capacity,
                };
                if let Some(s) = cmd.span() {
                    crate::trace::failed(s, &e);
                }
                Err(e)
            }
            Err(TrySendError::Disconnected(_)) => Err(StorageError::Closed),
        }
    }

    pub(crate) async fn call<T>(
        &self,
        make: impl FnOnce(Reply<T>) -> Cmd,
    ) -> Result<T, StorageError> {
        let rx = self.send(make)?;
        rx.await.map_err(|_| StorageError::Closed)?
    }

    /// Create a registered account with an argon2id PHC hash.
    pub async fn create_account(
        &self,
        username: &str,
        password_hash: String,
    ) -> Result<Account, StorageError> {
        let username = Some(username.to_string());
        self.call(|reply| Cmd::CreateAccount {
            username,
            password_hash: Some(password_hash),
            reply,
        })
        .await
    }

    /// Create a guest account with a fresh random name.
    pub async fn create_guest(&self) -> Result<Account, StorageError> {
        self.call(|reply| Cmd::CreateAccount {
            username: None,
            password_hash: None,
            reply,
        })
        .await
    }

    /// Look an account up by username (case-insensitive).
    pub async fn find_account(&self, username: &str) -> Result<Option<Credentials>, StorageError> {
        let username = username.to_string();
        self.call(|reply| Cmd::FindAccount { username, reply })
            .await
    }

    /// Store a score durably.
    pub async fn add_score(
        &self,
        user_id: i64,
        game: &str,
        score: i64,
    ) -> Result<ScoreAck, StorageError> {
        let game = game.to_string();
        self.call(|reply| Cmd::AddScore {
            user_id,
            game,
            score,
            reply,
        })
        .await
    }

    /// A player's best and rank on a board.
    pub async fn standing(
        &self,
        user_id: i64,
        game: &str,
        period: Period,
    ) -> Result<Option<Standing>, StorageError> {
        let game = game.to_string();
        self.call(|reply| Cmd::Standing {
            user_id,
            game,
            period,
            reply,
        })
        .await
    }

    /// Save room snapshots (all in one savepoint).
    pub async fn save_rooms(&self, rows: Vec<RoomRow>) -> Result<(), StorageError> {
        self.call(|reply| Cmd::SaveRooms { rows, reply }).await
    }

    /// Every room snapshot of `kind`.
    pub async fn load_rooms(&self, kind: &str) -> Result<Vec<RoomRow>, StorageError> {
        let kind = kind.to_string();
        self.call(|reply| Cmd::LoadRooms { kind, reply }).await
    }

    /// Delete a room snapshot; true if it existed.
    pub async fn delete_room(&self, id: &str) -> Result<bool, StorageError> {
        let id = id.to_string();
        self.call(|reply| Cmd::DeleteRoom { id, reply }).await
    }

    /// Delete room snapshots not updated since `cutoff_ms`.
    pub async fn sweep_rooms(&self, cutoff_ms: i64) -> Result<usize, StorageError> {
        self.call(|reply| Cmd::SweepRooms { cutoff_ms, reply })
            .await
    }

    /// A round trip through the persistence thread (including a commit).
    pub async fn ping(&self) -> Result<(), StorageError> {
        self.call(|reply| Cmd::Ping { reply }).await
    }

    /// Test hook: make the thread sleep for `pause` (returns once queued).
    pub fn stall(&self, pause: Duration) -> Result<(), StorageError> {
        self.send(|reply| Cmd::Stall { pause, reply }).map(drop)
    }

    /// Commit what is queued and stop the thread; waits up to `limit` for it.
    /// Call from a non-shard thread (it blocks).
    pub fn close(&self, limit: Duration) -> bool {
        let deadline = std::time::Instant::now() + limit;
        if self.tx.send_deadline(Cmd::Shutdown, deadline).is_err() {
            return false;
        }
        matches!(
            self.done.recv_deadline(deadline),
            Err(crossbeam_channel::RecvTimeoutError::Disconnected)
        )
    }

    /// The writer cannot make progress now: the database is known to be down, or it has not
    /// answered for longer than `stuck_after`. (Other unhealthy states, such as a down board
    /// listener or a recent lack of space, leave the writer working.)
    pub fn stalled(&self) -> bool {
        self.health.writer.is_down() || self.health.stuck_for(crate::now_ms()).is_some()
    }
}
