//! Shared helpers of the storage integration tests: a database of either
//! engine behind one type ([`TestDb`]), the [`on_both!`] macro that runs one
//! test body against SQLite and against a real throwaway PostgreSQL, and
//! [`start`]/[`finish`] to queue many commands without awaiting each.

#![allow(dead_code)]

pub mod pg;

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::time::{Duration, Instant};

use futures_lite::future::{block_on, poll_once};
use storage::{BoardReceiver, Storage, StorageConfig};

/// A fresh database of one engine; dropped = deleted.
pub struct TestDb {
    pub cfg: StorageConfig,
    pub pg: Option<pg::TestPg>,
    dir: Option<PathBuf>,
}

impl TestDb {
    /// A SQLite file in a fresh temporary directory.
    pub fn sqlite(tag: &str) -> TestDb {
        let dir = std::env::temp_dir().join(format!(
            "rc-storage-it-{tag}-{}-{}",
            std::process::id(),
            storage::now_ms()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        TestDb {
            cfg: StorageConfig::new(dir.join("t.db")),
            pg: None,
            dir: Some(dir),
        }
    }

    /// A fresh PostgreSQL cluster.
    pub fn postgres() -> TestDb {
        let pg = pg::TestPg::start();
        let mut cfg = StorageConfig::postgres(&pg.url());
        // Tests want outages noticed and healed quickly.
        cfg.postgres.heartbeat = Duration::from_millis(200);
        cfg.postgres.backoff_max = Duration::from_millis(800);
        TestDb {
            cfg,
            pg: Some(pg),
            dir: None,
        }
    }

    pub fn is_postgres(&self) -> bool {
        self.pg.is_some()
    }

    /// Open a handle with two board subscribers.
    pub fn open(&self) -> (Storage, Vec<BoardReceiver>) {
        self.open_with(|_| {})
    }

    /// Open a handle after adjusting the settings.
    pub fn open_with(&self, f: impl FnOnce(&mut StorageConfig)) -> (Storage, Vec<BoardReceiver>) {
        let mut cfg = self.cfg.clone();
        cfg.subscribers = 2;
        f(&mut cfg);
        Storage::open(cfg).expect("open storage")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some(d) = &self.dir {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

/// Run each named test body (`fn name(db: TestDb)`) once on SQLite and once
/// on PostgreSQL: tests `name::sqlite` and `name::postgres`.
#[macro_export]
macro_rules! on_both {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[test]
                fn sqlite() {
                    super::$name(super::support::TestDb::sqlite(stringify!($name)));
                }
                #[test]
                fn postgres() {
                    super::$name(super::support::TestDb::postgres());
                }
            }
        )*
    };
}

/// A command that was sent (or already answered).
pub enum Started<F: Future> {
    Done(F::Output),
    Waiting(Pin<Box<F>>),
}

/// Poll each future once, so its command is queued, without waiting.
pub fn start<F: Future>(futs: impl IntoIterator<Item = F>) -> Vec<Started<F>> {
    futs.into_iter()
        .map(|f| {
            let mut f = Box::pin(f);
            match block_on(poll_once(f.as_mut())) {
                Some(v) => Started::Done(v),
                None => Started::Waiting(f),
            }
        })
        .collect()
}

/// Await every started command, in order.
pub fn finish<F: Future>(started: Vec<Started<F>>) -> Vec<F::Output> {
    started
        .into_iter()
        .map(|s| match s {
            Started::Done(v) => v,
            Started::Waiting(f) => block_on(f),
        })
        .collect()
}

/// Poll `f` until it returns `Some` or `limit` passes.
pub fn eventually<T>(limit: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
