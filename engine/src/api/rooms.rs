//! Persistent room state documents: `PUT/GET/DELETE /api/rooms/{id}/state`.
//!
//! A small, real persistent room kind (`"state"`): a JSON document per room,
//! held in memory by the room's owner shard (`shards::shard_for`). Requests
//! reaching another shard travel to the owner as `ShardMsg::Rooms` (the
//! runtime's call path) and come back on a oneshot. The owner restores its rooms
//! from storage at start (commands arriving before that wait for it), saves
//! changed rooms every
//! `ROOM_SNAPSHOT_INTERVAL_SECS` and once more at the end of the drain. A PUT
//! is acknowledged from memory: after a crash it is kept only if a snapshot
//! ran since; a DELETE is answered after the row is deleted durably.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use crate::room_id::RoomId;
use shards::{shard_for, Reply};
use storage::{RoomRow, Storage, StorageError};

use super::json::{self, reply};
use super::ApiRequest;
use crate::app::Shard;
use crate::http::{response::json_string, Method, Response};
use crate::log;
use crate::msg::ShardMsg;

/// The `kind` column of these rooms' snapshots.
pub const KIND: &str = "state";
/// Commands that may wait for the owner to finish restoring; past it: 503.
pub const WAITING_MAX: usize = 1024;

/// A copy of a document as answered to a request.
#[derive(Debug, Clone)]
pub struct DocView {
    pub state: Arc<[u8]>,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
    pub version: u64,
}

/// A request to a room's owner shard.
#[derive(Debug)]
pub enum RoomCmd {
    Get {
        id: String,
        reply: Reply<Option<DocView>>,
    },
    Put {
        id: String,
        state: Box<[u8]>,
        reply: Reply<Option<DocView>>,
    },
    /// Answers the document taken out of memory, to be put back with `Restore` when the
    /// database refuses the delete.
    Delete {
        id: String,
        reply: Reply<Option<Doc>>,
    },
    /// A document whose delete failed in the database, back into memory (unless a `PUT`
    /// created the room again meanwhile: that newer one stays).
    Restore {
        id: String,
        doc: Box<Doc>,
        reply: Reply<()>,
    },
}

/// One room's document in its owner shard's memory.
#[derive(Debug)]
pub struct Doc {
    view: DocView,
    /// Version last written to SQLite.
    saved: u64,
}

/// The state rooms one shard owns.
#[derive(Debug)]
pub struct RoomDocs {
    shard: usize,
    shards: usize,
    /// Rooms by id; entries leave on DELETE. At most `max_rooms`.
    docs: RefCell<HashMap<String, Doc>>,
    max_rooms: usize,
    /// Set once this shard's rows are loaded.
    restored: Cell<bool>,
    /// Commands that arrived before that, in order (at most [`WAITING_MAX`]).
    waiting: RefCell<Vec<RoomCmd>>,
}

impl RoomDocs {
    pub fn new(shard: usize, shards: usize, max_rooms: usize) -> RoomDocs {
        RoomDocs {
            shard,
            shards,
            docs: RefCell::new(HashMap::new()),
            max_rooms,
            restored: Cell::new(false),
            waiting: RefCell::new(Vec::new()),
        }
    }

    fn shards(&self) -> usize {
        self.shards
    }

    /// Answer `cmd` now, or once the rows are restored; dropped (the asker gets 503) when
    /// too many wait.
    pub fn command(&self, cmd: RoomCmd) {
        if self.restored.get() {
            return self.apply(cmd);
        }
        let mut w = self.waiting.borrow_mut();
        if w.len() < WAITING_MAX {
            w.push(cmd);
        }
    }

    /// Rooms held by this shard.
    pub fn len(&self) -> usize {
        self.docs.borrow().len()
    }

    /// Whether this shard holds no room.
    pub fn is_empty(&self) -> bool {
        self.docs.borrow().is_empty()
    }

