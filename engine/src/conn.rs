//! One accepted connection's HTTP/1.1 life: keep-alive, pipelined requests
//! answered in order, limits and timeouts, and the upgrade to a relay
//! WebSocket (served here, or handed to the shard that owns the room).

use std::cell::RefCell;
use std::net::SocketAddr;
use std::os::fd::{FromRawFd, OwnedFd};
use std::rc::Rc;
use std::time::Instant;

use glommio::net::TcpStream;
use shards::{shard_for, stats, MovedSocket, RoomId, ShardMsg};

use crate::http::{self, Method, Parsed, Response};
use crate::io::{self, Stream};
use crate::router::{self, Action};
use crate::shard::{fd_of, ConnEntry, Shard};
use crate::ws::handshake;
use crate::{api, health, log, relay};

/// How the HTTP phase of a connection ended.
enum HttpEnd {
    Closed,
    Upgrade { room: RoomId, pending: Vec<u8> },
}

/// Serve one accepted connection until it closes.
pub async fn serve(shard: Rc<Shard>, stream: TcpStream, peer: SocketAddr) {
    let entry = shard.register(fd_of(&stream), peer);
    let stream: Rc<Stream> = Rc::new(RefCell::new(stream));
    let end = http_loop(&shard, &stream, &entry).await;
    if let HttpEnd::Upgrade { room, pending } = end {
        let owner = shard_for(room.as_str(), shard.shards());
        if owner == shard.id {
            relay::run(&shard, stream, &entry, room, pending).await;
        } else {
            migrate(&shard, stream, peer, owner, room, pending).await;
        }
    }
    shard.deregister(&entry);
}

/// Hand an upgraded socket to the shard that owns its room.
async fn migrate(
    shard: &Shard,
    stream: Rc<Stream>,
    peer: SocketAddr,
    owner: usize,
    room: RoomId,
    pending: Vec<u8>,
) {
    let fd = entry_fd(&stream);
    // SAFETY: dup of a socket we own; the copy is owned by `OwnedFd` and the
    // original is closed when `stream` drops (close, not shutdown).
    let dup = unsafe { libc::dup(fd) };
    drop(stream);
    if dup < 0 {
        log!(
            Warn,
            "cannot hand socket to owner shard",
            error = std::io::Error::last_os_error()
        );
        return;
    }
    // SAFETY: `dup` is a fresh descriptor nobody else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(dup) };
    let msg = ShardMsg::AdoptRelay {
        socket: Box::new(MovedSocket {
            fd,
            room,
            peer,
            pending: pending.into_boxed_slice(),
        }),
    };
    match shard.mesh.send(owner, msg).await {
        Ok(()) => stats::inc(&shard.stats.migrated_out_total),
        Err(e) => log!(Warn, "cannot hand socket to owner shard", error = e),
    }
}

fn entry_fd(stream: &Stream) -> i32 {
    fd_of(&stream.borrow())
}

async fn http_loop(shard: &Shard, stream: &Stream, entry: &ConnEntry) -> HttpEnd {
    let cfg = shard.config.clone();
    let mut buf: Vec<u8> = Vec::new();
    let mut out: Vec<u8> = Vec::new();
    entry.idle_http.set(true);
    entry
        .deadline
        .set(Some(Instant::now() + cfg.http_idle_timeout));
    loop {
        // Answer every complete request in the buffer, in order.
        let mut consumed = 0;
        let mut close = false;
        let mut upgrade = None;
        loop {
            let step = match http::parse(
                &buf[consumed..],
                cfg.http_max_head_bytes,
                cfg.http_max_body_bytes,
            ) {
                Ok(Parsed::Partial) => None,
                Ok(Parsed::Complete { req, len }) => {
                    let head_only = req.method == Method::Head;
                    Some(Ok((
                        router::route(shard, &req, entry.peer),
                        req.close,
                        head_only,
                        len,
                    )))
                }
                Err(e) => Some(Err(e)),
            };
            let Some(step) = step else { break };
            stats::inc(&shard.stats.http_requests_total);
            let (action, req_close, head_only, len) = match step {
                Ok(s) => s,
                Err(e) => {
                    let (status, msg) = e.status();
                    Response::error(status, msg)
                        .closing()
                        .encode(&mut out, false);
                    close = true;
                    break;
                }
            };
            consumed += len;
            let resp = match action {
                Action::Respond(r) => r,
                Action::Health => health::health(shard).await,
                Action::Api(r) => api::handle(shard, r).await,
                Action::UpgradeRelay { room, key } => {
                    handshake::accept(&key, shard.id, &mut out);
                    upgrade = Some(room);
                    break;
                }
            };
            let close_now = req_close || resp.close || shard.draining.get();
            let resp = if close_now && !resp.close {
                resp.closing()
            } else {
                resp
            };
            resp.encode(&mut out, head_only);
            if close_now {
                close = true;
                break;
            }
        }
        buf.drain(..consumed.min(buf.len()));
        if !out.is_empty() {
            let r = io::write_all(stream, &out).await;
            out.clear();
            if out.capacity() > 64 * 1024 {
                out = Vec::new();
            }
            if r.is_err() {
                return HttpEnd::Closed;
            }
        }
        if let Some(room) = upgrade {
            entry.idle_http.set(false);
            entry.deadline.set(None);
            return HttpEnd::Upgrade { room, pending: buf };
        }
        if close {
            return HttpEnd::Closed;
        }
        // Deadlines: a started request must complete within the head timeout
        // (slowloris); an idle keep-alive connection gets the idle timeout.
        if buf.is_empty() {
            if buf.capacity() > 16 * 1024 {
                buf = Vec::new();
            }
            entry.idle_http.set(true);
            entry
                .deadline
                .set(Some(Instant::now() + cfg.http_idle_timeout));
        } else if entry.idle_http.get() {
            entry.idle_http.set(false);
            entry
                .deadline
                .set(Some(Instant::now() + cfg.http_head_timeout));
        }
        let n = match io::read_some(stream, &shard.scratch).await {
            Ok(0) | Err(_) => return HttpEnd::Closed,
            Ok(n) => n,
        };
        if buf.is_empty() {
            entry.idle_http.set(false);
            entry
                .deadline
                .set(Some(Instant::now() + cfg.http_head_timeout));
        }
        buf.extend_from_slice(&shard.scratch.borrow()[..n]);
    }
}
