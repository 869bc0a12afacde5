//! What only PostgreSQL has, on real throwaway clusters: several processes
//! (two `Storage` handles) on one database, LISTEN/NOTIFY board refreshes,
//! the schema_migrations table (concurrent, upgrade, newer refused), and
//! outages: a server stopped and restarted, a connection killed mid-round.

mod support;

use std::time::{Duration, Instant};

use futures_lite::future::block_on;
use storage::{BoardView, Period, Storage, StorageError};
use support::pg::TestPg;
use support::{eventually, finish, start, TestDb};

fn today() -> i64 {
    storage::day_of(storage::now_ms())
}

#[test]
fn two_processes_share_accounts_and_boards_within_a_second() {
    let db = TestDb::postgres();
    let (a, a_rx) = db.open();
    let (b, b_rx) = db.open();
    let mut a_view = BoardView::new(a_rx[0].clone());
    let mut b_view = BoardView::new(b_rx[1].clone());

    let ann = block_on(a.create_account("ann", "h".into())).unwrap();
    assert!(matches!(
        block_on(b.create_account("ANN", "other".into())),
        Err(StorageError::UsernameTaken)
    ));
    assert_eq!(
        block_on(b.find_account("ann")).unwrap().unwrap().account,
        ann
    );

    // A score committed through A reaches B's cached board via NOTIFY.
    let t = Instant::now();
    block_on(a.add_score(ann.id, "g", 42)).unwrap();
    // Both of the score's boards (all-time and today's), each published as it is re-read.
    let seen = eventually(Duration::from_secs(1), || {
        let all_time = b_view
            .get("g", Period::AllTime, today())
            .filter(|b| b.entries.first().map(|e| e.score) == Some(42));
        let daily = b_view.get("g", Period::Daily, today());
        all_time.zip(daily)
    });
    assert!(seen.is_some(), "B did not see A's score within 1 s");
    assert!(t.elapsed() < Duration::from_secs(1));

    // And the other way round, with ranks from SQL over both processes' rows.
    let bob = block_on(b.create_account("bob", "h".into())).unwrap();
    block_on(b.add_score(bob.id, "g", 50)).unwrap();
    let seen = eventually(Duration::from_secs(1), || {
        a_view
            .get("g", Period::AllTime, today())
            .filter(|b| b.entries.len() == 2)
    })
    .expect("A did not see B's score within 1 s");
    let top: Vec<_> = seen.entries.iter().map(|e| (e.rank, e.score)).collect();
    assert_eq!(top, vec![(1, 50), (2, 42)]);
    let st = block_on(a.standing(ann.id, "g", Period::AllTime))
        .unwrap()
        .unwrap();
    assert_eq!(st.rank, 2);
    assert!(a.close(Duration::from_secs(5)));
    assert!(b.close(Duration::from_secs(5)));
}

#[test]
fn a_newer_database_is_refused() {
    let db = TestDb::postgres();
    assert_eq!(storage::migrate(&db.cfg).unwrap(), storage::schema::VERSION);
    let pg = db.pg.as_ref().unwrap();
    let newer = storage::schema::VERSION + 1;
    pg.psql(
        "postgres",
        &format!("INSERT INTO schema_migrations VALUES ({newer}, 0)"),
    );
    assert!(matches!(
        Storage::open(db.cfg.clone()),
        Err(StorageError::TooNew { found, .. }) if found == newer
    ));
    assert!(matches!(
        storage::migrate(&db.cfg),
        Err(StorageError::TooNew { .. })
    ));
}

#[test]
fn processes_starting_together_migrate_once() {
    let db = TestDb::postgres();
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let cfg = db.cfg.clone();
            std::thread::spawn(move || storage::migrate(&cfg))
        })
        .collect();
    for t in threads {
        assert_eq!(t.join().unwrap().unwrap(), storage::schema::VERSION);
    }
    let pg = db.pg.as_ref().unwrap();
    let rows = pg.psql(
        "postgres",
        "SELECT string_agg(version::text, ',' ORDER BY version) FROM schema_migrations",
    );
    let want: Vec<String> = (1..=storage::schema::VERSION)
        .map(|v| v.to_string())
        .collect();
    assert_eq!(rows, want.join(","));
}

#[test]
fn version_one_upgrades_in_place_and_backfills_bests() {
    let db = TestDb::postgres();
    storage::inspect::create_at_version_in(&db.cfg, 1).unwrap();
    assert_eq!(storage::inspect::schema_version_in(&db.cfg).unwrap(), 1);
    let pg = db.pg.as_ref().unwrap();
    pg.psql(
        "postgres",
        "INSERT INTO accounts (id, username, username_key, guest, created_at)
             VALUES (1, 'ann', 'ann', true, 0), (2, 'bob', 'bob', true, 0);
         INSERT INTO scores (user_id, game, score, created_at) VALUES
             (1, 'g', 10, 1000), (1, 'g', 30, 2000), (2, 'g', 20, 3000),
             (1, 'g', 5, 86400000 + 10);",
    );
    assert_eq!(storage::migrate(&db.cfg).unwrap(), storage::schema::VERSION);
    assert_eq!(
        pg.psql(
            "postgres",
            "SELECT string_agg(user_id || ':' || score || '@' || at, ' ' ORDER BY score DESC)
             FROM best_alltime WHERE game = 'g'"
        ),
        "1:30@2000 2:20@3000"
    );
    assert_eq!(
        pg.psql(
            "postgres",
            "SELECT score FROM best_daily WHERE game = 'g' AND day = 1 AND user_id = 1"
        ),
        "5"
    );
    assert_eq!(pg.psql("postgres", "SELECT COUNT(*) FROM scores"), "4");
}

