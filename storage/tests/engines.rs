//! The `Storage` API against BOTH engines: every test body here runs once on
//! a SQLite file and once on a real throwaway PostgreSQL cluster
//! (`name::sqlite`, `name::postgres`). Group commit, savepoint isolation, a
//! full queue, boards, rooms, games, migrations, health.

mod support;

use std::time::{Duration, Instant};

use futures_lite::future::block_on;
use storage::games::{GameRecord, INITIAL_RATING};
use storage::{BoardView, Period, RoomRow, Storage, StorageError};
use support::{finish, start, TestDb};

on_both!(
    queued_commands_share_one_transaction,
    batch_cap_of_one_means_one_transaction_per_command,
    full_queue_is_busy_at_once_and_nothing_is_lost,
    a_taken_username_does_not_undo_the_rest_of_its_round,
    a_run_of_score_writes_answers_each_in_order,
    boards_reach_every_subscriber_after_commit,
    room_rows_save_load_delete_sweep,
    a_room_saved_by_a_newer_owner_refuses_an_older_one,
    games_are_recorded_once_and_rated,
    fresh_database_migrates_to_the_latest_version,
    health_is_ok_while_open_and_false_once_closed,
);

/// Queue `n` scores behind a stall (so they wait together), then await them.
fn scores_behind_stall(s: &Storage, user: i64, n: i64) -> Vec<storage::ScoreAck> {
    s.stall(Duration::from_millis(300)).unwrap();
    std::thread::sleep(Duration::from_millis(80)); // the thread took the stall alone
    let started = start((0..n).map(|i| s.add_score(user, "g", i)));
    finish(started).into_iter().map(|r| r.unwrap()).collect()
}

fn queued_commands_share_one_transaction(db: TestDb) {
    let (s, _rx) = db.open();
    let acc = block_on(s.create_guest()).unwrap();
    let before = s.counters();
    let acks = scores_behind_stall(&s, acc.id, 200);
    assert_eq!(acks.len(), 200);
    let after = s.counters();
    // The stall's own round plus at most one more for the 200 scores.
    assert!(after.rounds - before.rounds <= 2, "{before:?} -> {after:?}");
    assert!(after.max_batch >= 200, "{after:?}");
    assert_eq!(after.failed_commits, 0);
    assert!(s.close(Duration::from_secs(5)));
}

fn batch_cap_of_one_means_one_transaction_per_command(db: TestDb) {
    let (s, _rx) = db.open_with(|c| c.batch_max = 1);
    let acc = block_on(s.create_guest()).unwrap();
    let before = s.counters();
    scores_behind_stall(&s, acc.id, 50);
    let after = s.counters();
    assert_eq!(after.rounds - before.rounds, 51);
    assert_eq!(after.max_batch, 1);
    assert!(s.close(Duration::from_secs(5)));
}

fn full_queue_is_busy_at_once_and_nothing_is_lost(db: TestDb) {
    let (s, _rx) = db.open_with(|c| c.queue_capacity = 4);
    let acc = block_on(s.create_guest()).unwrap();
    s.stall(Duration::from_millis(400)).unwrap();
    std::thread::sleep(Duration::from_millis(80)); // the thread took the stall
    let queued = start((0..4).map(|i| s.add_score(acc.id, "q", i)));
    let t = Instant::now();
    assert!(matches!(
        block_on(s.add_score(acc.id, "q", 99)),
        Err(StorageError::Busy { capacity: 4 })
    ));
    assert!(t.elapsed() < Duration::from_millis(50));
    let acks: Vec<_> = finish(queued).into_iter().map(|r| r.unwrap()).collect();
    assert_eq!(acks.len(), 4);
    let st = block_on(s.standing(acc.id, "q", Period::AllTime))
        .unwrap()
        .unwrap();
    assert_eq!(
        st.score, 3,
        "every queued score was kept, the refused one was not"
    );
    assert!(s.close(Duration::from_secs(5)));
}

