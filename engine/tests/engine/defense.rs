//! Defense in depth: rate and connection limits across shards, origins, CORS,
//! security headers, crash isolation, chaos injection.

use std::io::Write;
use std::time::{Duration, Instant};

use tungstenite::client::IntoClientRequest;
use tungstenite::Message;

use crate::common::{read_responses, recv_close, recv_data, temp_dir, Server, Ws};

fn start_with(env: &[(&str, &str)]) -> Server {
    Server::start_in(&temp_dir("defense"), &[], env)
}

fn shard_of_upgrade(resp: &tungstenite::handshake::client::Response) -> usize {
    resp.headers()["x-roomcore-shard"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn http_api_and_auth_rate_limits_hold_across_shards() {
    let s = start_with(&[
        ("HTTP_API_RATE_PER_MIN", "6"),
        ("HTTP_AUTH_RATE_PER_MIN", "3"),
    ]);
    // Each request on a fresh connection: the kernel spreads them over both shards.
    for i in 0..6 {
        let r = s.request("GET", "/api/leaderboard?game=g", &[], b"");
        assert_ne!(r.status, 429, "request {i} limited too early");
        assert_eq!(r.header("RateLimit-Policy"), Some("6;w=60"));
        assert!(
            r.header("RateLimit")
                .unwrap()
                .contains(&format!("remaining={}", 5 - i)),
            "{:?}",
            r.header("RateLimit")
        );
    }
    let r = s.request("GET", "/api/leaderboard?game=g", &[], b"");
    assert_eq!(r.status, 429);
    assert_eq!(r.json()["error"], "Too many requests");
    let retry: u64 = r.header("Retry-After").unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry));
    assert!(r.header("RateLimit").unwrap().contains("remaining=0"));
    // Probes are never limited.
    assert_eq!(s.get("/health").0, 200);

    let s = start_with(&[
        ("HTTP_API_RATE_PER_MIN", "100"),
        ("HTTP_AUTH_RATE_PER_MIN", "3"),
    ]);
    let body = br#"{"username":"nobody","password":"wrong-password"}"#;
    for _ in 0..3 {
        let r = s.request(
            "POST",
            "/api/auth/login",
            &[("Content-Type", "application/json")],
            body,
        );
        assert_eq!(r.status, 401, "{}", r.body);
    }
    let r = s.request(
        "POST",
        "/api/auth/login",
        &[("Content-Type", "application/json")],
        body,
    );
    assert_eq!(r.status, 429);
    assert_eq!(r.header("RateLimit-Policy"), Some("3;w=60"));
    // Other API routes still have their own (larger) allowance.
    assert_ne!(
        s.request("GET", "/api/leaderboard?game=g", &[], b"").status,
        429
    );
    let m = s.get("/metrics").1;
    assert!(
        m.contains("roomcore_rate_limit_hits_total{limit=\"http_auth\"} 1"),
        "{m}"
    );
}

