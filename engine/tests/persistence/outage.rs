//! PostgreSQL stopped and started again under write load, and hung (SIGSTOP) with a write in
//! flight, through the real binary
//! (PostgreSQL only): while it is down every write answers 503 with `Retry-After` (never a
//! 500, never a hang), `/ready` is 503 with the reason, `/health` shows the storage check
//! false, `roomcore_storage_up` is 0, cached boards are still served; once it is back the
//! connection returns by itself (backoff), writes resume, and every write that was answered
//! 201 is in the database.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::common::{Backend, Client, Server, TestDb};
use super::{env, post_score, stored_score_ids};

/// What one writer saw.
#[derive(Default)]
struct Seen {
    acked: Vec<i64>,
    /// When each 201 arrived.
    acked_at: Vec<Instant>,
    unavailable: usize,
    /// Anything but 201 or 503 + Retry-After.
    bad: Vec<String>,
}

fn poll_until(limit: Duration, what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !f() {
        assert!(
            Instant::now() < deadline,
            "{what} not reached within {limit:?}"
        );
        thread::sleep(Duration::from_millis(50));
    }
}

fn storage_up(s: &Server) -> String {
    let m = s.get("/metrics").1;
    m.lines()
        .find(|l| l.starts_with("roomcore_storage_up{"))
        .unwrap_or_else(|| panic!("no roomcore_storage_up in:\n{m}"))
        .to_string()
}

#[test]
fn postgres_restarted_under_write_load_fails_cleanly_then_resumes_losing_nothing() {
    let mut db = TestDb::new(Backend::Postgres, "outage");
    let s = db.start(&[], &env(&[]));
    let mut c = s.client();
    let (t, _) = c.guest();
    assert_eq!(post_score(&mut c, &t, "outage", 1).unwrap().status, 201);
    assert_eq!(
        storage_up(&s),
        r#"roomcore_storage_up{engine="postgres"} 1"#
    );

    let stop = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let addr = s.addr;
    let writers: Vec<_> = (0..4)
        .map(|i| {
            let (stop, seen) = (stop.clone(), seen.clone());
            thread::spawn(move || {
                let mut c = Client::connect(addr).unwrap();
                let (t, _) = c.guest();
                let mut me = Seen::default();
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    match post_score(&mut c, &t, "outage", i * 1_000_000 + n) {
                        Ok(r) if r.status == 201 => {
                            me.acked.push(r.json()["id"].as_i64().unwrap());
                            me.acked_at.push(Instant::now());
                        }
                        Ok(r) if r.status == 503 && r.header("Retry-After").is_some() => {
                            me.unavailable += 1;
                            thread::sleep(Duration::from_millis(20));
                        }
                        Ok(r) => me.bad.push(format!("{} {}", r.status, r.body)),
                        Err(e) => {
                            me.bad.push(format!("connection: {e}"));
                            c = Client::connect(addr).unwrap();
                        }
                    }
                }
                seen.lock().unwrap().push(me);
            })
        })
        .collect();

    thread::sleep(Duration::from_millis(800));
    db.pg_mut().stop();
    let down_at = Instant::now();
    poll_until(Duration::from_secs(5), "/ready 503", || {
        s.get("/ready").0 == 503
    });
    let (status, body) = s.get("/ready");
    let ready: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(status, 503, "{body}");
    assert_eq!(ready["status"], "not_ready", "{body}");
    let why = ready["error"].as_str().unwrap();
    assert!(why.starts_with("storage unavailable: "), "{body}");
    assert!(why.len() > "storage unavailable: ".len(), "{body}");
    let (status, body) = s.get("/health");
    assert_eq!(status, 503, "{body}");
    let h: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(h["status"], "degraded", "{h}");
    assert_eq!(h["storage"]["ok"], false, "{h}");
    assert_eq!(h["storage"]["engine"], "postgres", "{h}");
    assert!(
        h["storage"]["reason"]
            .as_str()
            .is_some_and(|r| !r.is_empty()),
        "{h}"
    );
    assert_eq!(
        storage_up(&s),
        r#"roomcore_storage_up{engine="postgres"} 0"#
    );
    // The cached board is still served, at once.
    let t0 = Instant::now();
    let r = c
        .send("GET", "/api/leaderboard?game=outage&limit=3", &[], b"")
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.json()["entries"].as_array().unwrap().len(),
        3,
        "{}",
        r.body
    );
    assert!(t0.elapsed() < Duration::from_millis(500));
    // Live and the process keep answering; the outage lasts a while under load.
    assert_eq!(s.get("/live").0, 200);
    thread::sleep(Duration::from_millis(1500).saturating_sub(down_at.elapsed()));

    db.pg_mut().restart();
    let up_at = Instant::now();
    poll_until(Duration::from_secs(15), "/ready 200 again", || {
        s.get("/ready").0 == 200
    });
    thread::sleep(Duration::from_millis(800));
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.join().unwrap();
    }
    let seen = seen.lock().unwrap();
    let bad: Vec<&String> = seen.iter().flat_map(|s| &s.bad).collect();
    assert!(
        bad.is_empty(),
        "answers that were not 201 or 503 + Retry-After: {bad:?}"
    );
    let unavailable: usize = seen.iter().map(|s| s.unavailable).sum();
    assert!(
        unavailable > 0,
        "no write was refused while PostgreSQL was down"
    );
    let resumed = seen
        .iter()
        .flat_map(|s| &s.acked_at)
        .filter(|t| **t > up_at)
        .count();
    assert!(resumed > 0, "no write succeeded after PostgreSQL came back");
    assert_eq!(s.health()["storage"]["ok"], true);
    assert_eq!(
        storage_up(&s),
        r#"roomcore_storage_up{engine="postgres"} 1"#
    );

    // Nothing that was acknowledged is lost.
    let acked: Vec<i64> = seen.iter().flat_map(|s| s.acked.iter().copied()).collect();
    let stored: HashSet<i64> = stored_score_ids(&s, "outage").into_iter().collect();
    let missing: Vec<&i64> = acked.iter().filter(|id| !stored.contains(id)).collect();
    assert!(
        missing.is_empty(),
        "{} of {} acknowledged scores lost",
        missing.len(),
        acked.len()
    );
    eprintln!(
        "outage: {} acknowledged ({} after the restart), {} refused with 503",
        acked.len(),
        resumed,
        unavailable
    );
}

