//! Per-IP limits hold across the cluster: WebSocket counts and one-minute rate windows are
//! counted in Redis, whichever node a client reaches.

use std::io::Read;

use crate::common::{upgrade_request, Server};
use crate::support::Cluster;

/// The status line code of an upgrade attempt on `s` (the socket is kept when it is 101).
fn upgrade(s: &Server, keep: &mut Vec<std::net::TcpStream>) -> u16 {
    use std::io::Write;
    let mut t = s.connect();
    t.write_all(&upgrade_request("/ws/relay/ipcap")).unwrap();
    let mut buf = [0u8; 512];
    let n = t.read(&mut buf).unwrap();
    let head = String::from_utf8_lossy(&buf[..n]);
    let code: u16 = head.split(' ').nth(1).unwrap().parse().unwrap();
    if code == 101 {
        keep.push(t);
    }
    code
}

#[test]
fn the_eleventh_websocket_from_one_ip_spread_over_three_nodes_is_refused() {
    let c = Cluster::start_with(3, false, &[("MAX_CONNS_PER_IP", "10")]);
    let mut open = Vec::new();
    for k in 0..10 {
        let code = upgrade(&c.nodes[k % 3], &mut open);
        assert_eq!(code, 101, "socket {k} on node {}", k % 3);
    }
    for (i, n) in c.nodes.iter().enumerate() {
        assert_eq!(upgrade(n, &mut open), 429, "the 11th, on node {i}");
    }
    // A slot given back on one node is free on another.
    drop(open.remove(0));
    let mut code = 0;
    for _ in 0..50 {
        code = upgrade(&c.nodes[2], &mut open);
        if code == 101 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(code, 101, "the freed slot");
    assert_eq!(open.len(), 10);
}

#[test]
fn an_api_rate_window_is_counted_across_nodes() {
    let c = Cluster::start_with(3, false, &[("HTTP_API_RATE_PER_MIN", "6")]);
    let mut statuses = Vec::new();
    for k in 0..9 {
        let (status, _) = c.nodes[k % 3].get("/api/leaderboard?game=g");
        statuses.push(status);
    }
    assert_eq!(&statuses[..6], &[200; 6], "{statuses:?}");
    assert_eq!(&statuses[6..], &[429; 3], "{statuses:?}");
}