#[test]
fn eleventh_socket_from_one_ip_is_refused_across_shards() {
    let s = start_with(&[("MAX_CONNS_PER_IP", "10")]);
    let mut held: Vec<(usize, Ws)> = Vec::new();
    let mut tries = 0;
    // Hold 10 sockets, accepted by both shards.
    while held.len() < 10 || held.iter().all(|(sh, _)| *sh == held[0].0) {
        tries += 1;
        assert!(tries < 100, "could not spread sockets over both shards");
        if held.len() == 10 {
            held.pop();
            std::thread::sleep(Duration::from_millis(50));
        }
        let (ws, resp) =
            tungstenite::connect(s.ws_url(&format!("/ws/relay/ip-{}", held.len()))).unwrap();
        held.push((shard_of_upgrade(&resp), ws));
    }
    match tungstenite::connect(s.ws_url("/ws/relay/ip-extra")) {
        Err(tungstenite::Error::Http(r)) => assert_eq!(r.status(), 429),
        other => panic!("11th socket accepted: {:?}", other.map(|(_, r)| r.status())),
    }
    // Closing one frees a slot (released on the owner shard of the IP).
    let (_, mut ws) = held.pop().unwrap();
    ws.close(None).unwrap();
    let _ = recv_close(&mut ws);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match tungstenite::connect(s.ws_url("/ws/relay/ip-again")) {
            Ok(_) => break,
            Err(e) => assert!(Instant::now() < deadline, "slot never released: {e}"),
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let m = s.get("/metrics").1;
    assert!(
        m.contains("roomcore_connections_rejected_total{reason=\"per_ip_limit\"} "),
        "{m}"
    );
}

#[test]
fn total_connection_limit_is_process_wide() {
    let s = start_with(&[("MAX_TOTAL_CONNECTIONS", "3")]);
    let _a: Vec<Ws> = (0..3)
        .map(|i| s.ws(&format!("/ws/relay/total-{i}")))
        .collect();
    match tungstenite::connect(s.ws_url("/ws/relay/total-x")) {
        Err(tungstenite::Error::Http(r)) => assert_eq!(r.status(), 503),
        other => panic!("4th socket accepted: {:?}", other.map(|(_, r)| r.status())),
    }
}

#[test]
fn flooder_is_throttled_then_closed_while_others_keep_receiving() {
    let s = start_with(&[
        ("WS_MAX_MSGS_PER_SEC", "20"),
        ("MAX_MSGS_PER_10S", "200"),
        ("WS_RATE_LIMIT_CLOSE_AFTER", "10"),
    ]);
    let room = "/ws/relay/flood";
    let mut listener = s.ws(room);
    let mut polite = s.ws(room);
    let mut flooder = s.ws(room);
    std::thread::sleep(Duration::from_millis(100));
    // The flooder: 60 messages at once.
    for i in 0..60 {
        if flooder.send(Message::text(format!("flood {i}"))).is_err() {
            break;
        }
    }
    // It first gets a typed rate_limited error, then close 1008.
    let mut saw_error = false;
    let code = loop {
        match flooder.read() {
            Ok(Message::Text(t)) => {
                let v: serde_json::Value = serde_json::from_str(&t).unwrap_or_default();
                if v["type"] == "error" && v["code"] == "rate_limited" {
                    saw_error = true;
                }
            }
            Ok(Message::Close(c)) => break c.map(|c| u16::from(c.code)),
            Ok(_) => {}
            Err(_) => break None,
        }
    };
    assert!(saw_error, "no rate_limited error before the close");
    assert_eq!(code, Some(1008));
    // The listener got at most the allowed 20 flood messages, then the polite
    // member's messages arrive promptly.
    let mut flood_seen = 0;
    for k in 0..3 {
        let t0 = Instant::now();
        polite.send(Message::text(format!("polite {k}"))).unwrap();
        loop {
            match recv_data(&mut listener) {
                Message::Text(t) if t.starts_with("flood") => flood_seen += 1,
                Message::Text(t) => {
                    assert_eq!(t.as_str(), format!("polite {k}"));
                    break;
                }
                other => panic!("{other:?}"),
            }
        }
        assert!(
            t0.elapsed() < Duration::from_millis(500),
            "slow delivery: {:?}",
            t0.elapsed()
        );
        std::thread::sleep(Duration::from_millis(60));
    }
    assert!(flood_seen <= 20, "{flood_seen} flood messages got through");
    let m = s.get("/metrics").1;
    assert!(
        m.contains("roomcore_ws_disconnections_total{reason=\"rate_limited\"} 1"),
        "{m}"
    );
}

#[test]
fn byte_and_ten_second_limits_trigger_at_threshold() {
    let s = start_with(&[
        ("MAX_BYTES_PER_10S", "1000"),
        ("MAX_MSGS_PER_10S", "5"),
        ("WS_RATE_LIMIT_CLOSE_AFTER", "0"),
    ]);
    let mut rx = s.ws("/ws/relay/bytes");
    let mut tx = s.ws("/ws/relay/bytes");
    std::thread::sleep(Duration::from_millis(50));
    // 900 bytes pass; the next 200 would cross 1000 bytes.
    tx.send(Message::binary(vec![1u8; 900])).unwrap();
    assert_eq!(recv_data(&mut rx), Message::binary(vec![1u8; 900]));
    tx.send(Message::binary(vec![2u8; 200])).unwrap();
    let v: serde_json::Value = match recv_data(&mut tx) {
        Message::Text(t) => serde_json::from_str(&t).unwrap(),
        other => panic!("{other:?}"),
    };
    assert_eq!(v["code"], "rate_limited");
    // Small messages: the 10 s message count (5, the 900-byte one included)
    // stops the 5th of this burst.
    for i in 0..5 {
        tx.send(Message::text(format!("m{i}"))).unwrap();
    }
    for i in 0..4 {
        assert_eq!(recv_data(&mut rx), Message::text(format!("m{i}")));
    }
    // The refusal of m4 (first strike after the passes) comes back as a notice; only then is
    // it sure to be counted.
    let v: serde_json::Value = match recv_data(&mut tx) {
        Message::Text(t) => serde_json::from_str(&t).unwrap(),
        other => panic!("{other:?}"),
    };
    assert_eq!(v["code"], "rate_limited");
    let m = s.get("/metrics").1;
    assert!(
        m.contains("roomcore_rate_limit_hits_total{limit=\"ws_bytes\"} 1"),
        "{m}"
    );
    assert!(
        m.contains("roomcore_rate_limit_hits_total{limit=\"ws_messages\"} 1"),
        "{m}"
    );
}

#[test]
fn room_creation_is_limited_per_ip() {
    let s = start_with(&[("MAX_ROOM_CREATES_PER_IP_PER_MIN", "2")]);
    let _a = s.ws("/ws/relay/create-1");
    let _b = s.ws("/ws/relay/create-2");
    // Joining an existing room is not a creation.
    let _c = s.ws("/ws/relay/create-1");
    let mut d = s.ws("/ws/relay/create-3");
    let v: serde_json::Value = match d.read().unwrap() {
        Message::Text(t) => serde_json::from_str(&t).unwrap(),
        other => panic!("{other:?}"),
    };
    assert_eq!(v["code"], "rate_limited");
    assert_eq!(recv_close(&mut d), Some(1008));
}

#[test]
fn origins_cors_and_security_headers() {
    let s = start_with(&[("ALLOWED_ORIGINS", "https://game.example")]);
    let ws_req = |origin: &str| {
        let mut req = s.ws_url("/ws/relay/origin").into_client_request().unwrap();
        req.headers_mut().insert("Origin", origin.parse().unwrap());
        tungstenite::connect(req)
    };
    match ws_req("https://evil.example") {
        Err(tungstenite::Error::Http(r)) => assert_eq!(r.status(), 403),
        other => panic!("evil origin accepted: {:?}", other.map(|(_, r)| r.status())),
    }
    assert!(ws_req("https://game.example").is_ok());
    // Preflight.
    let r = s.request(
        "OPTIONS",
        "/api/scores",
        &[
            ("Origin", "https://game.example"),
            ("Access-Control-Request-Method", "POST"),
        ],
        b"",
    );
    assert_eq!(r.status, 204);
    assert_eq!(
        r.header("Access-Control-Allow-Origin"),
        Some("https://game.example")
    );
    assert!(r
        .header("Access-Control-Allow-Methods")
        .unwrap()
        .contains("POST"));
    let r = s.request(
        "OPTIONS",
        "/api/scores",
        &[("Origin", "https://evil.example")],
        b"",
    );
    assert_eq!(r.status, 403);
    // Actual request from an allowed origin carries CORS headers; others do not.
    let r = s.request("GET", "/live", &[("Origin", "https://game.example")], b"");
    assert_eq!(
        r.header("Access-Control-Allow-Origin"),
        Some("https://game.example")
    );
    let r = s.request("GET", "/live", &[("Origin", "https://evil.example")], b"");
    assert_eq!(r.header("Access-Control-Allow-Origin"), None);
    // Security headers on every response, errors included.
    let mut c = s.connect();
    c.write_all(b"GET /live HTTP/1.1\r\n\r\nGET /nope HTTP/1.1\r\n\r\nPOST /health HTTP/1.1\r\nContent-Length: 0\r\n\r\nGET /ready HTTP/1.1\r\n\r\n").unwrap();
    let mut all = read_responses(&mut c, 4);
    all.push(s.request("GET", "/api/nothing", &[], b""));
    all.push(s.request("GET", "/live", &[("X-Big", &"a".repeat(9000))], b""));
    for r in &all {
        assert_eq!(
            r.header("X-Content-Type-Options"),
            Some("nosniff"),
            "{}",
            r.status
        );
        assert_eq!(r.header("X-Frame-Options"), Some("DENY"));
        assert!(r
            .header("Strict-Transport-Security")
            .unwrap()
            .contains("max-age="));
        assert_eq!(r.header("Referrer-Policy"), Some("no-referrer"));
        assert!(r
            .header("Content-Security-Policy")
            .unwrap()
            .contains("default-src 'none'"));
        assert!(r.header("X-Request-Id").is_some_and(|v| !v.is_empty()));
    }
    // A client's request id is echoed.
    let r = s.request("GET", "/live", &[("X-Request-Id", "abc-123")], b"");
    assert_eq!(r.header("X-Request-Id"), Some("abc-123"));
    let m = s.get("/metrics").1;
    assert!(
        m.contains("roomcore_connections_rejected_total{reason=\"origin\"} 1"),
        "{m}"
    );
}

#[test]
fn handler_panic_closes_only_that_room() {
    let s = start_with(&[("ROOMCORE_TEST_HOOKS", "1")]);
    let mut a1 = s.ws("/ws/relay/crash-a");
    let mut a2 = s.ws("/ws/relay/crash-a");
    let mut b1 = s.ws("/ws/relay/crash-b");
    let mut b2 = s.ws("/ws/relay/crash-b");
    std::thread::sleep(Duration::from_millis(100));
    a1.send(Message::text("__roomcore_test_panic__")).unwrap();
    assert_eq!(recv_close(&mut a1), Some(1011));
    assert_eq!(recv_close(&mut a2), Some(1011));
    // The other room on the same server keeps working.
    b1.send(Message::text("still here")).unwrap();
    assert_eq!(recv_data(&mut b2), Message::text("still here"));
    // And the crashed room can be used again.
    let mut a3 = s.ws("/ws/relay/crash-a");
    let mut a4 = s.ws("/ws/relay/crash-a");
    std::thread::sleep(Duration::from_millis(50));
    a3.send(Message::text("again")).unwrap();
    assert_eq!(recv_data(&mut a4), Message::text("again"));
    let m = s.get("/metrics").1;
    assert!(
        m.contains("roomcore_crashes_total{scope=\"room\"} 1"),
        "{m}"
    );
    assert_eq!(s.get("/health").0, 200);
}

#[test]
fn chaos_injection_fails_api_requests_but_not_probes() {
    let s = start_with(&[("CHAOS_ERROR_RATE", "1")]);
    let r = s.request("GET", "/api/leaderboard?game=g", &[], b"");
    assert_eq!(r.status, 500);
    assert_eq!(r.header("X-Chaos"), Some("error"));
    assert_eq!(s.get("/health").0, 200);
    assert_eq!(s.get("/ready").0, 200);
    let m = s.get("/metrics").1;
    assert!(
        m.contains("roomcore_chaos_injected_total{kind=\"error\"} 1"),
        "{m}"
    );
}

#[test]
fn forwarded_for_is_trusted_only_from_trusted_proxies() {
    let get = |s: &Server, xff: &str| {
        s.request(
            "GET",
            "/api/leaderboard?game=g",
            &[("X-Forwarded-For", xff)],
            b"",
        )
        .status
    };
    // Behind a trusted proxy (the test client is 127.0.0.1): each forwarded
    // client has its own allowance.
    let s = start_with(&[
        ("HTTP_API_RATE_PER_MIN", "2"),
        ("TRUSTED_PROXIES", "127.0.0.1"),
    ]);
    assert_ne!(get(&s, "203.0.113.1"), 429);
    assert_ne!(get(&s, "203.0.113.1"), 429);
    assert_eq!(get(&s, "203.0.113.1"), 429);
    assert_ne!(
        get(&s, "198.51.100.7, 203.0.113.9"),
        429,
        "last untrusted hop counts"
    );
    // Without trusting the proxy, X-Forwarded-For is ignored: one shared allowance.
    let s = start_with(&[("HTTP_API_RATE_PER_MIN", "2")]);
    assert_ne!(get(&s, "203.0.113.1"), 429);
    assert_ne!(get(&s, "203.0.113.2"), 429);
    assert_eq!(get(&s, "203.0.113.3"), 429);
}

#[test]
fn out_of_file_descriptors_the_listener_backs_off_logs_once_and_recovers() {
    use std::io::{BufRead, BufReader};
    use std::os::unix::process::CommandExt;

    let s = Server::launch(&temp_dir("emfile"), &[], &[], |cmd| {
        cmd.stderr(std::process::Stdio::piped());
        // SAFETY: setrlimit is async-signal-safe; nothing else runs between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                let lim = libc::rlimit {
                    rlim_cur: 64,
                    rlim_max: 64,
                };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    });
    let mut s = s;
    // the server's log lines, as they come
    let (sink, lines) = std::sync::mpsc::channel::<String>();
    let stderr = s.child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for l in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = sink.send(l);
        }
    });
    // More idle connections than the server has descriptors left.
    let held: Vec<std::net::TcpStream> = (0..100)
        .filter_map(|_| std::net::TcpStream::connect_timeout(&s.addr, Duration::from_secs(1)).ok())
        .collect();
    assert!(held.len() > 64, "only {} connected", held.len());
    let cpu = |pid: i32| -> u64 {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
        let f: Vec<&str> = stat
            .rsplit(')')
            .next()
            .unwrap()
            .split_whitespace()
            .collect();
        f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
    };
    std::thread::sleep(Duration::from_millis(300));
    let (c0, t0) = (cpu(s.pid()), Instant::now());
    std::thread::sleep(Duration::from_secs(2));
    let ticks = cpu(s.pid()) - c0;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    let busy = ticks as f64 / hz / t0.elapsed().as_secs_f64();
    // Retrying accept in a tight loop would keep both shards busy.
    assert!(
        busy < 0.5,
        "server {:.0} % busy while out of descriptors",
        busy * 100.0
    );
    let failed: Vec<String> = lines
        .try_iter()
        .filter(|l| l.contains("accept failed"))
        .collect();
    assert!(
        (1..=2).contains(&failed.len()),
        "one line per shard per 10 s, got {}: {failed:?}",
        failed.len()
    );
    assert!(failed[0].contains("Too many open files"), "{failed:?}");
    drop(held);
    // Descriptors come back: the server serves again and counted the failures.
    let deadline = Instant::now() + Duration::from_secs(10);
    let metrics = loop {
        if let Ok((200, body)) = s.try_get("/metrics") {
            break body;
        }
        assert!(Instant::now() < deadline, "never served again");
        std::thread::sleep(Duration::from_millis(50));
    };
    let errors: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("roomcore_accept_errors_total "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no accept error counter: {metrics}"));
    assert!(errors >= 2, "{errors}");
    assert_eq!(s.health()["status"], "ok");
}

