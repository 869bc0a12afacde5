//! Shared test support: start the real `roomcore` binary on an ephemeral port
//! with 2 shards, and talk to it over real sockets (raw TCP, HTTP/1.1,
//! tungstenite WebSocket client). [`db`] picks the database a server stores
//! into (SQLite file or a throwaway PostgreSQL cluster, [`pg`]); [`player`] is the typed
//! `/ws` client; [`poll`] retries a check until it holds.
#![allow(dead_code)]

pub mod db;
#[path = "../../../storage/tests/support/pg.rs"]
pub mod pg;
pub mod player;
pub mod redis;

pub use db::{Backend, TestDb};

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message, WebSocket};

pub type Ws = WebSocket<MaybeTlsStream<TcpStream>>;

static NEXT_DIR: AtomicUsize = AtomicUsize::new(0);

/// A loopback address where connections are refused for as long as the returned socket lives:
/// it is bound but does not listen, so no other test can take its port meanwhile (a port freed
/// after a probe bind may be reused by anyone).
pub fn refused_addr() -> (socket2::Socket, std::net::SocketAddr) {
    let held = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    let any: std::net::SocketAddr = "127.0.0.1:0".parse().unwrap();
    held.bind(&any.into()).unwrap();
    let addr = held.local_addr().unwrap().as_socket().unwrap();
    (held, addr)
}

