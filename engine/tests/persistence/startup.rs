//! Start-up and migrations on both engines: an older database upgraded in place at start;
//! `roomcore migrate` (and `STORAGE_AUTO_MIGRATE=false`, which refuses an older database);
//! a database newer than the binary refused at start and by `migrate`. Then the start-up
//! errors of the configuration: an unopenable SQLite file, bad flags, bad or unreachable
//! `DATABASE_URL` (never printing its password), and the knobs as flags.

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use super::common::{self, Backend, Server, TestDb};
use super::{env, error_of, post_score, SECRET};

crate::on_both!(
    an_older_database_upgrades_in_place_at_start,
    migrate_applies_and_a_newer_database_is_refused,
);

fn an_older_database_upgrades_in_place_at_start(b: Backend) {
    let db = TestDb::new(b, "upgrade");
    let cfg = db.storage_config();
    storage::inspect::create_at_version_in(&cfg, 1).unwrap();
    assert_eq!(storage::inspect::schema_version_in(&cfg).unwrap(), 1);
    let s = db.start(&[], &env(&[]));
    assert_eq!(
        storage::inspect::schema_version_in(&cfg).unwrap(),
        storage::schema::VERSION
    );
    let mut c = s.client();
    let (t, _) = c.guest();
    assert_eq!(post_score(&mut c, &t, "up", 3).unwrap().status, 201);
}

/// Run `cmd` to its end (a start expected to fail, or a subcommand), with test settings.
fn run(mut cmd: Command) -> Output {
    cmd.args(["--listen", "127.0.0.1:0", "--shards", "2"])
        .envs(env(&[]))
        .stdin(Stdio::null())
        .output()
        .expect("run roomcore")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// `roomcore migrate` on `db`: (exit code, stderr).
fn migrate(db: &TestDb) -> (Option<i32>, String) {
    let mut cmd = db.command();
    cmd.arg("migrate");
    let o = cmd.envs(env(&[])).stdin(Stdio::null()).output().unwrap();
    assert!(o.stdout.is_empty(), "migrate wrote to stdout");
    (o.status.code(), stderr(&o))
}

fn migrate_applies_and_a_newer_database_is_refused(b: Backend) {
    let db = TestDb::new(b, "migrate");
    let cfg = db.storage_config();
    let latest = storage::schema::VERSION;
    storage::inspect::create_at_version_in(&cfg, 1).unwrap();

    // Without auto-migration an older database stops start-up, naming the fix.
    let mut cmd = db.command();
    cmd.env("STORAGE_AUTO_MIGRATE", "false");
    let o = run(cmd);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(!String::from_utf8_lossy(&o.stdout).contains("listening"));
    let err = stderr(&o);
    assert!(err.contains("older than this build"), "{err}");
    assert!(err.contains("roomcore migrate"), "{err}");
    assert_eq!(storage::inspect::schema_version_in(&cfg).unwrap(), 1);

    // `roomcore migrate` applies the rest and exits; a second run has nothing to do.
    let (code, err) = migrate(&db);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        err.contains(&format!("from schema version 1 to {latest}")),
        "{err}"
    );
    assert_eq!(storage::inspect::schema_version_in(&cfg).unwrap(), latest);
    let (code, err) = migrate(&db);
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("nothing to do"), "{err}");
    {
        let s = db.start(&[], &env(&[("STORAGE_AUTO_MIGRATE", "false")]));
        let mut c = s.client();
        let (t, _) = c.guest();
        assert_eq!(post_score(&mut c, &t, "m", 1).unwrap().status, 201);
    }

    // A database migrated by a newer build: refused at start (exit 1) and by migrate.
    storage::inspect::stamp_version_in(&cfg, latest + 1).unwrap();
    let t0 = Instant::now();
    let o = run(db.command());
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(t0.elapsed() < Duration::from_secs(10));
    assert!(!String::from_utf8_lossy(&o.stdout).contains("listening"));
    let err = stderr(&o);
    assert!(
        err.contains(&format!(
            "database schema version {} is newer than this build ({latest})",
            latest + 1
        )),
        "{err}"
    );
    let (code, err) = migrate(&db);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("is newer than this build"), "{err}");
    assert_eq!(
        storage::inspect::schema_version_in(&cfg).unwrap(),
        latest + 1
    );
}

