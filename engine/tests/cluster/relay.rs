//! Relay rooms spanning nodes: every message reaches every member once, in per-sender order,
//! whichever node each member is on; a node that loses Redis keeps its local members going.

use std::collections::HashMap;
use std::time::Duration;

use tungstenite::Message;

use crate::common::Ws;
use crate::support::Cluster;

fn read_timeout(ws: &Ws, d: Duration) {
    if let tungstenite::stream::MaybeTlsStream::Plain(t) = ws.get_ref() {
        t.set_read_timeout(Some(d)).unwrap();
    }
}

/// Read text messages until `n` arrived (or the 10 s read timeout fails the test).
fn read_n(ws: &mut Ws, n: usize, c: &Cluster) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    while out.len() < n {
        let r = ws.read();
        if r.is_err() {
            let _ = c;
            let mut per: std::collections::BTreeMap<String, Vec<String>> = Default::default();
            for g in &out {
                let (f, k) = g.split_once(':').unwrap();
                per.entry(f.to_string()).or_default().push(k.to_string());
            }
            let summary: Vec<String> = per
                .iter()
                .map(|(f, ks)| {
                    format!(
                        "{f}: {} first {:?} last {:?}",
                        ks.len(),
                        ks.first(),
                        ks.last()
                    )
                })
                .collect();
            panic!("after {} of {n}: {r:?}; {summary:?}", out.len());
        }
        match r.unwrap() {
            Message::Text(t) => out.push(t.to_string()),
            Message::Close(c) => panic!("closed: {c:?}"),
            _ => {}
        }
    }
    out
}

#[test]
fn a_room_with_members_on_three_nodes_gets_every_message_once_in_per_sender_order() {
    let c = Cluster::start(3, false);
    // Two members on each node.
    let mut members: Vec<(usize, Ws)> = Vec::new();
    for (i, node) in c.nodes.iter().enumerate() {
        for _ in 0..2 {
            let ws = node.ws("/ws/relay/span");
            read_timeout(&ws, Duration::from_secs(10));
            members.push((i, ws));
        }
    }
    const PER: usize = 50;
    // Every member sends PER numbered messages, interleaved.
    for k in 0..PER {
        for (m, (_, ws)) in members.iter_mut().enumerate() {
            ws.send(Message::text(format!("{m}:{k}"))).unwrap();
        }
    }
    let total = members.len();
    for (me, (node, ws)) in members.iter_mut().enumerate() {
        let got = read_n(ws, (total - 1) * PER, &c);
        let mut next: HashMap<usize, usize> = HashMap::new();
        for g in &got {
            let (from, k) = g.split_once(':').unwrap();
            let (from, k): (usize, usize) = (from.parse().unwrap(), k.parse().unwrap());
            assert_ne!(from, me, "member {me} (node {node}) got its own message");
            let want = next.entry(from).or_insert(0);
            assert_eq!(
                k, *want,
                "member {me} (node {node}): {from}'s messages out of order"
            );
            *want += 1;
        }
        assert_eq!(next.len(), total - 1);
        assert!(next.values().all(|&n| n == PER), "{next:?}");
        // And nothing more: no duplicate arrives.
        read_timeout(ws, Duration::from_millis(300));
        if let Ok(Message::Text(t)) = ws.read() {
            panic!("member {me} got an extra message {t}");
        }
    }
    // One publish per message per node, not per recipient: 6 members x 50 messages.
    let published: u64 = c
        .nodes
        .iter()
        .map(|n| n.health()["cluster"]["published_total"].as_u64().unwrap())
        .sum();
    let relayed = (total * PER) as u64;
    assert!(
        published >= relayed && published < relayed + 200,
        "published {published} for {relayed} messages"
    );
}

/// The next text message within the socket's read timeout, if any.
fn next_text(ws: &mut Ws) -> Option<String> {
    match ws.read() {
        Ok(Message::Text(t)) => Some(t.to_string()),
        _ => None,
    }
}