/// A fresh data directory under the target dir, unique per test.
pub fn temp_dir(tag: &str) -> PathBuf {
    let n = NEXT_DIR.fetch_add(1, Ordering::Relaxed);
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("{tag}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A running server process (killed on drop).
pub struct Server {
    pub child: Child,
    pub addr: SocketAddr,
    pub data_dir: PathBuf,
    /// `DATABASE_URL` it was started with (PostgreSQL), else it stores into the SQLite file.
    pub database_url: Option<String>,
    /// The database it owns when started by [`Server::start_on`] (dropped after the process).
    pub owned_db: Option<Box<TestDb>>,
}

impl Server {
    /// Start with 2 shards on 127.0.0.1:0 and wait until /ready answers 200.
    pub fn start(extra: &[&str]) -> Server {
        Server::start_in(&temp_dir("rc"), extra, &[])
    }

    /// Start with extra flags and environment variables in `data_dir`.
    pub fn start_in(data_dir: &Path, extra: &[&str], env: &[(&str, &str)]) -> Server {
        Server::launch(data_dir, extra, env, |_| {})
    }

    /// [`Server::start_in`], with `tweak` applied to the command last (resource limits, ...).
    pub fn launch(
        data_dir: &Path,
        extra: &[&str],
        env: &[(&str, &str)],
        tweak: impl FnOnce(&mut Command),
    ) -> Server {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_roomcore"));
        cmd.args(["--listen", "127.0.0.1:0", "--shards", "2", "--data-dir"])
            .arg(data_dir)
            .args(extra)
            .env("LOG_LEVEL", "warn")
            // Limits are off unless a test turns one on (explicit env wins).
            .env("MAX_CONNS_PER_IP", "0")
            .env("MAX_TOTAL_CONNECTIONS", "0")
            .env("WS_MAX_MSGS_PER_SEC", "0")
            .env("MAX_MSGS_PER_10S", "0")
            .env("MAX_BYTES_PER_10S", "0")
            .env("MAX_ROOM_CREATES_PER_IP_PER_MIN", "0")
            .env("HTTP_API_RATE_PER_MIN", "0")
            .env("HTTP_AUTH_RATE_PER_MIN", "0")
            // SQLite unless the test names a database (never the caller's DATABASE_URL).
            .env_remove("DATABASE_URL")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (k, v) in env {
            cmd.env(k, v);
        }
        tweak(&mut cmd);
        let mut child = cmd.spawn().expect("start roomcore");
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let line = lines
            .next()
            .expect("roomcore printed nothing")
            .expect("read roomcore stdout");
        let addr: SocketAddr = line
            .rsplit(' ')
            .next()
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("unexpected first line: {line}"));
        // Keep draining stdout so the child never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        let database_url = env
            .iter()
            .rev()
            .find(|(k, _)| *k == "DATABASE_URL")
            .map(|(_, v)| v.to_string())
            .filter(|v| !v.is_empty());
        let s = Server {
            child,
            addr,
            data_dir: data_dir.to_path_buf(),
            database_url,
            owned_db: None,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok((200, _)) = s.try_get("/ready") {
                break;
            }
            assert!(Instant::now() < deadline, "server never became ready");
            std::thread::sleep(Duration::from_millis(20));
        }
        s
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Send a signal to the server process.
    pub fn signal(&self, sig: i32) {
        // SAFETY: plain kill(2) on our own child.
        unsafe {
            libc::kill(self.pid(), sig);
        }
    }

    /// Wait for the process to exit, up to `limit`; returns its exit code.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<i32> {
        let deadline = Instant::now() + limit;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn connect(&self) -> TcpStream {
        let s = TcpStream::connect(self.addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.set_nodelay(true).unwrap();
        s
    }

    /// One-shot GET with `Connection: close`: (status, body).
    pub fn try_get(&self, path: &str) -> std::io::Result<(u16, String)> {
        let mut s = TcpStream::connect(self.addr)?;
        s.set_read_timeout(Some(Duration::from_secs(10)))?;
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
        )?;
        let mut raw = Vec::new();
        s.read_to_end(&mut raw)?;
        let r = parse_response(&raw).ok_or_else(|| std::io::Error::other("bad response"))?;
        Ok((r.status, r.body))
    }

    pub fn get(&self, path: &str) -> (u16, String) {
        self.try_get(path).expect("GET")
    }

    /// One-shot request with a method, headers and body.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> HttpResponse {
        let mut s = self.connect();
        let mut req = format!(
            "{method} {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Length: {}\r\n",
            body.len()
        );
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str("\r\n");
        s.write_all(req.as_bytes()).unwrap();
        s.write_all(body).unwrap();
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).unwrap();
        parse_response(&raw).expect("valid HTTP response")
    }

    pub fn ws_url(&self, path: &str) -> String {
        format!("ws://{}{}", self.addr, path)
    }

    /// Open a WebSocket with the tungstenite client.
    pub fn ws(&self, path: &str) -> Ws {
        let (ws, resp) = tungstenite::connect(self.ws_url(path)).expect("websocket connect");
        assert_eq!(resp.status(), 101);
        if let MaybeTlsStream::Plain(s) = ws.get_ref() {
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        }
        ws
    }

    /// Stats from /health as JSON.
    pub fn health(&self) -> serde_json::Value {
        let (status, body) = self.get("/health");
        assert_eq!(status, 200, "{body}");
        serde_json::from_str(&body).unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Complete HTTP/1.1 requests every server answers with a plain response: a probe, a JSON
/// POST with a body, and a query string.
pub const PLAIN_REQUESTS: [&[u8]; 3] = [
    b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n",
    b"POST /api/auth/guest HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}",
    b"GET /api/leaderboard?game=chess&limit=5 HTTP/1.1\r\nHost: t\r\n\r\n",
];

/// A valid WebSocket upgrade request for `path`, written by hand (raw-socket tests).
pub fn upgrade_request(path: &str) -> Vec<u8> {
    format!(
        "GET {path} HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    )
    .into_bytes()
}

/// A parsed HTTP response.
#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
    /// Bytes of the raw response consumed.
    pub len: usize,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

/// Parse one response (with Content-Length) from the front of `raw`.
pub fn parse_response(raw: &[u8]) -> Option<HttpResponse> {
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = std::str::from_utf8(&raw[..end]).ok()?;
    let mut lines = head.split("\r\n");
    let status: u16 = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter(|l| !l.is_empty())
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let len: usize = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    if raw.len() < end + len {
        return None;
    }
    let body = String::from_utf8_lossy(&raw[end..end + len]).to_string();
    Some(HttpResponse {
        status,
        headers,
        body,
        len: end + len,
    })
}

/// Read from `s` until `n` complete responses arrived.
pub fn read_responses(s: &mut TcpStream, n: usize) -> Vec<HttpResponse> {
    let mut raw = Vec::new();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    while out.len() < n {
        while let Some(r) = parse_response(&raw) {
            raw.drain(..r.len);
            out.push(r);
            if out.len() == n {
                return out;
            }
        }
        let k = s.read(&mut buf).expect("read response");
        assert!(k > 0, "connection closed after {} responses", out.len());
        raw.extend_from_slice(&buf[..k]);
    }
    out
}

/// Next data message (skipping pings/pongs) as text or binary bytes.
pub fn recv_data(ws: &mut Ws) -> Message {
    loop {
        match ws.read().expect("websocket read") {
            m @ (Message::Text(_) | Message::Binary(_)) => return m,
            Message::Close(c) => panic!("unexpected close: {c:?}"),
            _ => {}
        }
    }
}

/// Read until the server closes; returns the close code it sent (if any).
pub fn recv_close(ws: &mut Ws) -> Option<u16> {
    loop {
        match ws.read() {
            Ok(Message::Close(c)) => return c.map(|c| u16::from(c.code)),
            Ok(_) => {}
            Err(_) => return None,
        }
    }
}

/// Call `f` every 50 ms until it returns `Some`, for at most `limit` (then panic).
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

/// Find the shard a room id belongs to (same hash as the server).
pub fn shard_of(room: &str, shards: usize) -> usize {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in room.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    (h % shards as u64) as usize
}

/// A keep-alive HTTP/1.1 client on one connection (answers read in order).
pub struct Client {
    pub stream: TcpStream,
    raw: Vec<u8>,
}

impl Client {
    /// A guest account: (token, user id); asserts the 201.
    pub fn guest(&mut self) -> (String, i64) {
        let r = self.send("POST", "/api/auth/guest", &[], b"").unwrap();
        assert_eq!(r.status, 201, "{}", r.body);
        let v = r.json();
        (
            v["token"].as_str().unwrap().to_string(),
            v["user"]["id"].as_i64().unwrap(),
        )
    }

    /// Connect to `addr` with a 10 s read timeout.
    pub fn connect(addr: SocketAddr) -> std::io::Result<Client> {
        let stream = TcpStream::connect(addr)?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        stream.set_nodelay(true)?;
        Ok(Client {
            stream,
            raw: Vec::new(),
        })
    }

    /// Send one request and read its response (the connection stays open).
    pub fn send(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> std::io::Result<HttpResponse> {
        let mut req = format!(
            "{method} {path} HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n",
            body.len()
        );
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str("\r\n");
        let mut bytes = req.into_bytes();
        bytes.extend_from_slice(body);
        self.stream.write_all(&bytes)?;
        let mut buf = [0u8; 8192];
        loop {
            if let Some(r) = parse_response(&self.raw) {
                self.raw.drain(..r.len);
                return Ok(r);
            }
            let n = self.stream.read(&mut buf)?;
            if n == 0 {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "server closed the connection",
                ));
            }
            self.raw.extend_from_slice(&buf[..n]);
        }
    }

    /// POST a JSON value, with a bearer token when given.
    pub fn post_json(
        &mut self,
        path: &str,
        token: Option<&str>,
        body: &serde_json::Value,
    ) -> std::io::Result<HttpResponse> {
        let auth = token.map(|t| format!("Bearer {t}"));
        let mut headers = vec![("Content-Type", "application/json")];
        if let Some(a) = auth.as_deref() {
            headers.push(("Authorization", a));
        }
        self.send("POST", path, &headers, body.to_string().as_bytes())
    }

    /// GET with a bearer token when given.
    pub fn get_auth(&mut self, path: &str, token: Option<&str>) -> std::io::Result<HttpResponse> {
        let auth = token.map(|t| format!("Bearer {t}"));
        let headers: Vec<(&str, &str)> = auth
            .as_deref()
            .map(|a| ("Authorization", a))
            .into_iter()
            .collect();
        self.send("GET", path, &headers, b"")
    }
}

impl Server {
    /// A keep-alive client connected to this server.
    pub fn client(&self) -> Client {
        Client::connect(self.addr).expect("connect")
    }

    /// The SQLite file of this server's data directory.
    pub fn db_path(&self) -> PathBuf {
        self.data_dir.join("roomcore.db")
    }

    /// Where this server stores (for `storage::inspect`): its PostgreSQL database, else the
    /// SQLite file of its data directory.
    pub fn storage_config(&self) -> storage::StorageConfig {
        match &self.database_url {
            Some(url) => storage::StorageConfig::postgres(url),
            None => storage::StorageConfig::new(self.db_path()),
        }
    }

    /// Start on a fresh database of `backend` (owned by the server), with 2 shards.
    pub fn start_on(backend: Backend, extra: &[&str], env: &[(&str, &str)]) -> Server {
        let db = TestDb::new(backend, "rc");
        let mut s = db.start(extra, env);
        s.owned_db = Some(Box::new(db));
        s
    }
}