fn a_taken_username_does_not_undo_the_rest_of_its_round(db: TestDb) {
    let (s, _rx) = db.open();
    let ann = block_on(s.create_account("ann", "h1".into())).unwrap();
    let before = s.counters();
    s.stall(Duration::from_millis(300)).unwrap();
    std::thread::sleep(Duration::from_millis(80));
    let a = start([s.create_account("bob", "h2".into())]);
    let b = start([s.create_account("ANN", "h3".into())]);
    let c = start([s.add_score(ann.id, "g", 7)]);
    let d = start([s.create_account("cy", "h4".into())]);
    // A score of an unknown account (a foreign-key violation inside the one-statement write
    // on PostgreSQL), then one more score: only the bad one is refused.
    let e = start([s.add_score(9_999, "g", 1)]);
    let f = start([s.add_score(ann.id, "g", 9)]);
    let bob = finish(a).pop().unwrap().unwrap();
    assert!(matches!(
        finish(b).pop().unwrap(),
        Err(StorageError::UsernameTaken)
    ));
    finish(c).pop().unwrap().unwrap();
    finish(d).pop().unwrap().unwrap();
    assert!(matches!(
        finish(e).pop().unwrap(),
        Err(StorageError::UnknownAccount)
    ));
    assert!(finish(f).pop().unwrap().unwrap().personal_best);
    let after = s.counters();
    assert!(after.rounds - before.rounds <= 2, "one round for all six");
    assert_eq!(after.failed_commits, 0);
    // Everything but the refused account was committed.
    assert_eq!(
        block_on(s.find_account("BOB")).unwrap().unwrap().account,
        bob
    );
    assert!(block_on(s.find_account("cy")).unwrap().is_some());
    let ann_again = block_on(s.find_account("ann")).unwrap().unwrap();
    assert_eq!(ann_again.password_hash.as_deref(), Some("h1"));
    let st = block_on(s.standing(ann.id, "g", Period::AllTime)).unwrap();
    assert_eq!(st.map(|s| s.score), Some(9));
    assert!(s.close(Duration::from_secs(5)));
}

/// Consecutive score writes of a round go to the database together (one call on PostgreSQL):
/// each is still answered on its own, in order, with the bests of the writes before it.
fn a_run_of_score_writes_answers_each_in_order(db: TestDb) {
    let (s, _rx) = db.open_with(|c| c.max_games = 2);
    let ann = block_on(s.create_account("ann", "h".into())).unwrap();
    let bob = block_on(s.create_guest()).unwrap();
    block_on(s.add_score(ann.id, "g", 5)).unwrap();
    let before = s.counters();
    s.stall(Duration::from_millis(300)).unwrap();
    std::thread::sleep(Duration::from_millis(80));
    let run = start([
        s.add_score(ann.id, "g", 8), // a new best
        s.add_score(9_999, "g", 50), // an unknown account
        s.add_score(ann.id, "g", 6), // below the best of the write before it
        s.add_score(bob.id, "h", 4), // a second game: room for it
        s.add_score(bob.id, "i", 4), // a third game: past max_games
        s.add_score(bob.id, "h", 7), // a known game again
        s.add_score(9_999, "h", 1),  // unknown again, last
    ]);
    let r = finish(run);
    let after = s.counters();
    assert!(after.rounds - before.rounds <= 2, "one round for the run");
    assert_eq!(after.failed_commits, 0);
    let ok: Vec<_> = [0, 2, 3, 5]
        .iter()
        .map(|&i| r[i].as_ref().unwrap())
        .collect();
    let pb: Vec<_> = ok
        .iter()
        .map(|a| (a.game.as_str(), a.score, a.personal_best))
        .collect();
    assert_eq!(
        pb,
        vec![
            ("g", 8, true),
            ("g", 6, false),
            ("h", 4, true),
            ("h", 7, true)
        ]
    );
    assert!(
        ok.windows(2).all(|w| w[0].id < w[1].id),
        "ids follow the order"
    );
    assert!(
        matches!(r[1], Err(StorageError::UnknownAccount)),
        "{:?}",
        r[1]
    );
    assert!(
        matches!(r[6], Err(StorageError::UnknownAccount)),
        "{:?}",
        r[6]
    );
    assert!(
        matches!(r[4], Err(StorageError::TooManyGames { limit: 2 })),
        "{:?}",
        r[4]
    );
    let st = |u, g| {
        block_on(s.standing(u, g, Period::AllTime))
            .unwrap()
            .map(|s| s.score)
    };
    assert_eq!(st(ann.id, "g"), Some(8));
    assert_eq!(st(bob.id, "h"), Some(7));
    assert_eq!(st(bob.id, "i"), None);
    assert!(s.close(Duration::from_secs(5)));
}

