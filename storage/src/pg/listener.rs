//! The `storage-listen` thread: owns the second PostgreSQL connection,
//! `LISTEN`s for board changes committed by other processes and hands their
//! games to the writer (which re-reads and publishes them). After every
//! (re)connection it asks for every board, since notifications sent while it
//! was away are lost. Reconnects with the same capped exponential backoff as
//! the writer, and reports its state in `HealthState::listener`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TryRecvError, TrySendError};
use fallible_iterator::FallibleIterator;
use postgres::Client;

use super::conn::{parse_payload, CHANNEL};
use super::Connector;
use crate::config::PostgresConfig;
use crate::error::StorageError;
use crate::health::HealthState;

/// What the listener asks of the writer.
#[derive(Debug)]
pub(crate) enum Refresh {
    /// Re-read this game's boards.
    Game(String),
    /// Re-read every board.
    All,
    /// The listener lost its connection: check yours now.
    Check,
}

/// How long one wait for a notification lasts (the stop signal is checked
/// between waits).
const WAIT: Duration = Duration::from_millis(200);

struct Listener {
    connector: Connector,
    origin: u64,
    health: Arc<HealthState>,
    tx: Sender<Refresh>,
    stop: Receiver<()>,
    pg: PostgresConfig,
}

/// Start the thread. The returned channel yields once the first connection
/// attempt finished (listening or not).
pub(crate) fn spawn(
    connector: Connector,
    origin: u64,
    health: Arc<HealthState>,
    tx: Sender<Refresh>,
    stop: Receiver<()>,
    done: Sender<()>,
    pg: PostgresConfig,
) -> Result<Receiver<()>, StorageError> {
    let (first_tx, first) = crossbeam_channel::bounded(1);
    let l = Listener {
        connector,
        origin,
        health,
        tx,
        stop,
        pg,
    };
    std::thread::Builder::new()
        .name("storage-listen".into())
        .spawn(move || {
            let _done = done;
            l.run(first_tx);
        })
        .map_err(StorageError::Spawn)?;
    Ok(first)
}

impl Listener {
    fn run(self, first: Sender<()>) {
        let mut first = Some(first);
        let mut backoff = self.pg.backoff_min;
        loop {
            let attempt = self.connector.connect().and_then(|mut c| {
                c.batch_execute(&format!("LISTEN {CHANNEL}"))
                    .map_err(|e| crate::sql::DbError::Pg(e).into_storage("listen"))?;
                Ok(c)
            });
            match attempt {
                Ok(mut client) => {
                    self.health.listener.set_up();
                    if let Some(f) = first.take() {
                        let _ = f.send(());
                    }
                    backoff = self.pg.backoff_min;
                    match self.serve(&mut client) {
                        None => return,
                        Some(reason) => {
                            self.health.listener.set_down(&reason);
                            let _ = self.tx.try_send(Refresh::Check);
                        }
                    }
                }
                Err(e) => {
                    self.health.listener.set_down(&e.to_string());
                    if let Some(f) = first.take() {
                        let _ = f.send(());
                    }
                }
            }
            match self.stop.recv_timeout(backoff) {
                Err(RecvTimeoutError::Timeout) => {}
                _ => return,
            }
            backoff = (backoff * 2).min(self.pg.backoff_max);
        }
    }

    /// Forward notifications until the connection fails (its reason) or
    /// the writer stops (`None`).
    fn serve(&self, client: &mut Client) -> Option<String> {
        // Ask for every board first: changes made while not listening were missed.
        let mut all_pending = true;
        let mut checked = Instant::now();
        loop {
            if all_pending {
                match self.tx.try_send(Refresh::All) {
                    Ok(()) => all_pending = false,
                    Err(TrySendError::Full(_)) => {}
                    Err(TrySendError::Disconnected(_)) => return None,
                }
            }
            match self.stop.try_recv() {
                Err(TryRecvError::Empty) => {}
                _ => return None,
            }
            let began = Instant::now();
            let next = client.notifications().timeout_iter(WAIT).next();
            match next {
                Ok(Some(n)) => match parse_payload(n.payload()) {
                    Some((origin, _)) if origin == self.origin => {}
                    Some((_, Some(game))) => {
                        match self.tx.try_send(Refresh::Game(game.to_string())) {
                            Ok(()) => {}
                            Err(TrySendError::Full(_)) => all_pending = true,
                            Err(TrySendError::Disconnected(_)) => return None,
                        }
                    }
                    _ => all_pending = true,
                },
                Ok(None) => {
                    // `None` early means the server hung up; otherwise check
                    // the connection about once a heartbeat.
                    let early = began.elapsed() < WAIT / 2;
                    if early || checked.elapsed() >= self.pg.heartbeat {
                        checked = Instant::now();
                        if let Err(e) = client.is_valid(self.pg.connect_timeout) {
                            return Some(crate::sql::DbError::Pg(e).message());
                        }
                    }
                }
                Err(e) => return Some(crate::sql::DbError::Pg(e).message()),
            }
        }
    }
}
