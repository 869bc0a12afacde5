//! Moving from SQLite to PostgreSQL through the real binary, as docs/runbook.md tells an
//! operator to: a server fills its SQLite data directory (accounts with passwords, guests,
//! scores, a finished game, a room snapshot) and stops; `roomcore export` writes it (to a
//! 0600 file and to stdout); `roomcore migrate` and `roomcore import` (from stdin) load it
//! into a fresh PostgreSQL; roomcore started on PostgreSQL serves everything back over HTTP,
//! old tokens included. The error paths: an existing output file, a second import, an
//! export with no database.

use std::io::Write as _;
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use serde_json::{json, Value};

use super::common::{self, Backend, TestDb};
use super::games::{check_finished, game_when, play_fools_mate};
use super::{env, error_of, post_score};

/// `roomcore <args>` on `db` with `stdin`: the output.
fn tool(db: &TestDb, args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut cmd: Command = db.command();
    cmd.args(args)
        .envs(env(&[]))
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("run roomcore");
    if let Some(bytes) = stdin {
        child.stdin.take().unwrap().write_all(bytes).unwrap();
    }
    child.wait_with_output().unwrap()
}

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The `end` line of an export.
fn end_counts(export: &str) -> Value {
    let last: Value = serde_json::from_str(export.lines().last().unwrap()).unwrap();
    assert_eq!(last["type"], "end", "{last}");
    last["counts"].clone()
}

#[test]
fn moving_from_sqlite_to_postgres_through_the_binary() {
    // 1. A server on SQLite, with some of everything (4 accounts: Ann, a guest, and the
    //    two guests who play the game).
    let lite = TestDb::new(Backend::Sqlite, "move-lite");
    let extra = [("ROOM_SNAPSHOT_INTERVAL_SECS", "1")];
    let mut s = lite.start(&[], &env(&extra));
    let mut c = s.client();
    let r = c
        .post_json(
            "/api/auth/register",
            None,
            &json!({"username": "Ann", "password": "correct horse"}),
        )
        .unwrap();
    assert_eq!(r.status, 201, "{}", r.body);
    let ann = r.json()["user"]["id"].as_i64().unwrap();
    let token = r.json()["token"].as_str().unwrap().to_string();
    let (gt, guest) = c.guest();
    let mut ids = Vec::new();
    for (t, score) in [(&token, 30), (&token, 10), (&gt, 20)] {
        let r = post_score(&mut c, t, "moved", score).unwrap();
        assert_eq!(r.status, 201, "{}", r.body);
        ids.push(r.json()["id"].as_i64().unwrap());
    }
    let doc = json!({"turn": 7, "note": "<b>kept</b>"});
    let r = c
        .send(
            "PUT",
            "/api/rooms/moved-room/state",
            &[],
            doc.to_string().as_bytes(),
        )
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    let (game, white, black) = play_fools_mate(&s, &mut c);
    drop(c);
    // The runbook: stop the server (the drain saves room snapshots), then export.
    s.signal(libc::SIGTERM);
    assert_eq!(s.wait_exit(Duration::from_secs(20)), Some(0));
    drop(s);

    // 2. Export: to a new 0600 file, and the same data to stdout.
    let file = lite.dir.join("roomcore-export.jsonl");
    let file_arg = file.to_str().unwrap();
    let o = tool(&lite, &["export", "--output", file_arg], None);
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    assert!(o.stdout.is_empty());
    // (the chess ratings are scores of the board `chess` too)
    assert!(
        err(&o).contains("exported 4 accounts, 5 scores"),
        "{}",
        err(&o)
    );
    assert!(
        err(&o).contains("2 ratings, 1 finished games"),
        "{}",
        err(&o)
    );
    let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the export holds password hashes");
    let in_file = std::fs::read_to_string(&file).unwrap();
    let o = tool(&lite, &["export", "--output", file_arg], None);
    assert_eq!(o.status.code(), Some(1));
    assert!(err(&o).contains("refusing to overwrite"), "{}", err(&o));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), in_file);
    let o = tool(&lite, &["export"], None);
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    let exported = String::from_utf8(o.stdout).unwrap();
    assert_eq!(end_counts(&exported), end_counts(&in_file));
    let header: Value = serde_json::from_str(exported.lines().next().unwrap()).unwrap();
    assert_eq!(
        (header["format"].as_str(), header["source"].as_str()),
        (Some("roomcore-export"), Some("sqlite"))
    );
    // No database there: a clear error, not an empty export.
    let nothing = TestDb::new(Backend::Sqlite, "move-nothing");
    let o = tool(&nothing, &["export"], None);
    assert_eq!(o.status.code(), Some(1));
    assert!(o.stdout.is_empty());
    assert!(err(&o).contains("no SQLite database"), "{}", err(&o));

    // 3. A fresh PostgreSQL: migrate, then import from stdin.
    let pg = TestDb::new(Backend::Postgres, "move-pg");
    let o = tool(&pg, &["migrate"], None);
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    let o = tool(&pg, &["import"], Some(exported.as_bytes()));
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    assert!(
        err(&o).contains("imported 4 accounts, 5 scores"),
        "{}",
        err(&o)
    );
    // A second import is refused and keeps nothing of it.
    let o = tool(&pg, &["import", "--input", file_arg], None);
    assert_eq!(o.status.code(), Some(1));
    assert!(err(&o).contains("not empty"), "{}", err(&o));
    assert_eq!(
        storage::inspect::score_ids_in(&pg.storage_config(), "moved").unwrap(),
        ids
    );

    // 4. roomcore on PostgreSQL serves it all back (another data dir, the same secret).
    let s = pg.start_in(&common::temp_dir("move-pg-data"), &[], &env(&[]));
    assert_eq!(s.health()["storage"]["engine"], "postgres");
    let mut c = s.client();
    let me = c.get_auth("/api/auth/me", Some(&token)).unwrap();
    assert_eq!(
        me.status, 200,
        "tokens signed before the move still work: {}",
        me.body
    );
    assert_eq!(me.json()["id"], ann);
    let r = c
        .post_json(
            "/api/auth/login",
            None,
            &json!({"username": "ann", "password": "correct horse"}),
        )
        .unwrap();
    assert_eq!(r.status, 200, "the password hash moved: {}", r.body);
    let r = c
        .post_json(
            "/api/auth/register",
            None,
            &json!({"username": "ANN", "password": "another one"}),
        )
        .unwrap();
    assert_eq!(
        (r.status, error_of(&r).as_str()),
        (409, "username is taken")
    );
    let v = c
        .send("GET", "/api/leaderboard?game=moved", &[], b"")
        .unwrap()
        .json();
    let board: Vec<(i64, i64)> = v["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["user_id"].as_i64().unwrap(), e["score"].as_i64().unwrap()))
        .collect();
    assert_eq!(board, vec![(ann, 30), (guest, 20)]);
    check_finished(&game_when(&mut c, &game, "finished"), white, black);
    let r = c
        .send("GET", "/api/rooms/moved-room/state", &[], b"")
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["state"], doc);
    // New rows get new ids (the sequences moved past the imported ones).
    let r = post_score(&mut c, &gt, "moved", 40).unwrap();
    assert_eq!(r.status, 201, "{}", r.body);
    assert!(r.json()["id"].as_i64().unwrap() > *ids.iter().max().unwrap());
    let (_, id) = c.guest();
    assert!(id > guest.max(ann));
}