#[test]
fn a_stopped_server_fails_writes_fast_keeps_boards_and_heals() {
    let mut db = TestDb::postgres();
    let (s, rxs) = db.open();
    let mut view = BoardView::new(rxs[0].clone());
    let ann = block_on(s.create_account("ann", "h".into())).unwrap();
    let acked: Vec<i64> = (0..20)
        .map(|i| block_on(s.add_score(ann.id, "out", i)).unwrap().id)
        .collect();
    assert!(view.get("out", Period::AllTime, today()).is_some());

    db.pg.as_mut().unwrap().stop();
    let h = eventually(Duration::from_secs(3), || {
        Some(s.health()).filter(|h| !h.ok)
    })
    .expect("health did not turn false within 3 s");
    let reason = h.reason.expect("a reason");
    eprintln!("health after the stop: {reason}");
    assert!(!reason.is_empty());

    // Writes (and reads through the thread) fail promptly, not hang.
    for _ in 0..3 {
        let t = Instant::now();
        let r = block_on(s.add_score(ann.id, "out", 99));
        assert!(matches!(r, Err(StorageError::Unavailable { .. })), "{r:?}");
        assert!(
            t.elapsed() < Duration::from_millis(500),
            "{:?}",
            t.elapsed()
        );
    }
    assert!(matches!(
        block_on(s.find_account("ann")),
        Err(StorageError::Unavailable { .. })
    ));
    // Cached boards are still served.
    let board = view.get("out", Period::AllTime, today()).unwrap();
    assert_eq!(board.entries[0].score, 19);

    db.pg.as_mut().unwrap().restart();
    let ack = eventually(Duration::from_secs(10), || {
        block_on(s.add_score(ann.id, "out", 100)).ok()
    })
    .expect("writes did not succeed again within 10 s of the restart");
    assert!(
        eventually(Duration::from_secs(3), || Some(())
            .filter(|_| s.health().ok))
        .is_some(),
        "{:?}",
        s.health()
    );
    // Nothing acknowledged before the stop was lost.
    let stored = storage::inspect::score_ids_in(&db.cfg, "out").unwrap();
    for id in acked.iter().chain([&ack.id]) {
        assert!(stored.contains(id), "acknowledged score {id} lost");
    }
    let board = eventually(Duration::from_secs(1), || {
        view.get("out", Period::AllTime, today())
            .filter(|b| b.entries[0].score == 100)
    });
    assert!(board.is_some(), "boards are fresh again after the outage");
    assert!(s.close(Duration::from_secs(5)));
}

#[test]
fn a_connection_killed_mid_round_fails_the_whole_round() {
    let db = TestDb::postgres();
    let (s, _rx) = db.open();
    let ann = block_on(s.create_account("ann", "h".into())).unwrap();
    s.stall(Duration::from_millis(300)).unwrap();
    std::thread::sleep(Duration::from_millis(80));
    // One round: a score, a long pause inside the open transaction, a score.
    let first = start([s.add_score(ann.id, "mid", 1)]);
    s.stall(Duration::from_millis(1500)).unwrap();
    let second = start([s.add_score(ann.id, "mid", 2)]);
    let pg = db.pg.as_ref().unwrap();
    let killed = eventually(Duration::from_secs(2), || {
        let n = pg.psql(
            "postgres",
            "SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity
             WHERE application_name = 'roomcore' AND state = 'idle in transaction'",
        );
        Some(()).filter(|_| n == "1")
    });
    assert!(killed.is_some(), "the writer's transaction was not found");
    for r in finish(first).into_iter().chain(finish(second)) {
        assert!(matches!(r, Err(StorageError::Unavailable { .. })), "{r:?}");
    }
    // Nothing of the round was kept; the writer reconnects by itself.
    assert!(storage::inspect::score_ids_in(&db.cfg, "mid")
        .unwrap()
        .is_empty());
    let ok = eventually(Duration::from_secs(5), || {
        block_on(s.add_score(ann.id, "mid", 3)).ok()
    });
    assert!(ok.is_some());
    assert_eq!(s.counters().failed_commits, 1);
    assert!(s.close(Duration::from_secs(5)));
}

