//! A typed `/ws` client for the cluster tests: hello, requests answered by `seq`, events kept
//! on the side until asked for.

use std::time::Duration;

use serde_json::{json, Value};
use tungstenite::Message;

use crate::common::{Client, Server, Ws};

pub struct Player {
    pub ws: Ws,
    pub token: String,
    pub id: i64,
    seq: u64,
    pub backlog: Vec<Value>,
}

/// A new guest account (through any node: they share the database and the token secret).
pub fn guest(s: &Server) -> (String, i64) {
    let mut c: Client = s.client();
    c.guest()
}

impl Player {
    /// Connect to `s` as the account of `token` and say hello.
    pub fn connect(s: &Server, token: &str, id: i64) -> Player {
        let (ws, _) = tungstenite::connect(s.ws_url("/ws")).expect("connect /ws");
        if let tungstenite::stream::MaybeTlsStream::Plain(t) = ws.get_ref() {
            t.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        }
        let mut p = Player {
            ws,
            token: token.to_string(),
            id,
            seq: 0,
            backlog: Vec::new(),
        };
        let w = p.req(json!({"type": "hello", "token": token}));
        assert_eq!(w["type"], "welcome", "{w}");
        p
    }

    /// A new guest on `s`.
    pub fn guest_on(s: &Server) -> Player {
        let (t, id) = guest(s);
        Player::connect(s, &t, id)
    }

    pub fn send(&mut self, mut v: Value) -> u64 {
        self.seq += 1;
        v["seq"] = json!(self.seq);
        self.ws.send(Message::text(v.to_string())).unwrap();
        self.seq
    }

    /// The next text message; `Err` is the close (code) or the read error.
    pub fn try_read(&mut self) -> Result<Value, String> {
        loop {
            match self.ws.read() {
                Ok(Message::Text(t)) => return Ok(serde_json::from_str(&t).unwrap()),
                Ok(Message::Close(c)) => return Err(format!("closed {c:?}")),
                Ok(_) => {}
                Err(e) => return Err(format!("{e}")),
            }
        }
    }

    pub fn read(&mut self) -> Value {
        self.try_read()
            .unwrap_or_else(|e| panic!("player {}: {e}", self.id))
    }

    /// Send `v`, return the answer carrying its seq (events on the way go to the backlog).
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

    pub fn ok(&mut self, v: Value) -> Value {
        let r = self.req(v.clone());
        assert_eq!(r["type"], "ok", "{v} -> {r}");
        r
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

    /// Every `move` event until `n` were seen (backlog first), as their SAN.
    pub fn moves(&mut self, n: usize) -> Vec<String> {
        let mut out = Vec::new();
        while out.len() < n {
            out.push(self.wait("move")["san"].as_str().unwrap().to_string());
        }
        out
    }
}
