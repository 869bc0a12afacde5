//! A typed `/ws` client (`Player`), polling, and a started chess game between two shards.

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tungstenite::Message;

use super::common::{self, Client, Server};

/// A typed `/ws` client.
pub struct Player {
    pub ws: common::Ws,
    pub token: String,
    pub id: i64,
    /// Shard that accepted the socket (`X-Roomcore-Shard`).
    pub shard: usize,
    pub seq: u64,
    /// Messages read while waiting for something else.
    pub backlog: Vec<Value>,
}

impl Player {
    pub fn connect(s: &Server, token: &str, id: i64) -> Player {
        let (ws, resp) = tungstenite::connect(s.ws_url("/ws")).expect("connect /ws");
        let shard = resp
            .headers()
            .get("X-Roomcore-Shard")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .unwrap();
        if let tungstenite::stream::MaybeTlsStream::Plain(t) = ws.get_ref() {
            t.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        }
        let mut p = Player {
            ws,
            token: token.to_string(),
            id,
            shard,
            seq: 0,
            backlog: Vec::new(),
        };
        let w = p.req(json!({"type": "hello", "token": token}));
        assert_eq!(w["type"], "welcome", "{w}");
        assert_eq!(w["user"]["id"], id);
        p
    }

    /// A new guest on a shard other than `not` (when given).
    pub fn on_shard(s: &Server, c: &mut Client, want: Option<usize>, not: Option<usize>) -> Player {
        let (token, id) = c.guest();
        for _ in 0..40 {
            let p = Player::connect(s, &token, id);
            if want.is_none_or(|w| p.shard == w) && not.is_none_or(|n| p.shard != n) {
                return p;
            }
        }
        panic!("could not land on the wanted shard");
    }

    pub fn send(&mut self, mut v: Value) -> u64 {
        self.seq += 1;
        v["seq"] = json!(self.seq);
        self.ws.send(Message::text(v.to_string())).unwrap();
        self.seq
    }

    pub fn read(&mut self) -> Value {
        loop {
            match self.ws.read().expect("websocket read") {
                Message::Text(t) => return serde_json::from_str(&t).unwrap(),
                Message::Close(c) => panic!("unexpected close: {c:?}"),
                _ => {}
            }
        }
    }

    /// Send `v` and return the answer carrying its seq (events read on the
    /// way are kept in the backlog).
    pub fn req(&mut self, v: Value) -> Value {
        let seq = self.send(v);
        loop {
            let m = self.read();
            if m["seq"] == json!(seq) {
                return m;
            }
            self.backlog.push(m);
        }
    }

    /// The next message of type `ty` (backlog first).
    pub fn wait(&mut self, ty: &str) -> Value {
        if let Some(i) = self.backlog.iter().position(|m| m["type"] == ty) {
            return self.backlog.remove(i);
        }
        loop {
            let m = self.read();
            if m["type"] == ty {
                return m;
            }
            self.backlog.push(m);
        }
    }

    pub fn expect_error(&mut self, v: Value, code: &str) -> Value {
        let r = self.req(v);
        assert_eq!(r["type"], "error", "{r}");
        assert_eq!(r["code"], code, "{r}");
        assert!(r["message"].as_str().is_some_and(|m| !m.is_empty()));
        r
    }

    pub fn ok(&mut self, v: Value) -> Value {
        let r = self.req(v.clone());
        assert_eq!(r["type"], "ok", "{v} -> {r}");
        r
    }
}

pub fn poll<T>(limit: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "condition not reached in {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Two players on different shards in a started chess game: (white, black,
/// room, white's reconnect token, black's reconnect token).
pub fn start_chess(s: &Server, c: &mut Client) -> (Player, Player, String, String, String) {
    let mut a = Player::on_shard(s, c, None, None);
    let mut b = Player::on_shard(s, c, None, Some(a.shard));
    let j = a.req(
        json!({"type": "create_room", "kind": "chess", "name": "<b>duel</b>",
        "settings": {"initial_secs": 120, "increment_secs": 1}}),
    );
    assert_eq!(j["type"], "joined", "{j}");
    assert_eq!(j["seat"], 0);
    assert_eq!(
        j["state"]["name"], "&lt;b&gt;duel&lt;&#x2F;b&gt;",
        "names are escaped"
    );
    let room = j["room"].as_str().unwrap().to_string();
    let jb = b.req(json!({"type": "join_room", "room": room}));
    assert_eq!(jb["type"], "joined", "{jb}");
    assert_eq!(jb["seat"], 1);
    a.wait("game_started");
    b.wait("game_started");
    let ta = j["reconnect_token"].as_str().unwrap().to_string();
    let tb = jb["reconnect_token"].as_str().unwrap().to_string();
    (a, b, room, ta, tb)
}
