//! The JSON HTTP API under `/api/` (accounts, scores, leaderboards, rooms).
//!
//! Owns request dispatch for `/api/*` and the service handles it needs:
//! [`ServicesSeed`] (process-wide, `Send`, opened once before the shards
//! start) and [`Services`] (one per shard, not `Send`). SQL lives in the
//! `storage` crate; routing of other paths lives in `router`.
//!
//! - [`auth`]: register, login, guest, me; bearer-token checks.
//! - [`scores`]: score posts and leaderboards.
//! - [`rooms`]: persistent room state documents on their owner shard.
//! - [`games`]: finished and live games, HTTP matchmaking tickets.
//! - [`json`]: body/query parsing and error mapping.

pub mod auth;
pub mod games;
pub mod json;
pub mod rooms;
pub mod scores;

use std::cell::{Cell, RefCell};
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use glommio::spawn_local;
use storage::{BoardReceiver, BoardView, Passwords, Storage, TokenKey};

use crate::app::Shard;
use crate::config::Config;
use crate::http::{Method, Request, Response};
use crate::log;
use rooms::RoomDocs;

/// An `/api/` request copied out of the connection buffer (it outlives it
/// while the handler awaits storage).
#[derive(Debug, Clone)]
pub struct ApiRequest {
    pub method: Method,
    pub path: String,
    pub query: Option<String>,
    pub authorization: Option<String>,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
    pub peer: SocketAddr,
}

impl ApiRequest {
    /// Copy what the API needs out of `req`.
    pub fn from_request(req: &Request<'_>, peer: SocketAddr) -> ApiRequest {
        ApiRequest {
            method: req.method,
            path: req.path.to_string(),
            query: req.query.map(str::to_string),
            authorization: req.authorization.map(str::to_string),
            content_type: req.content_type.map(str::to_string),
            body: req.body.to_vec(),
            peer,
        }
    }
}

/// Process-wide service handles, opened once before the shards start (`Send`).
#[derive(Clone)]
pub struct ServicesSeed {
    config: Arc<Config>,
    storage: Storage,
    tokens: TokenKey,
    passwords: Passwords,
    boards: Vec<BoardReceiver>,
}

impl std::fmt::Debug for ServicesSeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServicesSeed").finish_non_exhaustive()
    }
}

impl ServicesSeed {
    /// Open storage (database, migrations, boards), load the token key, and
    /// sweep stale room snapshots. Returns once the database is open.
    pub fn open(config: &Arc<Config>) -> Result<ServicesSeed, String> {
        let tokens =
            TokenKey::load_or_create(config.auth.token_secret.as_deref(), &config.server.data_dir)
                .map_err(|e| e.to_string())?;
        let passwords = Passwords::new(config.auth.hash_memory_kib, config.auth.hash_iterations)
            .map_err(|e| e.to_string())?;
        let st = config.storage.storage_config(&config.api, config.shards());
        let (storage, boards) =
            Storage::open(st.clone()).map_err(|e| crate::server::explain_storage_error(&st, &e))?;
        let cutoff = storage::now_ms() - config.api.snapshot_ttl.as_millis() as i64;
        match futures_lite::future::block_on(storage.sweep_rooms(cutoff)) {
            Ok(0) => {}
            Ok(n) => log!(Info, "stale room snapshots swept", rows = n),
            Err(e) => log!(Warn, "cannot sweep room snapshots", error = e),
        }
        let s = storage.config();
        log!(
            Info,
            "storage open",
            engine = storage.engine().as_str(),
            database = s.describe(),
            synchronous = format!("{:?}", s.synchronous),
            queue_capacity = s.queue_capacity,
            batch_max = s.batch_max
        );
        Ok(ServicesSeed {
            config: config.clone(),
            storage,
            tokens,
            passwords,
            boards,
        })
    }

    /// The per-shard view, built on the shard's own thread.
    pub fn on_shard(&self, shard_id: usize) -> Services {
        let rooms = Rc::new(RoomDocs::new(
            shard_id,
            self.config.shards(),
            self.config.api.room_state_max_rooms,
        ));
        let feed = self
            .boards
            .get(shard_id)
            .cloned()
            .unwrap_or_else(crossbeam_channel::never);
        Services {
            config: self.config.clone(),
            storage: self.storage.clone(),
            tokens: self.tokens.clone(),
            passwords: self.passwords.clone(),
            boards: RefCell::new(BoardView::new(feed)),
            rooms,
            hashing: Cell::new(0),
        }
    }

