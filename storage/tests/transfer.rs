//! Moving a database SQLite → PostgreSQL with `storage::export` /
//! `storage::import`, read back through the normal `Storage` API; and the
//! refusals (non-empty target, truncated or foreign files).

mod support;

use std::time::Duration;

use futures_lite::future::block_on;
use storage::games::GameRecord;
use storage::{BoardView, Period, RoomRow, Storage, StorageError, TransferCounts};
use support::TestDb;

fn game(id: &str, white: i64, black: i64, result: &str) -> GameRecord {
    GameRecord {
        id: id.into(),
        mode: "chess".into(),
        white_id: white,
        white_name: "ann".into(),
        black_id: black,
        black_name: "bob".into(),
        result: result.into(),
        reason: "checkmate".into(),
        pgn: "1. e4 e5 2. Qh5 Nc6 3. Bc4 Nf6 4. Qxf7# 1-0".into(),
        moves: 7,
        started_at_ms: 1_000,
        ended_at_ms: 2_000,
    }
}

/// Fill a SQLite database through the API; returns what was written.
fn fill(s: &Storage) -> (i64, i64, i64) {
    let ann = block_on(s.create_account("Ann", "$argon2id$v=19$m=8,t=1,p=1$c2FsdA$aGFzaA".into()))
        .unwrap();
    let bob = block_on(s.create_account("bob", "$argon2id$bob".into())).unwrap();
    let guest = block_on(s.create_guest()).unwrap();
    for (u, g, sc) in [
        (ann.id, "g", 10),
        (ann.id, "g", 30),
        (bob.id, "g", 20),
        (guest.id, "h", 5),
    ] {
        block_on(s.add_score(u, g, sc)).unwrap();
    }
    block_on(s.record_game(game("c1", ann.id, bob.id, "1-0"))).unwrap();
    block_on(s.record_game(game("c2", bob.id, ann.id, "1/2-1/2"))).unwrap();
    block_on(s.save_rooms(vec![RoomRow {
        id: "room-1".into(),
        kind: "state".into(),
        state: vec![0, 1, 2, 255, b'{'],
        created_at_ms: 5,
        updated_at_ms: 6,
        epoch: 0,
    }]))
    .unwrap();
    (ann.id, bob.id, guest.id)
}

#[test]
fn sqlite_to_postgres_carries_everything() {
    let lite = TestDb::sqlite("export");
    let (s, _rx) = lite.open();
    let (ann, bob, guest) = fill(&s);
    let lite_board = block_on(s.standing(bob, "g", Period::AllTime)).unwrap();
    let lite_rating = block_on(s.rating(ann, "chess")).unwrap();
    let lite_game = block_on(s.game("c2")).unwrap().unwrap();
    assert!(s.close(Duration::from_secs(5)));

    let mut file = Vec::new();
    let exported = storage::export(&lite.cfg, &mut file).unwrap();
    assert_eq!(
        exported,
        TransferCounts {
            accounts: 3,
            scores: 8,
            best_alltime: 5,
            best_daily: 5,
            ratings: 2,
            games: 2,
            rooms: 1,
        }
    );
    let text = String::from_utf8(file.clone()).unwrap();
    assert!(text
        .lines()
        .next()
        .unwrap()
        .contains(r#""format":"roomcore-export""#));
    assert!(text.lines().last().unwrap().contains(r#""type":"end""#));
    assert_eq!(text.lines().count(), 2 + 26, "header, 26 rows, end");

    let pg = TestDb::postgres();
    assert_eq!(storage::import(&pg.cfg, file.as_slice()).unwrap(), exported);

    let (p, rxs) = pg.open();
    let found = block_on(p.find_account("ann")).unwrap().unwrap();
    assert_eq!(
        (found.account.id, found.account.username.as_str()),
        (ann, "Ann")
    );
    assert_eq!(
        found.password_hash.as_deref(),
        Some("$argon2id$v=19$m=8,t=1,p=1$c2FsdA$aGFzaA")
    );
    let b = block_on(p.find_account("BOB")).unwrap().unwrap();
    assert_eq!(
        (b.account.id, b.password_hash.as_deref()),
        (bob, Some("$argon2id$bob"))
    );
    assert_eq!(
        block_on(p.standing(bob, "g", Period::AllTime)).unwrap(),
        lite_board
    );
    assert!(block_on(p.standing(guest, "h", Period::Daily))
        .unwrap()
        .is_some());
    assert_eq!(block_on(p.rating(ann, "chess")).unwrap(), lite_rating);
    assert_eq!(block_on(p.game("c2")).unwrap().unwrap(), lite_game);
    let rooms = block_on(p.load_rooms("state")).unwrap();
    assert_eq!(rooms.len(), 1);
    assert_eq!(rooms[0].state, vec![0, 1, 2, 255, b'{']);
    let today = storage::day_of(storage::now_ms());
    let mut view = BoardView::new(rxs[0].clone());
    let board = view.get("g", Period::AllTime, today).unwrap();
    let top: Vec<_> = board.entries.iter().map(|e| (e.user_id, e.score)).collect();
    assert_eq!(top, vec![(ann, 30), (bob, 20)]);
    assert!(view.get("chess", Period::AllTime, today).is_some());

    // New rows get fresh ids past the imported ones.
    let cy = block_on(p.create_account("cy", "h".into())).unwrap();
    assert!(cy.id > guest.max(bob).max(ann), "{cy:?}");
    let ack = block_on(p.add_score(cy.id, "g", 1)).unwrap();
    assert!(ack.id > 8, "{ack:?}");
    assert!(matches!(
        block_on(p.create_account("ANN", "h".into())),
        Err(StorageError::UsernameTaken)
    ));
    assert!(p.close(Duration::from_secs(5)));

    // A second import into the now non-empty database is refused.
    assert!(matches!(
        storage::import(&pg.cfg, file.as_slice()),
        Err(StorageError::NotEmpty(_))
    ));
}

#[test]
fn truncated_or_foreign_files_are_refused_and_keep_nothing() {
    let lite = TestDb::sqlite("truncated");
    let (s, _rx) = lite.open();
    fill(&s);
    assert!(s.close(Duration::from_secs(5)));
    let mut file = Vec::new();
    storage::export(&lite.cfg, &mut file).unwrap();
    let text = String::from_utf8(file).unwrap();
    let cut: String = text.lines().take(5).map(|l| format!("{l}\n")).collect();

    let target = TestDb::sqlite("target");
    let e = storage::import(&target.cfg, cut.as_bytes()).unwrap_err();
    assert!(matches!(e, StorageError::Format { .. }), "{e}");
    let (t, _rx) = target.open();
    assert!(
        block_on(t.find_account("ann")).unwrap().is_none(),
        "nothing kept"
    );
    assert!(t.close(Duration::from_secs(5)));

    let e = storage::import(&target.cfg, "{\"type\":\"account\"}\n".as_bytes()).unwrap_err();
    assert!(matches!(e, StorageError::Format { line: 1, .. }), "{e}");
    let newer = text.replacen("\"version\":1", "\"version\":99", 1);
    let e = storage::import(&target.cfg, newer.as_bytes()).unwrap_err();
    assert!(e.to_string().contains("newer"), "{e}");
    // The whole file imports fine into SQLite too.
    storage::import(&target.cfg, text.as_bytes()).unwrap();
}
