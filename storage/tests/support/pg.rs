//! A throwaway PostgreSQL cluster for tests: `initdb` into a fresh temporary
//! directory, `pg_ctl start` on a free loopback port, and on drop (also
//! when the test panics) `pg_ctl stop` and the directory removed.
//!
//! Uses only `std`, so any test crate can include it:
//! ```ignore
//! #[path = "../../storage/tests/support/pg.rs"]
//! mod pg;
//! let db = pg::TestPg::start();
//! let url = db.url(); // postgres://roomcore@127.0.0.1:PORT/postgres
//! ```
//! PostgreSQL refuses to run as root: as root, the directory is given to the
//! `postgres` user and every server command runs through
//! `runuser -u postgres --`. The binaries are found in `$PG_BIN_DIR`, else
//! the newest `/usr/lib/postgresql/*/bin`, else `pg_config --bindir`, else
//! `PATH` (Debian's `postgresql` package; `scripts/test` installs it).
//! Authentication is `trust` on loopback only; superuser `roomcore`.

#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// The superuser of test clusters.
pub const USER: &str = "roomcore";

/// A running (or stopped) test cluster; dropped = stopped and deleted.
pub struct TestPg {
    dir: PathBuf,
    bin: PathBuf,
    port: u16,
    /// Run server commands as the `postgres` user (we are root).
    as_postgres: bool,
    running: bool,
    /// Stopped with SIGSTOP ([`TestPg::pause`]).
    paused: bool,
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

fn bin_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("PG_BIN_DIR") {
        return PathBuf::from(d);
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v = e.file_name().to_string_lossy().parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((v, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return bin;
    }
    if let Ok(o) = Command::new("pg_config").arg("--bindir").output() {
        let d = PathBuf::from(String::from_utf8_lossy(&o.stdout).trim());
        if d.join("initdb").exists() {
            return d;
        }
    }
    PathBuf::new() // rely on PATH
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free loopback port")
}

/// `uid:gid` of the `postgres` user.
fn postgres_ids() -> (u32, u32) {
    let id = |flag: &str| -> u32 {
        let o = Command::new("id")
            .args([flag, "postgres"])
            .output()
            .expect("run id");
        String::from_utf8_lossy(&o.stdout)
            .trim()
            .parse()
            .expect("running as root needs a `postgres` user (apt-get install postgresql)")
    };
    (id("-u"), id("-g"))
}

impl TestPg {
    /// A fresh cluster, started. Panics with the server's log on failure.
    pub fn start() -> TestPg {
        static SEQ: AtomicU32 = AtomicU32::new(0);
        let as_postgres = is_root();
        let dir = std::env::temp_dir().join(format!(
            "roomcore-pg-{}-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.subsec_nanos())
        ));
        std::fs::create_dir_all(&dir).expect("create the cluster directory");
        if as_postgres {
            let (uid, gid) = postgres_ids();
            std::os::unix::fs::chown(&dir, Some(uid), Some(gid)).expect("chown to postgres");
        }
        let mut pg = TestPg {
            dir,
            bin: bin_dir(),
            port: 0,
            as_postgres,
            running: false,
            paused: false,
        };
        let data = pg.data_dir();
        let out = pg.server_cmd(
            "initdb",
            &[
                "-D",
                path_str(&data),
                "-U",
                USER,
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--no-sync",
                "--no-instructions",
            ],
        );
        pg.check(&out, "initdb");
        // A port is free when probed; another process may take it before the
        // server binds it, so retry a few times.
        for attempt in 0..5 {
            pg.port = free_port();
            if pg.try_start() {
                return pg;
            }
            if attempt == 4 {
                let log = std::fs::read_to_string(pg.log_path()).unwrap_or_default();
                panic!("PostgreSQL did not start:\n{log}");
            }
        }
        unreachable!()
    }

    /// `postgres://roomcore@127.0.0.1:PORT/postgres`.
    pub fn url(&self) -> String {
        self.url_for("postgres")
    }

    /// The URL of database `db` of this cluster.
    pub fn url_for(&self, db: &str) -> String {
        format!("postgres://{USER}@127.0.0.1:{}/{db}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Create another database (for tests wanting two separate ones).
    pub fn create_database(&self, name: &str) {
        self.psql("postgres", &format!("CREATE DATABASE \"{name}\""));
    }

    /// Run SQL with `psql` on database `db`; its output (unaligned, tuples only).
    pub fn psql(&self, db: &str, sql: &str) -> String {
        let out = Command::new(self.tool("psql"))
            .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"])
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-U", USER])
            .args(["-d", db, "-c", sql])
            .output()
            .expect("run psql");
        assert!(
            out.status.success(),
            "psql {sql:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// `pg_ctl stop -m fast`: the server goes away, open connections break.
    pub fn stop(&mut self) {
        if self.running {
            let out = self.pg_ctl(&["-m", "fast", "-w", "stop"]);
            self.check(&out, "pg_ctl stop");
            self.running = false;
        }
    }

    /// Hang the server without closing anything: SIGSTOP to the postmaster and every backend.
    /// Its kernel still takes connections and data; nothing answers.
    pub fn pause(&mut self) {
        // Marked first: a drop after a failure half-way still sends SIGCONT before stopping.
        self.paused = true;
        self.signal("-STOP");
    }

    /// Let a paused server run again (SIGCONT).
    pub fn resume(&mut self) {
        self.signal("-CONT");
        self.paused = false;
    }

    /// Send `sig` (`kill` syntax) to the postmaster, then to its children (listed after the
    /// postmaster got it, so a stopped postmaster forks no new one; a child that exits
    /// meanwhile is skipped).
    fn signal(&self, sig: &str) {
        let pidfile = std::fs::read_to_string(self.data_dir().join("postmaster.pid"))
            .expect("postmaster.pid of a running server");
        let master = pidfile.lines().next().unwrap().trim().to_string();
        let out = Command::new("kill").arg(sig).arg(&master).output().unwrap();
        self.check(&out, "kill the postmaster");
        for e in std::fs::read_dir("/proc").unwrap().flatten() {
            let stat = std::fs::read_to_string(e.path().join("stat")).unwrap_or_default();
            // pid (comm) state ppid ...: the fields after the last ')'.
            let ppid = stat
                .rsplit(')')
                .next()
                .and_then(|r| r.split_whitespace().nth(1));
            if ppid == Some(master.as_str()) {
                let _ = Command::new("kill").arg(sig).arg(e.file_name()).output();
            }
        }
    }

    /// Start the stopped server again on the same port and data.
    pub fn restart(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.try_start() {
            assert!(
                Instant::now() < deadline,
                "PostgreSQL did not start again: {}",
                std::fs::read_to_string(self.log_path()).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn try_start(&mut self) -> bool {
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=50",
            self.port,
            path_str(&self.dir)
        );
        let data = self.data_dir();
        let log = self.log_path();
        let out = self.pg_ctl_with(&[
            "-D",
            path_str(&data),
            "-l",
            path_str(&log),
            "-w",
            "-t",
            "30",
            "-o",
            &opts,
            "start",
        ]);
        self.running = out.status.success();
        self.running
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn log_path(&self) -> PathBuf {
        self.dir.join("server.log")
    }

    fn tool(&self, name: &str) -> PathBuf {
        if self.bin.as_os_str().is_empty() {
            PathBuf::from(name)
        } else {
            self.bin.join(name)
        }
    }

    /// Run a server binary, as `postgres` when we are root.
    fn server_cmd(&self, name: &str, args: &[&str]) -> Output {
        let tool = self.tool(name);
        let mut cmd = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&tool);
            c
        } else {
            Command::new(&tool)
        };
        cmd.args(args)
            .current_dir(&self.dir)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", tool.display()))
    }

    fn pg_ctl_with(&self, args: &[&str]) -> Output {
        self.server_cmd("pg_ctl", args)
    }

    fn pg_ctl(&self, args: &[&str]) -> Output {
        let data = self.data_dir();
        let mut all = vec!["-D", path_str(&data)];
        all.extend_from_slice(args);
        self.server_cmd("pg_ctl", &all)
    }

    fn check(&self, out: &Output, what: &str) {
        assert!(
            out.status.success(),
            "{what} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("temp paths are UTF-8")
}

impl Drop for TestPg {
    fn drop(&mut self) {
        if self.paused {
            self.resume();
        }
        if self.running {
            let _ = self.pg_ctl(&["-m", "immediate", "-w", "stop"]);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
