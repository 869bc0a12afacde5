//! A local HTTP endpoint standing in for a Sentry DSN: it answers every envelope
//! (`POST /api/<project>/envelope/`) with 200 and keeps the events inside them.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

pub struct Sentry {
    pub addr: SocketAddr,
    events: Arc<Mutex<Vec<Value>>>,
    paths: Arc<Mutex<Vec<String>>>,
}

impl Sentry {
    pub fn start() -> Sentry {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let events = Arc::new(Mutex::new(Vec::new()));
        let paths = Arc::new(Mutex::new(Vec::new()));
        let (e, p) = (events.clone(), paths.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming().map_while(Result::ok) {
                let (e, p) = (e.clone(), p.clone());
                std::thread::spawn(move || serve(conn, e, p));
            }
        });
        Sentry {
            addr,
            events,
            paths,
        }
    }

    /// `SENTRY_DSN` pointing here (project 42).
    pub fn dsn(&self) -> String {
        format!("http://publickey@{}/42", self.addr)
    }

    pub fn paths(&self) -> Vec<String> {
        self.paths.lock().unwrap().clone()
    }

    /// Wait (up to 10 s) for an event matching `f`.
    pub fn wait_event(&self, what: &str, f: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(e) = self.events.lock().unwrap().iter().find(|e| f(e)) {
                return e.clone();
            }
            assert!(
                Instant::now() < deadline,
                "no Sentry event {what}; got {:#?}",
                self.events.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn serve(mut conn: TcpStream, events: Arc<Mutex<Vec<Value>>>, paths: Arc<Mutex<Vec<String>>>) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16384];
    loop {
        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
            match conn.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
            continue;
        };
        let head = String::from_utf8_lossy(&buf[..end]).to_string();
        let len: usize = head
            .lines()
            .filter_map(|l| l.split_once(':'))
            .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
            .and_then(|(_, v)| v.trim().parse().ok())
            .unwrap_or(0);
        while buf.len() < end + 4 + len {
            match conn.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        let body = buf[end + 4..end + 4 + len].to_vec();
        buf.drain(..end + 4 + len);
        if let Some(path) = head.lines().next().and_then(|l| l.split(' ').nth(1)) {
            paths.lock().unwrap().push(path.to_string());
        }
        for line in String::from_utf8_lossy(&body).lines() {
            if let Ok(v) = serde_json::from_str::<Value>(line) {
                if v.get("exception").is_some() {
                    events.lock().unwrap().push(v);
                }
            }
        }
        let _ = conn.write_all(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}",
        );
    }
}
