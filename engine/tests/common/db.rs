//! The database a test server stores into: [`Backend`] names the engine, [`TestDb`] owns one
//! fresh database of it for a test (a data directory, plus for PostgreSQL a throwaway cluster
//! from `storage/tests/support/pg.rs`), and starts servers on it (`DATABASE_URL`), runs the
//! database subcommands on it, and names it for `storage::inspect`. [`on_both!`] runs one test
//! body on each engine.
//!
//! A cluster per `TestDb`: nextest runs every test in its own process, so a cluster shared
//! by a test binary would still start once per test (initdb + start ≈ 1.3 s on the CI VM).

use std::path::{Path, PathBuf};
use std::process::Command;

use super::pg::TestPg;
use super::{temp_dir, Server};

/// Which database engine a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// The embedded default: `<data-dir>/roomcore.db`.
    Sqlite,
    /// A throwaway PostgreSQL cluster on a free loopback port (`DATABASE_URL`).
    Postgres,
}

/// Settings that make a PostgreSQL outage noticed and healed quickly in tests.
const PG_TEST_ENV: [(&str, &str); 2] = [
    ("DATABASE_HEARTBEAT_MS", "200"),
    ("DATABASE_BACKOFF_MAX_MS", "800"),
];

/// One fresh database of one engine; dropped = the cluster stopped and deleted.
pub struct TestDb {
    pub backend: Backend,
    /// The data directory of the first server (the SQLite file, the token secret).
    pub dir: PathBuf,
    /// The cluster, for PostgreSQL (stop/restart it to simulate an outage).
    pub pg: Option<TestPg>,
}

impl TestDb {
    /// A fresh database: an empty data directory, and for PostgreSQL a new cluster.
    pub fn new(backend: Backend, tag: &str) -> TestDb {
        let pg = (backend == Backend::Postgres).then(TestPg::start);
        TestDb {
            backend,
            dir: temp_dir(tag),
            pg,
        }
    }

    /// `DATABASE_URL` of the PostgreSQL database (None on SQLite).
    pub fn url(&self) -> Option<String> {
        self.pg.as_ref().map(TestPg::url)
    }

    /// Start a server on this database in its data directory; waits for `/ready`.
    pub fn start(&self, extra: &[&str], env: &[(&str, &str)]) -> Server {
        self.start_in(&self.dir, extra, env)
    }

    /// Start a server on this database with another data directory (a second process
    /// sharing a PostgreSQL database). The database's variables come first, so the test's
    /// own `env` wins.
    pub fn start_in(&self, dir: &Path, extra: &[&str], env: &[(&str, &str)]) -> Server {
        let url = self.url();
        let mut all: Vec<(&str, &str)> = Vec::new();
        if let Some(u) = &url {
            all.push(("DATABASE_URL", u));
            all.extend_from_slice(&PG_TEST_ENV);
        }
        all.extend_from_slice(env);
        Server::start_in(dir, extra, &all)
    }

    /// `roomcore` with this database selected (for `migrate`, `export`, `import`, or a start
    /// expected to fail), not started.
    pub fn command(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_roomcore"));
        cmd.arg("--data-dir")
            .arg(&self.dir)
            .env("LOG_LEVEL", "warn")
            .env_remove("DATABASE_URL");
        if let Some(u) = self.url() {
            cmd.env("DATABASE_URL", u).envs(PG_TEST_ENV);
        }
        cmd
    }

    /// Where the data lives, for `storage::inspect`.
    pub fn storage_config(&self) -> storage::StorageConfig {
        match self.url() {
            Some(u) => storage::StorageConfig::postgres(&u),
            None => storage::StorageConfig::new(self.dir.join("roomcore.db")),
        }
    }

    /// The cluster (PostgreSQL tests only).
    pub fn pg_mut(&mut self) -> &mut TestPg {
        self.pg.as_mut().expect("a PostgreSQL test database")
    }
}

/// Run each named test body (`fn name(b: Backend)`) once on SQLite and once on PostgreSQL:
/// tests `name::sqlite` and `name::postgres`.
#[macro_export]
macro_rules! on_both {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[test]
                fn sqlite() {
                    super::$name($crate::common::Backend::Sqlite);
                }
                #[test]
                fn postgres() {
                    super::$name($crate::common::Backend::Postgres);
                }
            }
        )*
    };
}