    fn apply(&self, cmd: RoomCmd) {
        let now = storage::now_ms();
        match cmd {
            RoomCmd::Get { id, reply } => {
                let _ = reply.send(self.docs.borrow().get(&id).map(|d| d.view.clone()));
            }
            RoomCmd::Put { id, state, reply } => {
                let mut docs = self.docs.borrow_mut();
                if !docs.contains_key(&id) && docs.len() >= self.max_rooms {
                    let _ = reply.send(None);
                    return;
                }
                let doc = docs.entry(id).or_insert_with(|| Doc {
                    view: DocView {
                        state: Arc::from(&[][..]),
                        created_at_ms: now,
                        updated_at_ms: now,
                        version: 0,
                    },
                    saved: 0,
                });
                doc.view.state = Arc::from(state);
                doc.view.updated_at_ms = now;
                doc.view.version += 1;
                let _ = reply.send(Some(doc.view.clone()));
            }
            RoomCmd::Delete { id, reply } => {
                let _ = reply.send(self.docs.borrow_mut().remove(&id));
            }
            RoomCmd::Restore { id, doc, reply } => {
                self.docs.borrow_mut().entry(id).or_insert(*doc);
                let _ = reply.send(());
            }
        }
    }

    /// Load this shard's rooms from SQLite (retrying while storage is busy).
    async fn restore(&self, storage: &Storage) {
        for attempt in 0..100 {
            match storage.load_rooms(KIND).await {
                Ok(rows) => {
                    let mut docs = self.docs.borrow_mut();
                    for r in rows {
                        if shard_for(&r.id, self.shards()) != self.shard {
                            continue;
                        }
                        docs.insert(
                            r.id,
                            Doc {
                                view: DocView {
                                    state: Arc::from(r.state),
                                    created_at_ms: r.created_at_ms,
                                    updated_at_ms: r.updated_at_ms,
                                    version: 1,
                                },
                                saved: 1,
                            },
                        );
                    }
                    if !docs.is_empty() {
                        log!(Info, "room snapshots restored", rooms = docs.len());
                    }
                    drop(docs);
                    return self.restored_now();
                }
                Err(e) => {
                    if attempt == 0 {
                        log!(Warn, "cannot load room snapshots yet", error = e);
                    }
                    glommio::timer::sleep(Duration::from_millis(100)).await;
                }
            }
        }
        log!(Error, "room snapshots not restored: storage unavailable");
        self.restored_now();
    }

    fn restored_now(&self) {
        self.restored.set(true);
        let waiting = std::mem::take(&mut *self.waiting.borrow_mut());
        for cmd in waiting {
            self.apply(cmd);
        }
    }

    /// Save every room changed since its last save. Returns how many.
    pub async fn snapshot(&self, storage: &Storage) -> Result<usize, StorageError> {
        let (rows, versions): (Vec<RoomRow>, Vec<u64>) = self
            .docs
            .borrow()
            .iter()
            .filter(|(_, d)| d.view.version > d.saved)
            .map(|(id, d)| {
                (
                    RoomRow {
                        id: id.clone(),
                        kind: KIND.into(),
                        state: d.view.state.to_vec(),
                        created_at_ms: d.view.created_at_ms,
                        updated_at_ms: d.view.updated_at_ms,
                        epoch: 0,
                    },
                    d.view.version,
                )
            })
            .unzip();
        if rows.is_empty() {
            return Ok(0);
        }
        let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
        storage.save_rooms(rows).await?;
        let mut docs = self.docs.borrow_mut();
        for (id, v) in ids.iter().zip(versions) {
            if let Some(d) = docs.get_mut(id) {
                d.saved = d.saved.max(v);
            }
        }
        Ok(ids.len())
    }
}

/// A command from another shard (`ShardMsg::Rooms`), or a local call.
pub fn handle_cmd(shard: &Shard, cmd: RoomCmd) {
    shard.app.services.rooms.command(cmd);
}

