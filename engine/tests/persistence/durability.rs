//! Durability and backpressure on both engines: kill -9 mid-stream keeps every score that
//! was answered 201; a stalled persistence thread with a full queue answers 503 +
//! Retry-After at once, `/health` still answers (degraded), boards are still served, and
//! nothing queued is lost.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::common::{Backend, Client, TestDb};
use super::{env, post_score, start, stored_score_ids};

crate::on_both!(
    kill_9_keeps_every_acknowledged_score,
    stalled_storage_answers_503_fast_and_health_still_answers,
);

fn kill_9_keeps_every_acknowledged_score(b: Backend) {
    let db = TestDb::new(b, "kill9");
    let mut s = db.start(&[], &env(&[]));
    let addr = s.addr;
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..8)
        .map(|i| {
            let stop = stop.clone();
            thread::spawn(move || {
                let mut c = Client::connect(addr).unwrap();
                let (t, _) = c.guest();
                let mut acked = Vec::new();
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    match post_score(&mut c, &t, "crash", i * 1_000_000 + n) {
                        Ok(r) if r.status == 201 => acked.push(r.json()["id"].as_i64().unwrap()),
                        Ok(r) => panic!("unexpected answer {}: {}", r.status, r.body),
                        Err(_) => break, // the server died mid-request
                    }
                    n += 1;
                }
                acked
            })
        })
        .collect();
    thread::sleep(Duration::from_millis(1500));
    s.child.kill().unwrap(); // SIGKILL, mid-stream
    s.child.wait().unwrap();
    stop.store(true, Ordering::Relaxed);
    let acked: Vec<i64> = workers
        .into_iter()
        .flat_map(|w| w.join().unwrap())
        .collect();
    assert!(
        acked.len() > 50,
        "too few scores before the kill: {}",
        acked.len()
    );

    let s = db.start(&[], &env(&[]));
    let stored: HashSet<i64> = stored_score_ids(&s, "crash").into_iter().collect();
    let missing: Vec<&i64> = acked.iter().filter(|id| !stored.contains(id)).collect();
    assert!(
        missing.is_empty(),
        "{} of {} acknowledged scores lost: {:?}",
        missing.len(),
        acked.len(),
        &missing[..missing.len().min(10)]
    );
    eprintln!(
        "kill -9: {} acknowledged, {} stored (unacknowledged extras: {})",
        acked.len(),
        stored.len(),
        stored.len() - acked.len()
    );
    // The restarted server serves the board from what survived.
    let v = s
        .client()
        .send("GET", "/api/leaderboard?game=crash&limit=8", &[], b"")
        .unwrap()
        .json();
    assert_eq!(v["entries"].as_array().unwrap().len(), 8, "{v}");
}

fn stalled_storage_answers_503_fast_and_health_still_answers(b: Backend) {
    let s = start(
        b,
        &[
            ("ROOMCORE_TEST_HOOKS", "1"),
            ("STORAGE_QUEUE_CAPACITY", "4"),
        ],
    );
    let mut c = s.client();
    let (t, _) = c.guest();
    let r = c
        .send("POST", "/api/_test/storage/stall?ms=3000", &[], b"")
        .unwrap();
    assert_eq!(r.status, 202, "{}", r.body);
    thread::sleep(Duration::from_millis(200)); // the thread is asleep in the stall
                                               // Four posts fill the queue; they wait and are answered after the stall.
    let addr = s.addr;
    let queued: Vec<_> = (0..4)
        .map(|_| {
            let t = t.clone();
            thread::spawn(move || {
                post_score(&mut Client::connect(addr).unwrap(), &t, "stall", 5)
                    .unwrap()
                    .status
            })
        })
        .collect();
    thread::sleep(Duration::from_millis(300));
    for _ in 0..5 {
        let t0 = Instant::now();
        let r = post_score(&mut c, &t, "stall", 7).unwrap();
        assert_eq!(r.status, 503, "{}", r.body);
        assert_eq!(r.header("Retry-After"), Some("1"));
        assert!(
            t0.elapsed() < Duration::from_millis(500),
            "503 took {:?}",
            t0.elapsed()
        );
    }
    let t0 = Instant::now();
    let (status, body) = s.get("/health");
    assert!(t0.elapsed() < Duration::from_millis(1500));
    assert_eq!(status, 503, "{body}");
    let h: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(h["status"], "degraded");
    assert_eq!(h["storage"]["ok"], false);
    assert_eq!(h["storage"]["queue_depth"], 4);
    assert_eq!(s.get("/live").0, 200);
    // Leaderboard reads never wait on SQLite.
    let t0 = Instant::now();
    assert_eq!(
        c.send("GET", "/api/leaderboard?game=stall", &[], b"")
            .unwrap()
            .status,
        200
    );
    assert!(t0.elapsed() < Duration::from_millis(500));
    // Nothing was dropped: the queued posts succeed once the thread wakes up.
    for q in queued {
        assert_eq!(q.join().unwrap(), 201);
    }
    assert_eq!(post_score(&mut c, &t, "stall", 9).unwrap().status, 201);
    let h = s.health();
    assert_eq!(h["storage"]["ok"], true);
    assert_eq!(stored_score_ids(&s, "stall").len(), 5);
}