    /// Commit what is queued and stop the persistence thread (after every
    /// shard stopped). Up to 10 s; 1 s when the writer is stalled (a database that is down or
    /// does not answer would hold the queue for the whole wait, and what is queued behind it
    /// was acknowledged to nobody).
    pub fn close(self) {
        let health = self.storage.health();
        let limit = Duration::from_secs(if self.storage.stalled() { 1 } else { 10 });
        if !self.storage.close(limit) {
            log!(
                Warn,
                "storage did not close in time",
                waited_ms = limit.as_millis() as u64,
                reason = health.reason.unwrap_or_default()
            );
        }
    }
}

/// Start the shard's service tasks: the room documents' restore and snapshot loop.
pub fn start(shard: &Rc<Shard>) {
    let s = &shard.app.services;
    spawn_local(rooms::owner_loop(
        s.rooms.clone(),
        s.storage.clone(),
        shard.app.config.api.snapshot_interval,
    ))
    .detach();
}

/// One shard's service handles (not `Send`).
pub struct Services {
    /// The configuration (shared read-only).
    pub config: Arc<Config>,
    pub storage: Storage,
    pub tokens: TokenKey,
    pub passwords: Passwords,
    /// This shard's copy of the leaderboards.
    pub boards: RefCell<BoardView>,
    /// State rooms this shard owns.
    pub rooms: Rc<RoomDocs>,
    /// Password hashes in flight on the blocking pool.
    pub hashing: Cell<usize>,
}

impl std::fmt::Debug for Services {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Services").finish_non_exhaustive()
    }
}

impl Services {
    /// End of the drain: save every changed room (bounded wait).
    pub async fn stop(&self) {
        let saved = glommio::timer::timeout(Duration::from_secs(5), async {
            Ok(self.rooms.snapshot(&self.storage).await)
        })
        .await;
        match saved {
            Ok(Ok(n)) if n > 0 => log!(Info, "room snapshots saved at shutdown", rooms = n),
            Ok(Ok(_)) => {}
            Ok(Err(e)) => log!(Error, "room snapshots not saved at shutdown", error = e),
            Err(_) => log!(Error, "room snapshots not saved at shutdown: timed out"),
        }
    }
}

fn not_allowed(allow: &'static str) -> Response {
    Response::error(405, "method not allowed").with_header("Allow", allow)
}

/// Answer one `/api/` request.
pub async fn handle(shard: &Rc<Shard>, req: ApiRequest) -> Response {
    let m = req.method;
    let post = m == Method::Post;
    let get = matches!(m, Method::Get | Method::Head);
    match req.path.as_str() {
        "/api/auth/register" if post => auth::register(shard, &req).await,
        "/api/auth/login" if post => auth::login(shard, &req).await,
        "/api/auth/guest" if post => auth::guest(shard, &req).await,
        "/api/auth/register" | "/api/auth/login" | "/api/auth/guest" => not_allowed("POST"),
        "/api/auth/me" if get => auth::me(shard, &req),
        "/api/scores" if post => scores::post(shard, &req).await,
        "/api/leaderboard" if get => scores::leaderboard(shard, &req),
        "/api/leaderboard/me" if get => scores::me(shard, &req).await,
        "/api/auth/me" | "/api/leaderboard" | "/api/leaderboard/me" => not_allowed("GET, HEAD"),
        "/api/scores" => not_allowed("POST"),
        "/api/_test/storage/stall" if shard.app.config.server.test_hooks => stall(shard, &req),
        p if p.starts_with("/api/games/") || p.starts_with("/api/matchmaking/") => {
            games::handle(shard, &req).await
        }
        p => match p
            .strip_prefix("/api/rooms/")
            .and_then(|r| r.strip_suffix("/state"))
        {
            Some(id) => rooms::handle(shard, &req, id).await,
            None => Response::error(404, "no such endpoint"),
        },
    }
}

/// Test hook (`ROOMCORE_TEST_HOOKS=1`): `POST /api/_test/storage/stall?ms=N`
/// makes the persistence thread sleep N ms.
fn stall(shard: &Rc<Shard>, req: &ApiRequest) -> Response {
    if req.method != Method::Post {
        return not_allowed("POST");
    }
    let ms: u64 = match json::query(req, "ms").and_then(|v| v.parse().ok()) {
        Some(ms) if ms <= 60_000 => ms,
        _ => return Response::error(400, "ms must be between 0 and 60000"),
    };
    match shard.app.services.storage.stall(Duration::from_millis(ms)) {
        Ok(()) => Response::json(202, br#"{"stalled":true}"#.to_vec()),
        Err(e) => json::storage_error(&e, shard.app.config.storage.retry_after_secs),
    }
}