/// The owner side, started once per shard: restore, then save changed rooms every `every`.
pub async fn owner_loop(docs: Rc<RoomDocs>, storage: Storage, every: Duration) {
    docs.restore(&storage).await;
    loop {
        glommio::timer::sleep(every).await;
        if let Err(e) = docs.snapshot(&storage).await {
            log!(Warn, "room snapshot failed; retrying next tick", error = e);
        }
    }
}

fn unavailable() -> Response {
    Response::error(503, "room owner is unavailable, retry later").with_header("Retry-After", "1")
}

/// Send `cmd` to the owner of `id` and await its answer.
async fn ask<T>(
    shard: &Rc<Shard>,
    id: &str,
    make: impl FnOnce(Reply<T>) -> RoomCmd,
) -> Result<T, Response> {
    let owner = shard_for(id, shard.shards());
    shard
        .call(owner, |reply| ShardMsg::Rooms(make(reply)))
        .await
        .map_err(|_| unavailable())
}

/// `/api/rooms/{id}/state` with any method.
pub async fn handle(shard: &Rc<Shard>, req: &ApiRequest, raw_id: &str) -> Response {
    let id = match RoomId::parse(raw_id) {
        Ok(id) => id.as_str().to_string(),
        Err(e) => return Response::error(400, &e.to_string()),
    };
    match req.method {
        Method::Get | Method::Head => match ask(shard, &id, |reply| RoomCmd::Get {
            id: id.clone(),
            reply,
        })
        .await
        {
            Ok(Some(v)) => view(&id, &v, true),
            Ok(None) => Response::error(404, "no such room"),
            Err(r) => r,
        },
        Method::Put => {
            let max = shard.app.config.api.room_state_max_bytes;
            if req.body.len() > max {
                return Response::error(413, &format!("room state is limited to {max} bytes"));
            }
            if serde_json::from_slice::<serde::de::IgnoredAny>(&req.body).is_err() {
                return Response::error(400, "room state must be a JSON document");
            }
            let state = req.body.clone().into_boxed_slice();
            match ask(shard, &id, |reply| RoomCmd::Put {
                id: id.clone(),
                state,
                reply,
            })
            .await
            {
                Ok(Some(v)) => view(&id, &v, false),
                Ok(None) => Response::error(
                    409,
                    "this shard holds the most rooms it may; delete one first",
                ),
                Err(r) => r,
            }
        }
        Method::Delete => match ask(shard, &id, |reply| RoomCmd::Delete {
            id: id.clone(),
            reply,
        })
        .await
        {
            Ok(Some(doc)) => match shard.app.services.storage.delete_room(&id).await {
                Ok(_) => reply(200, &serde_json::json!({"id": id, "deleted": true})),
                Err(e) => {
                    // A refused DELETE leaves the room as it was, so that the client's retry
                    // finds it (and the row the database still holds is not orphaned).
                    let _ = ask(shard, &id, |reply| RoomCmd::Restore {
                        id: id.clone(),
                        doc: Box::new(doc),
                        reply,
                    })
                    .await;
                    json::storage_error(&e, shard.app.config.storage.retry_after_secs)
                }
            },
            Ok(None) => Response::error(404, "no such room"),
            Err(r) => r,
        },
        _ => Response::error(405, "method not allowed")
            .with_header("Allow", "GET, HEAD, PUT, DELETE"),
    }
}

/// `{"id","version","created_at","updated_at"[,"state"]}`; the state is
/// spliced in as the (validated) JSON it was stored as.
fn view(id: &str, v: &DocView, with_state: bool) -> Response {
    let mut body = Vec::with_capacity(v.state.len() + 128);
    body.extend_from_slice(b"{\"id\":");
    json_string(&mut body, id);
    body.extend_from_slice(
        format!(
            ",\"version\":{},\"created_at\":{},\"updated_at\":{}",
            v.version, v.created_at_ms, v.updated_at_ms
        )
        .as_bytes(),
    );
    if with_state {
        body.extend_from_slice(b",\"state\":");
        body.extend_from_slice(&v.state);
    }
    body.push(b'}');
    Response::json(200, body)
}
