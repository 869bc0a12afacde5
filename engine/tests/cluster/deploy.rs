//! `deploy/cluster/`: the compose file for 3 nodes, Redis, PostgreSQL and HAProxy is checked by
//! reading (no Docker engine runs here), and its HAProxy configuration is run for real, by
//! Debian's `haproxy` in front of 3 real nodes: health checks on `/ready`, WebSockets through
//! it, and a drained node taken out.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use tungstenite::Message;

use crate::common::temp_dir;
use crate::support::{wait_for, Cluster};

fn deploy() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../deploy/cluster")
}

fn read(name: &str) -> String {
    std::fs::read_to_string(deploy().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

struct Haproxy(Child);

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn the_compose_file_describes_three_nodes_on_one_redis_and_one_postgres() {
    let compose = read("compose.yml");
    // The nodes share the anchors with REDIS_URL, DATABASE_URL and the token secret.
    for needle in [
        "REDIS_URL: redis://redis:6379",
        "DATABASE_URL: postgres://roomcore:",
        "@postgres:5432/roomcore",
        "ROOMCORE_TOKEN_SECRET: ${ROOMCORE_TOKEN_SECRET:?",
        "image: redis:",
        "image: postgres:",
        "image: haproxy:",
        "./haproxy.cfg:/usr/local/etc/haproxy/haproxy.cfg:ro",
        "condition: service_healthy",
        "seccomp=unconfined",
        "memlock",
        "http://127.0.0.1:8080/ready",
    ] {
        assert!(compose.contains(needle), "compose.yml lacks {needle}");
    }
    for (i, n) in ["a", "b", "c"].iter().enumerate() {
        let port = 8081 + i;
        for needle in [
            format!("roomcore-{n}:\n    <<: *roomcore"),
            format!("NODE_ID: node-{n}"),
            format!("PUBLIC_URL: http://localhost:{port}"),
            format!("\"{port}:8080\""),
            format!("data-{n}:/var/lib/roomcore/data"),
        ] {
            assert!(compose.contains(&needle), "compose.yml lacks {needle}");
        }
    }
    // HAProxy's fixed address is the proxy roomcore trusts for X-Forwarded-For.
    assert!(compose.contains("TRUSTED_PROXIES: 172.28.0.10"));
    assert!(compose.contains("ipv4_address: 172.28.0.10"));
    assert!(compose.contains("subnet: 172.28.0.0/24"));
    // The drain fits in the stop grace period.
    assert!(
        compose.contains("SHUTDOWN_DRAIN_SECS: \"15\"")
            && compose.contains("stop_grace_period: 25s")
    );
    let hap = read("haproxy.cfg");
    for n in ["a", "b", "c"] {
        assert!(hap.contains(&format!("server node-{n} roomcore-{n}:8080")));
    }
    let out = Command::new("haproxy")
        .args(["-c", "-f"])
        .arg(deploy().join("haproxy.cfg"))
        .output()
        .expect("haproxy (scripts/test installs Debian's haproxy)");
    assert!(
        out.status.success(),
        "haproxy -c: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn haproxy_with_the_deploy_configuration_spreads_clients_and_drops_a_drained_node() {
    let mut c = Cluster::start(3, false);
    let (lb, stats) = (free_port(), free_port());
    let mut cfg = read("haproxy.cfg")
        .replace("bind :8080", &format!("bind 127.0.0.1:{lb}"))
        .replace("bind :8404", &format!("bind 127.0.0.1:{stats}"))
        .replace("maxconn 32000", "maxconn 2000");
    for (i, n) in ["a", "b", "c"].iter().enumerate() {
        cfg = cfg.replace(&format!("roomcore-{n}:8080"), &c.nodes[i].addr.to_string());
    }
    let dir = temp_dir("haproxy");
    let path = dir.join("haproxy.cfg");
    std::fs::write(&path, cfg).unwrap();
    let child = Command::new("haproxy")
        .arg("-db")
        .arg("-f")
        .arg(&path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("haproxy (scripts/test installs Debian's haproxy)");
    let _hap = Haproxy(child);
    let get = |path: &str| -> Option<(u16, String)> {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", lb)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        use std::io::{Read, Write};
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: lb\r\nConnection: close\r\n\r\n"
        )
        .ok()?;
        let mut raw = String::new();
        s.read_to_string(&mut raw).ok()?;
        let status = raw.split(' ').nth(1)?.parse().ok()?;
        let body = raw.split("\r\n\r\n").nth(1)?.to_string();
        Some((status, body))
    };
    let node_of = |body: &str| -> Option<String> {
        let v: Value = serde_json::from_str(body).ok()?;
        v["cluster"]["node"].as_str().map(String::from)
    };
    // Every node passes HAProxy's /ready check and gets requests.
    let seen = wait_for(Duration::from_secs(20), || {
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..30 {
            let (st, body) = get("/health")?;
            if st == 200 {
                seen.insert(node_of(&body)?);
            }
        }
        (seen.len() == 3).then_some(seen)
    })
    .expect("HAProxy spreads requests over the 3 nodes");
    assert_eq!(seen.len(), 3);
    // A relay room through the load balancer, its members on different nodes.
    let url = format!("ws://127.0.0.1:{lb}/ws/relay/through-lb");
    let mut members: Vec<_> = (0..3)
        .map(|_| {
            let (ws, _) = tungstenite::connect(&url).expect("WebSocket through HAProxy");
            if let tungstenite::stream::MaybeTlsStream::Plain(t) = ws.get_ref() {
                t.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            }
            ws
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    members[0]
        .send(Message::text("hello through haproxy"))
        .unwrap();
    for m in &mut members[1..] {
        let got = loop {
            match m.read().unwrap() {
                Message::Text(t) => break t.to_string(),
                _ => continue,
            }
        };
        assert_eq!(got, "hello through haproxy");
    }
    // Node 0 drains: HAProxy sees /ready 503 and sends nothing more there.
    c.nodes[0].signal(libc::SIGTERM);
    assert_eq!(c.nodes[0].wait_exit(Duration::from_secs(20)), Some(0));
    let n0 = "n0".to_string();
    let after = wait_for(Duration::from_secs(10), || {
        let mut nodes = Vec::new();
        for _ in 0..20 {
            let (st, body) = get("/health")?;
            if st != 200 {
                return None;
            }
            nodes.push(node_of(&body)?);
        }
        (!nodes.contains(&n0)).then_some(nodes)
    })
    .expect("requests are answered by the remaining nodes");
    assert!(after.iter().all(|n| n == "n1" || n == "n2"), "{after:?}");
    c.nodes.remove(0);
}