/// Upgrades `path` on a raw socket that then reads nothing, and sends `frame` over and over for
/// at most `limit`; returns how many went out before the server closed the connection, or None
/// if it never did.
fn flood_without_reading(s: &Server, path: &str, frame: &[u8], limit: Duration) -> Option<usize> {
    use std::io::Read;
    let mut c = s.connect();
    c.write_all(&crate::common::upgrade_request(path)).unwrap();
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(c.read(&mut b).unwrap(), 1);
        head.push(b[0]);
    }
    assert!(head.starts_with(b"HTTP/1.1 101"));
    c.set_write_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let burst = frame.repeat(1000);
    let t0 = Instant::now();
    let mut sent = 0;
    while t0.elapsed() < limit {
        // the rest of the current burst, so that frames stay whole
        let at = sent % burst.len();
        match c.write(&burst[at..]) {
            Ok(n) => sent += n,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return Some(sent / frame.len()),
        }
    }
    None
}

/// A masked ping with a 125-byte payload.
fn ping_frame() -> Vec<u8> {
    let mut f = vec![0x89, 0x80 | 125, 0, 0, 0, 0];
    f.extend_from_slice(&[b'p'; 125]);
    f
}

fn rss_kb(pid: i32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap()
}

#[test]
fn ping_flood_from_a_peer_that_never_reads_is_cut_with_memory_flat() {
    // Rate limits off: only the bound on queued pongs can stop it.
    let s = Server::start(&[]);
    let before = rss_kb(s.pid());
    let sent = flood_without_reading(
        &s,
        "/ws/relay/pings",
        &ping_frame(),
        Duration::from_secs(20),
    )
    .expect("still open after 20 s of unread pongs");
    assert!(sent > 0);
    let grown = rss_kb(s.pid()).saturating_sub(before);
    assert!(grown < 64 * 1024, "RSS grew {grown} kB");
    let (_, m) = s.get("/metrics");
    assert!(
        m.contains("roomcore_ws_disconnections_total{reason=\"slow_consumer\"} 1"),
        "{m}"
    );
    assert_eq!(s.health()["status"], "ok");
}

#[test]
fn ping_and_message_floods_are_rate_limited_and_closed_on_both_endpoints() {
    let s = start_with(&[
        ("WS_MAX_MSGS_PER_SEC", "20"),
        ("WS_RATE_LIMIT_CLOSE_AFTER", "10"),
    ]);
    let mut msg = vec![0x81, 0x80 | 15, 0, 0, 0, 0];
    msg.extend_from_slice(br#"{"type":"ping"}"#);
    for (path, frame) in [
        ("/ws/relay/flood", ping_frame()),
        ("/ws", ping_frame()),
        ("/ws", msg),
    ] {
        let sent = flood_without_reading(&s, path, &frame, Duration::from_secs(20))
            .unwrap_or_else(|| panic!("{path}: flood never closed"));
        assert!(sent >= 30, "{path}: closed after {sent}");
    }
    let (_, m) = s.get("/metrics");
    assert!(
        m.contains("roomcore_ws_disconnections_total{reason=\"rate_limited\"} 3"),
        "{m}"
    );
}
