//! A typed `/ws` client for the telemetry tests.

use std::time::Duration;

use serde_json::{json, Value};
use tungstenite::Message;

use crate::common::{Client, Server, Ws};

pub struct Player {
    pub ws: Ws,
    pub id: i64,
    /// Shard that accepted the socket (`X-Roomcore-Shard`).
    pub shard: usize,
    /// The `traceresponse` of the 101.
    pub traceresponse: Option<String>,
    seq: u64,
    backlog: Vec<Value>,
}

impl Player {
    /// A new guest, connected and said hello, on a shard other than `not` (when given);
    /// `headers` go with the upgrade.
    pub fn new(s: &Server, c: &mut Client, not: Option<usize>, headers: &[(&str, &str)]) -> Player {
        let (token, id) = c.guest();
        for _ in 0..40 {
            let mut req =
                tungstenite::client::IntoClientRequest::into_client_request(s.ws_url("/ws"))
                    .unwrap();
            for (k, v) in headers {
                req.headers_mut().insert(
                    tungstenite::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                    v.parse().unwrap(),
                );
            }
            let (ws, resp) = tungstenite::connect(req).expect("connect /ws");
            let shard: usize = resp
                .headers()
                .get("X-Roomcore-Shard")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse().ok())
                .unwrap();
            if not == Some(shard) {
                continue;
            }
            let traceresponse = resp
                .headers()
                .get("traceresponse")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            if let tungstenite::stream::MaybeTlsStream::Plain(t) = ws.get_ref() {
                t.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            }
            let mut p = Player {
                ws,
                id,
                shard,
                traceresponse,
                seq: 0,
                backlog: Vec::new(),
            };
            let w = p.req(json!({"type": "hello", "token": token}));
            assert_eq!(w["type"], "welcome", "{w}");
            return p;
        }
        panic!("could not land on another shard");
    }

    pub fn send(&mut self, mut v: Value) -> u64 {
        self.seq += 1;
        v["seq"] = json!(self.seq);
        self.ws.send(Message::text(v.to_string())).unwrap();
        self.seq
    }

    pub fn send_raw(&mut self, text: &str) {
        self.ws.send(Message::text(text.to_string())).unwrap();
    }

    fn read(&mut self) -> Value {
        loop {
            match self.ws.read().expect("websocket read") {
                Message::Text(t) => return serde_json::from_str(&t).unwrap(),
                Message::Close(c) => panic!("unexpected close: {c:?}"),
                _ => {}
            }
        }
    }

    /// Send `v` and return the answer carrying its seq.
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

    /// Close the socket and wait for the server's close.
    pub fn close(&mut self) {
        let _ = self.ws.close(None);
        while self.ws.read().is_ok() {}
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
}