#[test]
fn postgres_hung_mid_write_new_writes_fail_fast_and_everything_resumes_when_it_answers() {
    let mut db = TestDb::new(Backend::Postgres, "hung");
    // No heartbeat in the test's time: the hang is found by the stuck round alone.
    let mut s = db.start(
        &[],
        &env(&[
            ("STORAGE_STUCK_AFTER_MS", "1000"),
            ("DATABASE_HEARTBEAT_MS", "600000"),
            ("DATABASE_CONNECT_TIMEOUT_MS", "500"),
            ("DATABASE_IO_TIMEOUT_MS", "1000"),
            ("SHUTDOWN_DRAIN_SECS", "3"),
        ]),
    );
    let mut c = s.client();
    let (t, _) = c.guest();
    for n in 1..=3 {
        assert_eq!(post_score(&mut c, &t, "hung", n).unwrap().status, 201);
    }

    // Hung, not gone: SIGSTOP, so its kernel keeps the connection and takes the data.
    db.pg_mut().pause();
    let addr = s.addr;
    let token = t.clone();
    let in_flight = thread::spawn(move || {
        let mut c = Client::connect(addr).unwrap();
        let r = post_score(&mut c, &token, "hung", 4).unwrap();
        (r.status, Instant::now())
    });
    poll_until(Duration::from_secs(10), "/ready 503", || {
        s.get("/ready").0 == 503
    });
    let (_, body) = s.get("/ready");
    assert!(body.contains("has not answered for"), "{body}");
    let (status, body) = s.get("/health");
    assert_eq!(status, 503, "{body}");
    let h: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(h["status"], "degraded", "{h}");
    assert_eq!(h["storage"]["ok"], false, "{h}");

    // A new write is refused at once instead of queueing behind the stuck one.
    let t0 = Instant::now();
    let r = post_score(&mut c, &t, "hung", 5).unwrap();
    assert!(t0.elapsed() < Duration::from_secs(1), "{:?}", t0.elapsed());
    assert_eq!(r.status, 503, "{}", r.body);
    assert!(r.header("Retry-After").is_some());
    // The rest keeps serving: probes, the cached board.
    assert_eq!(s.get("/live").0, 200);
    let t0 = Instant::now();
    let r = c
        .send("GET", "/api/leaderboard?game=hung&limit=3", &[], b"")
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(t0.elapsed() < Duration::from_millis(500));
    assert!(
        !in_flight.is_finished(),
        "the write in flight waits for the database"
    );

    // It answers again: the write in flight commits, new writes go through.
    let resumed_at = Instant::now();
    db.pg_mut().resume();
    let (status, answered_at) = in_flight.join().unwrap();
    assert_eq!(
        status, 201,
        "the write in flight after the database answered again"
    );
    assert!(answered_at >= resumed_at);
    poll_until(Duration::from_secs(15), "/ready 200 again", || {
        s.get("/ready").0 == 200
    });
    assert_eq!(post_score(&mut c, &t, "hung", 6).unwrap().status, 201);
    let stored = stored_score_ids(&s, "hung").len();
    assert_eq!(
        stored, 5,
        "scores 1-4 and 6 are stored, the refused 5 is not"
    );

    // Hung again with a write in flight, then SIGTERM: the drain waits its 3 s for that request,
    // storage gets 1 s more (it is stuck), and the process exits.
    db.pg_mut().pause();
    let token = t.clone();
    let stuck = thread::spawn(move || {
        Client::connect(addr).and_then(|mut c| post_score(&mut c, &token, "hung", 7))
    });
    thread::sleep(Duration::from_millis(300));
    let t0 = Instant::now();
    s.signal(libc::SIGTERM);
    let code = s.wait_exit(Duration::from_secs(30));
    let took = t0.elapsed();
    assert_eq!(code, Some(0), "exit after {took:?}");
    assert!(took < Duration::from_secs(8), "{took:?}");
    let refused = stuck.join().unwrap().map(|r| r.status);
    assert!(
        !matches!(refused, Ok(201)),
        "a write cut off by the exit was acknowledged: {refused:?}"
    );
}

