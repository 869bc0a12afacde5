//! Room state documents on both engines: PUT/GET/DELETE and their errors, restored after a
//! graceful restart (the drain saves them) and after kill -9 (what the periodic snapshot
//! saved).

use std::collections::{HashMap, HashSet};
use std::thread;
use std::time::Duration;

use serde_json::{json, Value};

use super::common::{self, Backend, Client, HttpResponse, Server, TestDb};
use super::{env, error_of};

crate::on_both!(room_state_is_restored_after_restart);

fn put_state(c: &mut Client, id: &str, body: &str) -> HttpResponse {
    c.send(
        "PUT",
        &format!("/api/rooms/{id}/state"),
        &[("Content-Type", "application/json")],
        body.as_bytes(),
    )
    .unwrap()
}

fn get_state(s: &Server, id: &str) -> HttpResponse {
    s.client()
        .send("GET", &format!("/api/rooms/{id}/state"), &[], b"")
        .unwrap()
}

fn room_state_is_restored_after_restart(b: Backend) {
    let db = TestDb::new(b, "rooms");
    let extra = [("ROOM_SNAPSHOT_INTERVAL_SECS", "1")];
    let mut s = db.start(&[], &env(&extra));
    let mut c = s.client();
    let ids: Vec<String> = (0..8).map(|i| format!("room-{i}")).collect();
    // Rooms on both shards (the owner is a hash of the id).
    let owners: HashSet<usize> = ids.iter().map(|id| common::shard_of(id, 2)).collect();
    assert_eq!(owners.len(), 2);
    let mut want: HashMap<String, Value> = HashMap::new();
    for (i, id) in ids.iter().enumerate() {
        let doc = json!({"turn": i, "board": [i, i + 1], "note": "<b>x</b>"});
        let r = put_state(&mut c, id, &doc.to_string());
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.json()["version"], 1);
        want.insert(id.clone(), doc);
    }
    // Update one twice; read back from another connection.
    let doc = json!({"turn": 99});
    assert_eq!(
        put_state(&mut c, "room-0", &doc.to_string()).json()["version"],
        2
    );
    want.insert("room-0".into(), doc);
    assert_eq!(get_state(&s, "room-0").json()["state"], want["room-0"]);
    // Deleted rooms stay deleted.
    let r = c
        .send("DELETE", "/api/rooms/room-7/state", &[], b"")
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    want.remove("room-7");
    assert_eq!(
        c.send("DELETE", "/api/rooms/room-7/state", &[], b"")
            .unwrap()
            .status,
        404
    );

    // Errors.
    assert_eq!(get_state(&s, "nope").status, 404);
    assert_eq!(get_state(&s, "bad%20id").status, 400);
    assert_eq!(get_state(&s, &"x".repeat(65)).status, 400);
    let r = put_state(&mut c, "room-x", "{not json");
    assert_eq!(
        (r.status, error_of(&r).as_str()),
        (400, "room state must be a JSON document")
    );
    assert_eq!(put_state(&mut c, "room-x", "").status, 400);
    let big = format!("\"{}\"", "x".repeat(9000));
    assert_eq!(put_state(&mut c, "room-x", &big).status, 413);
    let r = c
        .send("PATCH", "/api/rooms/room-1/state", &[], b"{}")
        .unwrap();
    assert_eq!(r.status, 405);
    assert!(r.header("Allow").unwrap().contains("PUT"));

    // Graceful restart: the drain saves everything.
    s.signal(libc::SIGTERM);
    assert_eq!(s.wait_exit(Duration::from_secs(20)), Some(0));
    let mut s = db.start(&[], &env(&extra));
    for id in &ids {
        let r = get_state(&s, id);
        match want.get(id) {
            Some(doc) => {
                assert_eq!(r.status, 200, "{id}: {}", r.body);
                assert_eq!(&r.json()["state"], doc, "{id}");
            }
            None => assert_eq!(r.status, 404, "{id}: {}", r.body),
        }
    }

    // Crash restart: what a periodic snapshot saved survives kill -9.
    let doc = json!({"after": "crash"});
    assert_eq!(
        put_state(&mut s.client(), "room-1", &doc.to_string()).status,
        200
    );
    thread::sleep(Duration::from_millis(2500)); // > one snapshot interval
    s.child.kill().unwrap();
    s.child.wait().unwrap();
    let s = db.start(&[], &env(&extra));
    assert_eq!(get_state(&s, "room-1").json()["state"], doc);
    assert_eq!(get_state(&s, "room-2").json()["state"], want["room-2"]);
    assert_eq!(
        storage::inspect::schema_version_in(&s.storage_config()).unwrap(),
        storage::schema::VERSION
    );
    if b == Backend::Sqlite {
        assert!(s.db_path().exists());
    }
}