fn boards_reach_every_subscriber_after_commit(db: TestDb) {
    let (s, rxs) = db.open();
    let a = block_on(s.create_account("ann", "h".into())).unwrap();
    let b = block_on(s.create_guest()).unwrap();
    assert!(b.guest && b.username.starts_with("guest-"));
    assert!(matches!(
        block_on(s.create_account("ANN", "h".into())),
        Err(StorageError::UsernameTaken)
    ));
    block_on(s.add_score(a.id, "g", 10)).unwrap();
    let ack = block_on(s.add_score(b.id, "g", 20)).unwrap();
    assert!(ack.personal_best);
    assert!(!block_on(s.add_score(b.id, "g", 5)).unwrap().personal_best);
    assert!(matches!(
        block_on(s.add_score(9_999, "g", 5)),
        Err(StorageError::UnknownAccount)
    ));
    let today = storage::day_of(storage::now_ms());
    for rx in rxs {
        let mut v = BoardView::new(rx);
        let all = v.get("g", Period::AllTime, today).unwrap();
        let ranks: Vec<_> = all.entries.iter().map(|e| (e.rank, e.score)).collect();
        assert_eq!(ranks, vec![(1, 20), (2, 10)]);
        assert_eq!(all.entries[1].player, "ann");
        let daily = v.get("g", Period::Daily, today).unwrap();
        assert_eq!(daily.entries.len(), 2);
    }
    let st = block_on(s.standing(a.id, "g", Period::AllTime))
        .unwrap()
        .unwrap();
    assert_eq!((st.rank, st.score), (2, 10));
    let st = block_on(s.standing(b.id, "g", Period::Daily))
        .unwrap()
        .unwrap();
    assert_eq!((st.rank, st.score), (1, 20));
    assert!(block_on(s.standing(a.id, "other", Period::Daily))
        .unwrap()
        .is_none());
    let found = block_on(s.find_account("Ann")).unwrap().unwrap();
    assert_eq!(found.account, a);
    assert_eq!(found.password_hash.as_deref(), Some("h"));
    assert!(block_on(s.find_account("nobody")).unwrap().is_none());
    assert!(s.close(Duration::from_secs(5)));
}

fn room_rows_save_load_delete_sweep(db: TestDb) {
    let (s, _rx) = db.open();
    let row = |id: &str, at: i64| RoomRow {
        id: id.into(),
        kind: "state".into(),
        state: b"{}".to_vec(),
        created_at_ms: at,
        updated_at_ms: at,
        epoch: 0,
    };
    block_on(s.save_rooms(vec![row("a", 100), row("b", 5_000)])).unwrap();
    let mut again = row("a", 9_000);
    again.state = vec![0, 159, 146, 150, b'['];
    block_on(s.save_rooms(vec![again.clone()])).unwrap();
    let rows = block_on(s.load_rooms("state")).unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].state, again.state, "bytes survive as they are");
    assert_eq!(rows[0].created_at_ms, 100, "created_at is kept");
    assert_eq!(block_on(s.sweep_rooms(6_000)).unwrap(), 1);
    assert!(block_on(s.delete_room("a")).unwrap());
    assert!(!block_on(s.delete_room("a")).unwrap());
    assert!(block_on(s.load_rooms("state")).unwrap().is_empty());
    assert!(s.close(Duration::from_secs(5)));
}

fn a_room_saved_by_a_newer_owner_refuses_an_older_one(db: TestDb) {
    let (s, _rx) = db.open();
    let row = |epoch: i64, state: &[u8]| RoomRow {
        id: "c-fenced".into(),
        kind: "game".into(),
        state: state.to_vec(),
        created_at_ms: 1,
        updated_at_ms: 2,
        epoch,
    };
    block_on(s.save_rooms(vec![row(2, b"{\"by\":2}")])).unwrap();
    block_on(s.save_rooms(vec![row(2, b"{\"by\":2,\"again\":1}")])).unwrap();
    match block_on(s.save_rooms(vec![row(1, b"{\"by\":1}")])) {
        Err(storage::StorageError::Fenced { room }) => assert_eq!(room, "c-fenced"),
        other => panic!("an older owner's save: {other:?}"),
    }
    block_on(s.save_rooms(vec![row(3, b"{\"by\":3}")])).unwrap();
    let rows = block_on(s.load_rooms("game")).unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].state, b"{\"by\":3}");
    assert_eq!(rows[0].epoch, 3);
    assert!(s.close(Duration::from_secs(5)));
}

