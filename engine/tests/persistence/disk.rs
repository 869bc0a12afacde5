//! The disk under the database fills up, through the real binary: a small tmpfs mounted by the
//! test (root: the test machines run as root), then filled. For SQLite the data directory is on
//! it (the COMMIT fails); for PostgreSQL a tablespace holding every table and index (the
//! statement extending a table fails with `disk_full`, before any COMMIT). Writes answer 503
//! with `Retry-After` (never a 500), `/health` and `/ready` say there is no space, reads and
//! probes keep answering; once space is freed writes go through again and the health mark
//! clears by itself.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::common::{temp_dir, Backend, Server, TestDb};
use super::{env, post_score};

/// A small tmpfs, unmounted (and its mount point removed) on drop.
struct SmallFs(PathBuf);

impl SmallFs {
    fn mount(bytes: u64) -> SmallFs {
        let dir = temp_dir("smallfs");
        std::fs::create_dir_all(&dir).unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={bytes}"), "tmpfs"])
            .arg(&dir)
            .output()
            .expect("run mount");
        assert!(
            out.status.success(),
            "cannot mount a tmpfs (this test needs root): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        SmallFs(dir)
    }

    /// Write a filler file until the file system is full.
    fn fill(&self) -> PathBuf {
        let path = self.0.join("filler");
        let mut f = std::fs::File::create(&path).unwrap();
        let block = vec![0u8; 4096];
        while f.write_all(&block).is_ok() {}
        path
    }
}

impl Drop for SmallFs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
        let _ = std::fs::remove_dir(&self.0);
    }
}

fn health(s: &Server) -> (u16, Value) {
    let (status, body) = s.get("/health");
    (status, serde_json::from_str(&body).unwrap())
}

fn wait(limit: Duration, what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !f() {
        assert!(Instant::now() < deadline, "{what} within {limit:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_full_disk_answers_503_says_why_and_heals_when_space_is_freed() {
    let fs = SmallFs::mount(4 << 20);
    let data: &Path = &fs.0.join("data");
    let s = Server::start_in(data, &[], &env(&[]));
    fills_refuses_and_heals(&s, &fs, "disk is full");
}

#[test]
fn postgres_out_of_space_mid_statement_answers_503_says_why_and_heals() {
    let db = TestDb::new(Backend::Postgres, "pgdisk");
    let s = db.start(&[], &env(&[]));
    // Every table and index of the server's database moves to a tablespace on the small file
    // system (the server holds no lock between requests); the WAL stays where it was, so a
    // COMMIT still works and only growing a table fails.
    let fs = SmallFs::mount(8 << 20);
    let ts = fs.0.join("ts");
    std::fs::create_dir(&ts).unwrap();
    let owner = Command::new("chown")
        .arg("postgres:postgres")
        .arg(&ts)
        .status()
        .expect("run chown");
    assert!(owner.success(), "chown postgres {ts:?}");
    let pg = db.pg.as_ref().expect("a PostgreSQL cluster");
    pg.psql(
        "postgres",
        &format!("CREATE TABLESPACE small LOCATION '{}'", ts.display()),
    );
    pg.psql(
        "postgres",
        "ALTER TABLE ALL IN TABLESPACE pg_default SET TABLESPACE small",
    );
    pg.psql(
        "postgres",
        "ALTER INDEX ALL IN TABLESPACE pg_default SET TABLESPACE small",
    );
    let moved = pg.psql(
        "postgres",
        "SELECT count(*) FROM pg_tables WHERE tablename = 'scores' AND tablespace = 'small'",
    );
    assert_eq!(moved, "1", "the scores table is on the small file system");
    fills_refuses_and_heals(&s, &fs, "could not extend");
}

/// Three writes, the file system filled, writes until one is refused (503 + Retry-After, the
/// health saying why, naming `detail`), reads and probes still served; then the space freed,
/// a write through again and the health mark gone by itself.
fn fills_refuses_and_heals(s: &Server, fs: &SmallFs, detail: &str) {
    let mut c = s.client();
    let (t, _) = c.guest();
    for n in 1..=3 {
        assert_eq!(post_score(&mut c, &t, "disk", n).unwrap().status, 201);
    }

    let filler = fs.fill();
    // The first writes may still fit in pages the database already has.
    let mut refused = None;
    for n in 4..2000 {
        let r = post_score(&mut c, &t, "disk", n).unwrap();
        match r.status {
            201 => continue,
            503 => {
                refused = Some(r);
                break;
            }
            other => panic!("write {n} on a full disk answered {other}: {}", r.body),
        }
    }
    let r = refused.expect("no write was refused on a full disk");
    assert!(r.header("Retry-After").is_some(), "{:?}", r.body);
    let (status, h) = health(s);
    assert_eq!(status, 503, "{h}");
    assert_eq!(h["status"], "degraded", "{h}");
    let reason = h["storage"]["reason"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(reason.contains("no space for the database"), "{h}");
    assert!(reason.contains(detail), "{h}");
    assert_eq!(s.get("/ready").0, 503);
    assert_eq!(s.get("/live").0, 200);
    let r = c
        .send("GET", "/api/leaderboard?game=disk&limit=3", &[], b"")
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    let best = r.json()["entries"][0]["score"].as_i64();
    assert!(best.is_some_and(|b| b >= 3), "{}", r.body);

    // Space again: the next write goes through, and the mark clears by itself.
    std::fs::remove_file(filler).unwrap();
    let mut stored = false;
    for n in 10_000..10_050 {
        let r = post_score(&mut c, &t, "disk", n).unwrap();
        assert!(matches!(r.status, 201 | 503), "{} {}", r.status, r.body);
        if r.status == 201 {
            stored = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(stored, "no write went through after space was freed");
    wait(Duration::from_secs(15), "/health 200 again", || {
        health(s).0 == 200
    });
    assert_eq!(s.get("/ready").0, 200);
}
