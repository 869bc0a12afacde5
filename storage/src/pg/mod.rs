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
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
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
///
/// The driver bounds only the TCP connect (`connect_timeout`); a server that accepts the
/// connection and then says nothing (not PostgreSQL, or a hung one) would hold its start-up
/// exchange forever. So each attempt runs on a short-lived thread and is given up after
/// [`Connector::deadline`]; an attempt given up on is waited for again by the next one instead
/// of a new thread being started, so a silent server ties up at most one thread per connector.
pub(crate) struct Connector {
    config: postgres::Config,
    /// The URL without its password.
    url: String,
    /// Longest wait for one attempt: the TCP connect to each of the URL's hosts in turn, plus
    /// the start-up exchange. (A host name resolving to several addresses gets one connect
    /// timeout in this sum while the driver may spend one per address.)
    deadline: Duration,
    /// An attempt that outlived its deadline and may still finish.
    late: Mutex<Option<Receiver<Result<Client, postgres::Error>>>>,
}

impl Clone for Connector {
    /// The same settings; an attempt still pending stays with the original.
    fn clone(&self) -> Connector {
        Connector {
            config: self.config.clone(),
            url: self.url.clone(),
            deadline: self.deadline,
            late: Mutex::new(None),
        }
    }
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
        // The kernel counts keep-alive idle time in whole seconds (0 is refused).
        config.keepalives_idle(pg.io_timeout.max(Duration::from_secs(1)));
        if config.get_application_name().is_none() {
            config.application_name("roomcore");
        }
        let tcp = config
            .get_connect_timeout()
            .copied()
            .unwrap_or(pg.connect_timeout);
        // The driver tries the URL's hosts in turn, each within the connect timeout.
        let hosts = u32::try_from(config.get_hosts().len().max(1)).unwrap_or(u32::MAX);
        Ok(Connector {
            config,
            url,
            deadline: tcp.saturating_mul(hosts) + pg.io_timeout,
            late: Mutex::new(None),
        })
    }

    /// One connection attempt, given up after [`Connector::deadline`].
    pub(crate) fn connect(&self) -> Result<Client, StorageError> {
        let pending = self.late.lock().unwrap_or_else(|p| p.into_inner()).take();
        // An attempt given up earlier is awaited again only while it is still pending: one
        // that has finished since holds an out-of-date answer (an error from a server since
        // restarted, or a connection idle since then), so it is dropped for a fresh attempt.
        let pending = pending.filter(still_pending);
        let rx = match pending {
            Some(rx) => rx,
            None => {
                let (tx, rx) = crossbeam_channel::bounded(1);
                let config = self.config.clone();
                std::thread::Builder::new()
                    .name("storage-connect".into())
                    .spawn(move || {
                        let _ = tx.send(config.connect(NoTls));
                    })
                    .map_err(StorageError::Spawn)?;
                rx
            }
        };
        match rx.recv_timeout(self.deadline) {
            Ok(r) => r.map_err(|source| StorageError::Connect {
                url: self.url.clone(),
                source,
            }),
            Err(RecvTimeoutError::Timeout) => {
                *self.late.lock().unwrap_or_else(|p| p.into_inner()) = Some(rx);
                Err(StorageError::NoAnswer {
                    url: self.url.clone(),
                    after: self.deadline,
                })
            }
            // The attempt's thread panicked inside the driver.
            Err(RecvTimeoutError::Disconnected) => Err(StorageError::Unavailable {
                reason: format!("cannot connect to {}: the driver failed", self.url),
            }),
        }
    }
}

/// The attempt behind `rx` has not answered yet. An answer that came meanwhile is taken and
/// dropped (a connection it holds is closed); a thread gone without answering (a panic in the
/// driver) is not pending either.
fn still_pending<T>(rx: &Receiver<T>) -> bool {
    matches!(rx.try_recv(), Err(crossbeam_channel::TryRecvError::Empty))
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Threads of this process named `storage-connect`.
    fn connect_threads() -> usize {
        std::fs::read_dir("/proc/self/task")
            .unwrap()
            .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
            .filter(|c| c.trim() == "storage-connect")
            .count()
    }

    #[test]
    fn the_deadline_allows_each_host_its_connect_timeout() {
        let mut cfg = StorageConfig::postgres("postgres://ann@h1,h2,h3/rc");
        cfg.postgres.connect_timeout = Duration::from_millis(200);
        cfg.postgres.io_timeout = Duration::from_millis(300);
        assert_eq!(
            Connector::new(&cfg).unwrap().deadline,
            Duration::from_millis(900)
        );
        let cfg = StorageConfig::postgres("postgres://ann@h1/rc?connect_timeout=2");
        let io = cfg.postgres.io_timeout;
        assert_eq!(
            Connector::new(&cfg).unwrap().deadline,
            Duration::from_secs(2) + io
        );
    }

    #[test]
    fn a_silent_server_is_given_up_on_and_ties_up_one_thread() {
        // Takes connections into its backlog and never answers.
        let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = silent.local_addr().unwrap().port();
        let mut cfg = StorageConfig::postgres(&format!("postgres://ann:pw@127.0.0.1:{port}/rc"));
        cfg.postgres.connect_timeout = Duration::from_millis(200);
        cfg.postgres.io_timeout = Duration::from_millis(300);
        let c = Connector::new(&cfg).unwrap();
        for _ in 0..3 {
            let t0 = std::time::Instant::now();
            let e = c.connect().err().expect("a silent server cannot connect");
            assert!(t0.elapsed() >= Duration::from_millis(500), "{e}");
            assert!(matches!(e, StorageError::NoAnswer { .. }), "{e}");
            assert!(e.to_string().contains("within 500 ms"), "{e}");
            assert!(!e.to_string().contains(":pw@"), "{e}");
        }
        // The three attempts waited on one thread, still blocked in the driver.
        assert_eq!(connect_threads(), 1);
        // Once the server hangs up, that attempt ends with the driver's error...
        drop(silent);
        let t0 = std::time::Instant::now();
        while connect_threads() > 0 {
            assert!(
                t0.elapsed() < Duration::from_secs(5),
                "the attempt never ended"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        // ...which is out of date by the next attempt: a server silent again on the same port
        // is tried afresh (given up on again), not answered with the old error.
        let silent = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
        let e = c.connect().err().expect("a silent server cannot connect");
        assert!(matches!(e, StorageError::NoAnswer { .. }), "{e}");
        drop(silent);
        let e = c.connect().err().expect("nothing listens any more");
        assert!(matches!(e, StorageError::Connect { .. }), "{e}");
    }
}