/// Two members of `room` on node 0 and one on node 1, with one message seen by both sides.
fn members_on_two_nodes(c: &Cluster, room: &str) -> (Ws, Ws, Ws) {
    let path = format!("/ws/relay/{room}");
    let (mut a, mut b, mut far) = (
        c.nodes[0].ws(&path),
        c.nodes[0].ws(&path),
        c.nodes[1].ws(&path),
    );
    for ws in [&a, &b, &far] {
        read_timeout(ws, Duration::from_secs(5));
    }
    a.send(Message::text("before")).unwrap();
    assert_eq!(next_text(&mut b).as_deref(), Some("before"));
    assert_eq!(next_text(&mut far).as_deref(), Some("before"));
    (a, b, far)
}

/// Wait until every node says Redis is down.
fn wait_redis_down(c: &Cluster, limit: Duration) {
    for n in &c.nodes {
        crate::support::wait_for(limit, || (n.health()["redis"] == false).then_some(()))
            .unwrap_or_else(|| panic!("{} still says redis is up", n.addr));
    }
}

/// Send from `a` until a message reaches `far` on the other node again; `late` is a message
/// from the outage that may still arrive first.
fn crossing_resumes(a: &mut Ws, b: &mut Ws, far: &mut Ws, late: Option<&str>) {
    read_timeout(far, Duration::from_secs(5));
    for k in 0..50 {
        a.send(Message::text(format!("after {k}"))).unwrap();
        assert!(next_text(b).is_some());
        read_timeout(far, Duration::from_millis(100));
        if let Some(t) = next_text(far) {
            if t.starts_with("after") {
                return;
            }
            assert_eq!(
                Some(t.as_str()),
                late,
                "only what was sent during the outage may arrive late"
            );
        }
    }
    panic!("cross-node traffic did not resume");
}

#[test]
fn redis_killed_local_rooms_go_on_and_cross_node_traffic_resumes_once_it_is_back() {
    let mut c = Cluster::start(3, false);
    let (mut a, mut b, mut far) = members_on_two_nodes(&c, "outage");

    c.redis.kill();
    wait_redis_down(&c, Duration::from_secs(10));
    // Local members keep talking; the HTTP API keeps answering.
    a.send(Message::text("during")).unwrap();
    assert_eq!(next_text(&mut b).as_deref(), Some("during"));
    read_timeout(&far, Duration::from_millis(500));
    assert_eq!(
        next_text(&mut far),
        None,
        "nothing crosses nodes without Redis"
    );
    assert_eq!(c.nodes[1].get("/live").0, 200);
    let (_, m) = c.nodes[0].get("/metrics");
    assert!(m.contains("roomcore_cluster_redis_up 0"), "{m}");

    // Redis back (empty): the nodes register again, resubscribe, and traffic crosses again.
    c.redis.restart();
    c.wait_members(3);
    crossing_resumes(&mut a, &mut b, &mut far, None);
    let h = c.nodes[0].health();
    assert_eq!(h["redis"], true, "{h}");
    assert!(h["cluster"]["dropped_total"].as_u64().unwrap() >= 1, "{h}");
}

#[test]
fn redis_hung_local_rooms_go_on_a_node_starts_without_it_and_all_heal_when_it_answers_again() {
    let mut c = Cluster::start(2, false);
    let (mut a, mut b, mut far) = members_on_two_nodes(&c, "hung");

    // Hung, not gone: its kernel takes connections and commands, nothing answers.
    c.redis.pause();
    wait_redis_down(&c, Duration::from_secs(15));
    a.send(Message::text("during")).unwrap();
    assert_eq!(next_text(&mut b).as_deref(), Some("during"));
    assert_eq!(c.nodes[1].get("/live").0, 200);
    let (_, m) = c.nodes[0].get("/metrics");
    assert!(m.contains("roomcore_cluster_redis_up 0"), "{m}");

    // A node started meanwhile comes up, serves its local rooms and says Redis is down.
    let late = c.node("late", &[]);
    assert_eq!(late.health()["redis"], false, "{}", late.health());
    let mut x = late.ws("/ws/relay/alone");
    let mut y = late.ws("/ws/relay/alone");
    read_timeout(&y, Duration::from_secs(5));
    x.send(Message::text("local")).unwrap();
    assert_eq!(next_text(&mut y).as_deref(), Some("local"));

    // Redis answers again: the three nodes find each other and traffic crosses again.
    c.redis.resume();
    c.nodes.push(late);
    c.wait_members(3);
    crossing_resumes(&mut a, &mut b, &mut far, Some("during"));
    assert_eq!(c.nodes[0].health()["redis"], true);
}