#[test]
fn a_deadlock_between_processes_fails_one_command_with_retry() {
    let db = TestDb::postgres();
    let (a, _ra) = db.open();
    let (b, _rb) = db.open();
    let u1 = block_on(a.create_guest()).unwrap().id;
    let u2 = block_on(a.create_guest()).unwrap().id;
    block_on(a.add_score(u1, "d", 1)).unwrap();
    block_on(a.add_score(u2, "d", 1)).unwrap();
    // Each process takes the two players' best rows in the opposite order,
    // with a pause inside its transaction so both hold their first lock.
    a.stall(Duration::from_millis(300)).unwrap();
    b.stall(Duration::from_millis(300)).unwrap();
    std::thread::sleep(Duration::from_millis(80));
    let a1 = start([a.add_score(u1, "d", 10)]);
    a.stall(Duration::from_millis(1000)).unwrap();
    let a2 = start([a.add_score(u2, "d", 10)]);
    let b1 = start([b.add_score(u2, "d", 20)]);
    b.stall(Duration::from_millis(1000)).unwrap();
    let b2 = start([b.add_score(u1, "d", 20)]);
    let results: Vec<_> = [a1, a2, b1, b2].into_iter().flat_map(finish).collect();
    assert_retries_and_oks(&results, 1, 3);
    assert_eq!(a.counters().failed_commits + b.counters().failed_commits, 0);
    assert!(a.close(Duration::from_secs(5)));
    assert!(b.close(Duration::from_secs(5)));
}

/// Exactly `retries` of `results` were answered `Retry` and `oks` committed.
fn assert_retries_and_oks(
    results: &[Result<storage::ScoreAck, StorageError>],
    retries: usize,
    oks: usize,
) {
    let retried = results
        .iter()
        .filter(|r| matches!(r, Err(StorageError::Retry { .. })))
        .count();
    assert_eq!(retried, retries, "{results:?}");
    assert_eq!(
        results.iter().filter(|r| r.is_ok()).count(),
        oks,
        "{results:?}"
    );
}

/// The same deadlock with the second writes in runs of score writes (one call of the
/// batched write function per process): the victim's run is undone and each of its writes
/// answered `Retry`; the rest of its round, and the other process, commit.
#[test]
fn a_deadlock_inside_a_run_of_score_writes_fails_that_run_with_retry() {
    let db = TestDb::postgres();
    let (a, _ra) = db.open();
    let (b, _rb) = db.open();
    let u1 = block_on(a.create_guest()).unwrap().id;
    let u2 = block_on(a.create_guest()).unwrap().id;
    let u3 = block_on(a.create_guest()).unwrap().id;
    for u in [u1, u2, u3] {
        block_on(a.add_score(u, "d", 1)).unwrap();
    }
    a.stall(Duration::from_millis(300)).unwrap();
    b.stall(Duration::from_millis(300)).unwrap();
    std::thread::sleep(Duration::from_millis(80));
    let a1 = start([a.add_score(u1, "d", 10)]);
    a.stall(Duration::from_millis(1000)).unwrap();
    let a2 = start([a.add_score(u2, "d", 10), a.add_score(u3, "d", 10)]);
    let b1 = start([b.add_score(u2, "d", 20)]);
    b.stall(Duration::from_millis(1000)).unwrap();
    let b2 = start([b.add_score(u1, "d", 20), b.add_score(u3, "d", 20)]);
    let results: Vec<_> = [a1, a2, b1, b2].into_iter().flat_map(finish).collect();
    assert_retries_and_oks(&results, 2, 4);
    // The two retries are one run: A's second pair or B's second pair.
    let retried = |r: &[Result<storage::ScoreAck, StorageError>]| {
        r.iter()
            .all(|r| matches!(r, Err(StorageError::Retry { .. })))
    };
    let a_was_the_victim = retried(&results[1..3]);
    assert!(a_was_the_victim || retried(&results[4..6]), "{results:?}");
    assert_eq!(a.counters().failed_commits + b.counters().failed_commits, 0);
    // u3 was written in both runs, after each run's contended write: the victim's run was
    // undone whole, so u3's best is the other process's write (B's 20 or A's 10).
    let st = block_on(a.standing(u3, "d", Period::AllTime))
        .unwrap()
        .unwrap();
    assert_eq!(
        st.score,
        if a_was_the_victim { 20 } else { 10 },
        "{results:?}"
    );
    assert!(a.close(Duration::from_secs(5)));
    assert!(b.close(Duration::from_secs(5)));
}

#[test]
fn an_unreachable_server_is_a_clear_open_error() {
    let port = {
        let pg = TestPg::start();
        pg.port()
    }; // dropped: nothing listens there now
    let mut cfg = storage::StorageConfig::postgres(&format!(
        "postgres://roomcore:secret@127.0.0.1:{port}/postgres"
    ));
    cfg.postgres.connect_timeout = Duration::from_secs(1);
    let t = Instant::now();
    let e = Storage::open(cfg).unwrap_err();
    assert!(matches!(e, StorageError::Connect { .. }), "{e}");
    assert!(!e.to_string().contains("secret"), "{e}");
    assert!(t.elapsed() < Duration::from_secs(3));
}
