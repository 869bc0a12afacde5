//! The typed `/ws` test client shared by the test binaries ([`Player`]): a guest account
//! ([`guest`]), the upgrade (extra request headers, the accepting shard from
//! `X-Roomcore-Shard`, the `traceresponse` of the 101), hello/welcome, landing on a wanted
//! shard or avoiding one, requests answered by `seq`, and the events read on the way kept in
//! a backlog until asked for.

use std::time::Duration;

use serde_json::{json, Value};
use tungstenite::client::IntoClientRequest;
use tungstenite::http::HeaderName;
use tungstenite::stream::MaybeTlsStream;
use tungstenite::Message;

use super::{Client, Server, Ws};

/// A typed `/ws` client, said hello as one account.
pub struct Player {
    pub ws: Ws,
    pub token: String,
    pub id: i64,
    /// Shard that accepted the socket (`X-Roomcore-Shard`).
    pub shard: usize,
    /// The `traceresponse` of the 101 (when the server sent one).
    pub traceresponse: Option<String>,
    /// Seq of the last request sent.
    pub seq: u64,
    /// Messages read while waiting for something else.
    pub backlog: Vec<Value>,
}

/// A new guest account (through any node of a cluster: they share the database and the
/// token secret).
pub fn guest(s: &Server) -> (String, i64) {
    let mut c: Client = s.client();
    c.guest()
}

/// An upgraded `/ws` socket (not said hello yet).
struct Upgraded {
    ws: Ws,
    shard: usize,
    traceresponse: Option<String>,
}

/// Open `/ws` on `s` with `headers` added to the upgrade request.
fn upgrade(s: &Server, headers: &[(&str, &str)]) -> Upgraded {
    let mut req = s.ws_url("/ws").into_client_request().unwrap();
    for (k, v) in headers {
        req.headers_mut().insert(
            HeaderName::from_bytes(k.as_bytes()).unwrap(),
            v.parse().unwrap(),
        );
    }
    let (ws, resp) = tungstenite::connect(req).expect("connect /ws");
    let shard = resp
        .headers()
        .get("X-Roomcore-Shard")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap();
    let traceresponse = resp
        .headers()
        .get("traceresponse")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    if let MaybeTlsStream::Plain(t) = ws.get_ref() {
        t.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    }
    Upgraded {
        ws,
        shard,
        traceresponse,
    }
}

impl Player {
    /// Connect to `s` as the account of `token` (user `id`) and say hello.
    pub fn connect(s: &Server, token: &str, id: i64) -> Player {
        Player::connect_with(s, token, id, &[])
    }

    /// [`Player::connect`], with `headers` added to the upgrade request.
    pub fn connect_with(s: &Server, token: &str, id: i64, headers: &[(&str, &str)]) -> Player {
        Player::hello(upgrade(s, headers), token, id)
    }

    /// A new guest on `s`, on any shard.
    pub fn guest_on(s: &Server) -> Player {
        let (token, id) = guest(s);
        Player::connect(s, &token, id)
    }

    /// A new guest (account made through `c`) on shard `want` and not on shard `not` (each
    /// when given).
    pub fn on_shard(s: &Server, c: &mut Client, want: Option<usize>, not: Option<usize>) -> Player {
        Player::on_shard_with(s, c, want, not, &[])
    }

    /// [`Player::on_shard`], with `headers` added to the upgrade request. Sockets that land on
    /// another shard are dropped before their hello.
    pub fn on_shard_with(
        s: &Server,
        c: &mut Client,
        want: Option<usize>,
        not: Option<usize>,
        headers: &[(&str, &str)],
    ) -> Player {
        let (token, id) = c.guest();
        for _ in 0..40 {
            let u = upgrade(s, headers);
            if want.is_none_or(|w| u.shard == w) && not.is_none_or(|n| u.shard != n) {
                return Player::hello(u, &token, id);
            }
        }
        panic!("could not land on the wanted shard");
    }

    /// Say hello on `u` as `token` and check the welcome names user `id`.
    fn hello(u: Upgraded, token: &str, id: i64) -> Player {
        let mut p = Player {
            ws: u.ws,
            token: token.to_string(),
            id,
            shard: u.shard,
            traceresponse: u.traceresponse,
            seq: 0,
            backlog: Vec::new(),
        };
        let w = p.req(json!({"type": "hello", "token": token}));
        assert_eq!(w["type"], "welcome", "{w}");
        assert_eq!(w["user"]["id"], id, "{w}");
        p
    }

    /// Send `v` with the next seq; returns that seq.
    pub fn send(&mut self, mut v: Value) -> u64 {
        self.seq += 1;
        v["seq"] = json!(self.seq);
        self.ws.send(Message::text(v.to_string())).unwrap();
        self.seq
    }

    /// Send `text` as it is (no seq added).
    pub fn send_raw(&mut self, text: &str) {
        self.ws.send(Message::text(text.to_string())).unwrap();
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

    /// The next text message (panics on a close or a read error).
    pub fn read(&mut self) -> Value {
        self.try_read()
            .unwrap_or_else(|e| panic!("player {}: {e}", self.id))
    }

    /// Send `v` and return the answer carrying its seq (events read on the way are kept in
    /// the backlog).
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

    /// [`Player::req`], asserting the answer is `ok`.
    pub fn ok(&mut self, v: Value) -> Value {
        let r = self.req(v.clone());
        assert_eq!(r["type"], "ok", "{v} -> {r}");
        r
    }

    /// [`Player::req`], asserting the answer is an error with `code` and a message.
    pub fn expect_error(&mut self, v: Value, code: &str) -> Value {
        let r = self.req(v);
        assert_eq!(r["type"], "error", "{r}");
        assert_eq!(r["code"], code, "{r}");
        assert!(r["message"].as_str().is_some_and(|m| !m.is_empty()));
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

    /// Close the socket and wait for the server's close.
    pub fn close(&mut self) {
        let _ = self.ws.close(None);
        while self.ws.read().is_ok() {}
    }
}