#[test]
fn postgres_hung_while_idle_is_seen_by_the_heartbeat_and_new_writes_fail_fast() {
    let mut db = TestDb::new(Backend::Postgres, "idlehang");
    // The heartbeat's own wait is bounded by the connect timeout (8 s here); the hang must show
    // once it has waited past `STORAGE_STUCK_AFTER_MS`, as a round's wait does.
    let s = db.start(
        &[],
        &env(&[
            ("STORAGE_STUCK_AFTER_MS", "1000"),
            ("DATABASE_HEARTBEAT_MS", "200"),
            ("DATABASE_CONNECT_TIMEOUT_MS", "8000"),
            ("DATABASE_IO_TIMEOUT_MS", "8000"),
        ]),
    );
    let mut c = s.client();
    let (t, _) = c.guest();
    assert_eq!(post_score(&mut c, &t, "idle", 1).unwrap().status, 201);

    db.pg_mut().pause();
    poll_until(Duration::from_secs(5), "/ready 503", || {
        s.get("/ready").0 == 503
    });
    let (_, body) = s.get("/ready");
    assert!(body.contains("has not answered for"), "{body}");
    let t0 = Instant::now();
    let r = post_score(&mut c, &t, "idle", 2).unwrap();
    assert!(t0.elapsed() < Duration::from_secs(1), "{:?}", t0.elapsed());
    assert_eq!(r.status, 503, "{}", r.body);
    assert!(r.header("Retry-After").is_some());
    assert_eq!(s.get("/live").0, 200);

    db.pg_mut().resume();
    poll_until(Duration::from_secs(15), "/ready 200 again", || {
        s.get("/ready").0 == 200
    });
    assert_eq!(post_score(&mut c, &t, "idle", 3).unwrap().status, 201);
    assert_eq!(stored_score_ids(&s, "idle").len(), 2, "scores 1 and 3");
}
