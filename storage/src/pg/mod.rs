//! The PostgreSQL engine: the same commands, rounds and boards as SQLite,
//! with the database on a server that several roomcore processes share.
//!
//! Threads (none of them a shard): `storage` owns the writer connection and
//! runs the shared round (one transaction per batch, a savepoint per
//! command, replies after COMMIT); `storage-listen` owns a second connection
//! that `LISTEN`s on [`conn::CHANNEL`]. Every round that changed boards
//! sends `pg_notify` inside its transaction, so other processes hear of it
//! only once it committed; their listener hands the game to their writer,
//! which re-reads the board from SQL and publishes it to its shards (within
//! milliseconds; the listener skips its own process's notifications).
//!
//! Failure: a lost connection marks the writer down in [`HealthState`] with
//! the reason; the handle then refuses commands at once with
//! `StorageError::Unavailable`, commands already queued are answered the
//! same, a round cut off before COMMIT answers all its commands with an
//! error, and cached boards keep being served. The writer reconnects with
//! exponential backoff (`PostgresConfig::backoff_min` doubling to
//! `backoff_max`), then reloads every board (it may have missed changes).

pub(crate) mod conn;
mod listener;
mod worker;

use std::str::FromStr;
use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender};
use postgres::{Client, NoTls};

use crate::boards::BoardFeed;
use crate::cmd::Cmd;
use crate::config::{redact_url, StorageConfig};
use crate::error::StorageError;
use crate::handle::Counters;
use crate::health::HealthState;
use crate::schema;
use crate::worker::Core;

/// How to reach the server (parsed once, reused for every reconnection).
#[derive(Clone)]
pub(crate) struct Connector {
    config: postgres::Config,
    /// The URL without its password.
    url: String,
}

impl Connector {
    pub(crate) fn new(cfg: &StorageConfig) -> Result<Connector, StorageError> {
        let raw = cfg.database_url.as_deref().unwrap_or_default().trim();
        let url = redact_url(raw);
        let mut config = postgres::Config::from_str(raw)
            .map_err(|e| StorageError::Config(format!("database URL {url}: {e}")))?;
        let pg = &cfg.postgres;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(pg.connect_timeout);
        }
        if config.get_tcp_user_timeout().is_none() {
            config.tcp_user_timeout(pg.io_timeout);
        }
        config.keepalives(true);
        config.keepalives_idle(pg.io_timeout);
        if config.get_application_name().is_none() {
            config.application_name("roomcore");
        }
        Ok(Connector { config, url })
    }

    /// One connection attempt.
    pub(crate) fn connect(&self) -> Result<Client, StorageError> {
        self.config
            .connect(NoTls)
            .map_err(|source| StorageError::Connect {
                url: self.url.clone(),
                source,
            })
    }
}

/// Connect and bring the schema up to date (`migrate`), or check it is
/// current. Used by `Storage::open`, `migrate`, `export` and `import`.
pub(crate) fn connect_ready(cfg: &StorageConfig, migrate: bool) -> Result<Client, StorageError> {
    let mut client = Connector::new(cfg)?.connect()?;
    if migrate {
        schema::pg_migrate_to(&mut client, schema::VERSION)?;
    } else {
        schema::check(schema::pg_version(&mut client)?)?;
    }
    Ok(client)
}

/// A random id for this process's notifications.
fn origin() -> u64 {
    let mut b = [0u8; 8];
    if getrandom::getrandom(&mut b).is_err() {
        b = (crate::now_ms() as u64 ^ u64::from(std::process::id())).to_le_bytes();
    }
    u64::from_le_bytes(b)
}

/// Start the writer and listener threads; returns once the writer is
/// connected and migrated and the listener has made its first attempt.
pub(crate) fn spawn(
    cfg: StorageConfig,
    rx: Receiver<Cmd>,
    feed: BoardFeed,
    counters: Arc<Counters>,
    health: Arc<HealthState>,
    done: Sender<()>,
) -> Result<(), StorageError> {
    let connector = Connector::new(&cfg)?;
    let pg = cfg.postgres.clone();
    let origin = origin();
    let (opened_tx, opened) = crossbeam_channel::bounded(1);
    let (refresh_tx, refresh_rx) = crossbeam_channel::bounded(256);
    // The writer holds `stop_tx`; its exit (dropping it) stops the listener.
    let (stop_tx, stop_rx) = crossbeam_channel::bounded::<()>(0);
    let writer_connector = connector.clone();
    let writer_health = health.clone();
    let writer_done = done.clone();
    std::thread::Builder::new()
        .name("storage".into())
        .spawn(move || {
            let _done = writer_done;
            let started = connect_ready(&cfg, cfg.auto_migrate).and_then(|client| {
                let mut db = conn::PgDb::new(client, origin);
                let mut core = Core::new(cfg, feed, counters, writer_health.clone());
                core.load_games(&mut db)?;
                Ok((db, core))
            });
            match started {
                Ok((db, core)) => {
                    let _ = opened_tx.send(Ok(()));
                    worker::PgWorker::new(core, db, writer_connector, writer_health, origin)
                        .run(rx, refresh_rx, stop_tx);
                }
                Err(e) => {
                    let _ = opened_tx.send(Err(e));
                }
            }
        })
        .map_err(StorageError::Spawn)?;
    opened.recv().map_err(|_| StorageError::Closed)??;
    let listening = listener::spawn(
        connector,
        origin,
        health.clone(),
        refresh_tx,
        stop_rx,
        done,
        pg,
    )?;
    // Wait for the first LISTEN, so a change committed after `open` returns
    // is heard (bounded by the connect timeout).
    let _ = listening.recv();
    Ok(())
}