pub fn chess_game(id: &str, white: i64, black: i64) -> GameRecord {
    GameRecord {
        id: id.into(),
        mode: "chess".into(),
        white_id: white,
        white_name: "ann".into(),
        black_id: black,
        black_name: "bob".into(),
        result: "0-1".into(),
        reason: "checkmate".into(),
        pgn: "1. f3 e5 2. g4 Qh4# 0-1".into(),
        moves: 4,
        started_at_ms: 1,
        ended_at_ms: 2,
    }
}

fn games_are_recorded_once_and_rated(db: TestDb) {
    let (s, rxs) = db.open();
    let ann = block_on(s.create_account("ann", "h".into())).unwrap();
    let bob = block_on(s.create_account("bob", "h".into())).unwrap();
    let rec = chess_game("g1", ann.id, bob.id);
    let r = block_on(s.record_game(rec.clone())).unwrap();
    assert_eq!((r.white_after, r.black_after), (1184, 1216));
    assert_eq!(
        block_on(s.record_game(rec.clone())).unwrap(),
        r,
        "idempotent"
    );
    assert_eq!(block_on(s.rating(bob.id, "chess")).unwrap(), 1216);
    assert_eq!(block_on(s.rating(9, "chess")).unwrap(), INITIAL_RATING);
    let stored = block_on(s.game("g1")).unwrap().unwrap();
    assert_eq!((stored.record, stored.rated), (rec.clone(), r));
    assert!(block_on(s.game("nope")).unwrap().is_none());
    let mut bad = rec;
    bad.id = "g2".into();
    bad.white_id = 99_999;
    assert!(matches!(
        block_on(s.record_game(bad)),
        Err(StorageError::UnknownAccount)
    ));
    // The new ratings are posted as scores of the mode.
    let today = storage::day_of(storage::now_ms());
    let mut v = BoardView::new(rxs[0].clone());
    let board = v.get("chess", Period::AllTime, today).unwrap();
    let top: Vec<_> = board.entries.iter().map(|e| (e.user_id, e.score)).collect();
    assert_eq!(top, vec![(bob.id, 1216), (ann.id, 1184)]);
    assert!(s.close(Duration::from_secs(5)));
}

fn fresh_database_migrates_to_the_latest_version(db: TestDb) {
    assert_eq!(storage::migrate(&db.cfg).unwrap(), storage::schema::VERSION);
    assert_eq!(
        storage::inspect::schema_version_in(&db.cfg).unwrap(),
        storage::schema::VERSION
    );
    // Idempotent, and a migrated database opens without migrating.
    assert_eq!(storage::migrate(&db.cfg).unwrap(), storage::schema::VERSION);
    let (s, _rx) = db.open_with(|c| c.auto_migrate = false);
    block_on(s.ping()).unwrap();
    assert!(s.close(Duration::from_secs(5)));
}

fn health_is_ok_while_open_and_false_once_closed(db: TestDb) {
    let (s, _rx) = db.open();
    assert_eq!(
        s.engine(),
        if db.is_postgres() {
            storage::Engine::Postgres
        } else {
            storage::Engine::Sqlite
        }
    );
    let h = s.health();
    assert!(h.ok, "{h:?}");
    assert_eq!(h.reason, None);
    block_on(s.ping()).unwrap();
    assert!(s.close(Duration::from_secs(5)));
    let h = s.health();
    assert!(!h.ok);
    assert!(h.reason.unwrap().contains("stopped"));
}

#[test]
fn an_old_database_is_refused_without_auto_migrate() {
    let db = TestDb::sqlite("old");
    std::fs::create_dir_all(db.cfg.path.parent().unwrap()).unwrap();
    storage::inspect::create_at_version(&db.cfg.path, 1).unwrap();
    let mut cfg = db.cfg.clone();
    cfg.auto_migrate = false;
    assert!(matches!(
        Storage::open(cfg),
        Err(StorageError::TooOld { found: 1, .. })
    ));
}

#[test]
fn an_unknown_url_scheme_is_refused() {
    let mut cfg = storage::StorageConfig::new("x.db".into());
    cfg.database_url = Some("mysql://root:pw@db/x".into());
    let e = Storage::open(cfg).unwrap_err();
    assert!(matches!(e, StorageError::Config(_)), "{e}");
    assert!(!e.to_string().contains("pw"), "{e}");
}