#[test]
fn a_bad_or_unreachable_database_url_stops_start_up_without_showing_its_password() {
    let dir = common::temp_dir("badurl");
    let mut outputs = Vec::new();
    let mut start = |args: &[&str], url: &str| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_roomcore"));
        cmd.arg("--data-dir")
            .arg(&dir)
            .args(args)
            .env("LOG_LEVEL", "info")
            .env("DATABASE_URL", url);
        let o = run(cmd);
        assert!(!String::from_utf8_lossy(&o.stdout).contains("listening"));
        outputs.push(stderr(&o));
        (o.status.code(), stderr(&o))
    };
    // Another scheme: a configuration error (exit 2) naming the variable.
    let (code, err) = start(&[], "mysql://ann:s3cret@db.example/rc");
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("DATABASE_URL"), "{err}");
    assert!(err.contains("mysql://ann:***@db.example/rc"), "{err}");
    assert!(err.contains("postgres://"), "{err}");
    // Not a URL the driver can parse.
    let (code, err) = start(&[], "postgres://ann:s3cret@127.0.0.1:notaport/rc");
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("invalid storage settings"), "{err}");
    // Nothing listens there: exit 1 at once with the redacted URL and the cause.
    let (_held, refused) = common::refused_addr();
    let port = refused.port();
    let url = format!("postgres://ann:s3cret@127.0.0.1:{port}/rc");
    let t0 = Instant::now();
    let (code, err) = start(&[], &url);
    assert!(t0.elapsed() < Duration::from_secs(10));
    assert_eq!(code, Some(1), "{err}");
    let redacted = format!("cannot connect to postgres://ann:***@127.0.0.1:{port}/rc");
    assert!(err.contains(&redacted), "{err}");
    assert!(err.contains("Connection refused"), "{err}");
    // On the command line it fails the same, with a warning that `ps` shows it.
    let (code, err) = start(&["--database-url", &url], "");
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains(&redacted), "{err}");
    assert!(err.contains("process list"), "{err}");
    // Something that takes the connection and never answers (not PostgreSQL, or hung): given
    // up on after the connect timeout plus the I/O timeout, with exit 1 and the reason.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_port = silent.local_addr().unwrap().port();
    let t0 = Instant::now();
    let (code, err) = start(
        &[
            "--database-connect-timeout-ms",
            "500",
            "--database-io-timeout-ms",
            "1000",
        ],
        &format!("postgres://ann:s3cret@127.0.0.1:{silent_port}/rc"),
    );
    let took = t0.elapsed();
    assert_eq!(code, Some(1), "{err}");
    assert!(
        took >= Duration::from_millis(1500) && took < Duration::from_secs(15),
        "{took:?}"
    );
    assert!(
        err.contains(&format!(
            "cannot connect to postgres://ann:***@127.0.0.1:{silent_port}/rc: no answer to the \
             start-up exchange within 1500 ms"
        )),
        "{err}"
    );
    drop(silent);
    for err in &outputs {
        assert!(!err.contains("s3cret"), "the password was printed: {err}");
    }
    // `--help` never shows the variable's value.
    let o = Command::new(env!("CARGO_BIN_EXE_roomcore"))
        .arg("--help")
        .env("DATABASE_URL", &url)
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&o.stdout);
    assert!(help.contains("--database-url <DATABASE_URL>"), "{help}");
    assert!(!help.contains("s3cret"), "{help}");
}

#[test]
fn an_unopenable_database_stops_start_up_with_a_clear_error() {
    let dir = common::temp_dir("baddb");
    std::fs::create_dir_all(dir.join("roomcore.db")).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_roomcore"))
        .args(["--listen", "127.0.0.1:0", "--shards", "2", "--data-dir"])
        .arg(&dir)
        .env("LOG_LEVEL", "warn")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!stdout.contains("listening"), "{stdout}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("roomcore.db"), "{err}");
}

#[test]
fn storage_and_game_knobs_are_flags_too_and_the_flag_wins() {
    // SCORE_MAX=1000 in the environment, --score-max 10 on the command line.
    let s = Server::start_in(
        &common::temp_dir("service-flags"),
        &["--score-max", "10", "--leaderboard-size=5"],
        &env(&[("SCORE_MAX", "1000"), ("LEADERBOARD_SIZE", "50")]),
    );
    let mut c = s.client();
    let (t, _) = c.guest();
    let r = post_score(&mut c, &t, "g", 11).unwrap();
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(
        error_of(&r).contains("score must be between 0 and 10"),
        "{}",
        r.body
    );
    let r = post_score(&mut c, &t, "g", 10).unwrap();
    assert_eq!(r.status, 201, "{}", r.body);
    let r = c.get_auth("/api/leaderboard?game=g&limit=6", None).unwrap();
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(
        error_of(&r).contains("limit must be between 1 and 5"),
        "{}",
        r.body
    );
    let r = c.get_auth("/api/leaderboard?game=g&limit=5", None).unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["entries"][0]["score"], 10, "{}", r.body);
}

#[test]
fn a_bad_service_flag_stops_start_up_with_a_clear_error() {
    let dir = common::temp_dir("service-flags-bad");
    for (args, needle) in [
        (vec!["--score-max", "lots"], "SCORE_MAX"),
        (
            vec!["--storage-synchronous", "sometimes"],
            "STORAGE_SYNCHRONOUS",
        ),
        (vec!["--game-tick-ms", "fast"], "GAME_TICK_MS"),
        (vec!["--storage-batch-max"], "needs a value"),
        // secrets are environment-only: a flag would show them in `ps`
        (vec!["--roomcore-token-secret", SECRET], "unknown flag"),
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_roomcore"))
            .args(["--listen", "127.0.0.1:0", "--shards", "2", "--data-dir"])
            .arg(&dir)
            .args(&args)
            .env("LOG_LEVEL", "warn")
            .envs(env(&[]))
            .stdin(std::process::Stdio::null())
            .output()
            .expect("run roomcore");
        assert!(!out.status.success(), "{args:?} started");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle), "{args:?}: {err}");
        assert!(
            !String::from_utf8_lossy(&out.stdout).contains("listening"),
            "{args:?} listened"
        );
    }
}
