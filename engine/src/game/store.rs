//! Persistence of game rooms and results: room snapshots (saved before a
//! chess move is acknowledged, every `ROOM_SNAPSHOT_INTERVAL_SECS`, and at
//! the end of the drain; restored by each owner shard at start), and finished
//! chess games handed to storage to be stored (PGN) and rated.

use std::rc::Rc;
use std::time::Duration;

use glommio::spawn_local;
use shards::shard_for;
use storage::games::GameRecord;
use storage::StorageError;

use super::chess::{Finish, Side};
use super::events::RoomEvent;
use super::rooms::{Game, Room, RoomSnap};
use super::{now_ms, SNAPSHOT_KIND};
use crate::app::Shard;
use crate::log;

/// Announce a finished chess game and build its record (once).
pub fn chess_finished(room: &mut Room, f: Finish, now: u64) -> Option<GameRecord> {
    let Game::Chess(g) = &room.game else {
        return None;
    };
    let name = |i: usize| room.players[i].as_ref().map_or("?", |u| u.name.as_str());
    let date = date_of(now);
    let pgn = g.pgn(name(0), name(1), &room.id, &date);
    let moves = g.moves().len() as u32;
    let started = g.started_at_ms().unwrap_or(now);
    room.emit(RoomEvent::GameOver {
        result: f.result(),
        winner: f.winner.map(Side::as_str),
        reason: f.reason,
        pgn: pgn.clone(),
    });
    if room.recorded {
        return None;
    }
    let (Some(w), Some(b)) = (room.players[0].clone(), room.players[1].clone()) else {
        return None;
    };
    room.recorded = true;
    Some(GameRecord {
        id: room.id.clone(),
        mode: room.mode.clone().unwrap_or_else(|| "chess".into()),
        white_id: w.id,
        white_name: w.name,
        black_id: b.id,
        black_name: b.name,
        result: f.result().to_string(),
        reason: serde_json::to_value(f.reason)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default(),
        pgn,
        moves,
        started_at_ms: started as i64,
        ended_at_ms: now as i64,
    })
}

/// `YYYY.MM.DD` of a millisecond time (UTC).
pub(super) fn date_of(ms: u64) -> String {
    // Civil-from-days (Howard Hinnant).
    let z = (ms / 86_400_000) as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}.{m:02}.{d:02}")
}

/// Store and rate a finished game in the background.
pub fn record(shard: &Rc<Shard>, rec: GameRecord) {
    let secs = (rec.ended_at_ms - rec.started_at_ms).max(0) as f64 / 1000.0;
    shard.app.stats.game_duration.observe(secs);
    let storage = shard.app.services.storage.clone();
    spawn_local(async move {
        for attempt in 0..20 {
            match storage.record_game(rec.clone()).await {
                Ok(r) => {
                    log!(
                        Info,
                        "game recorded",
                        game = rec.id,
                        result = rec.result,
                        white_rating = r.white_after,
                        black_rating = r.black_after
                    );
                    return;
                }
                Err(e) => {
                    if attempt == 0 {
                        log!(Warn, "cannot record game yet", game = rec.id, error = e);
                    }
                    glommio::timer::sleep(Duration::from_millis(250)).await;
                }
            }
        }
        log!(Error, "game not recorded", game = rec.id);
    })
    .detach();
}

/// Save the snapshot of room `id` now (awaited before acknowledging a move). `Fenced`: a newer
/// owner saved the room (this node lost it in a cluster): the room is given up here.
pub async fn save_room(shard: &Rc<Shard>, id: &str) -> Result<(), StorageError> {
    let now = now_ms();
    let (row, version) = {
        let rooms = shard.app.games.rooms.borrow();
        let Some(r) = rooms.get(id) else {
            return Err(StorageError::Fenced { room: id.into() });
        };
        (snapshot_row(r, now), r.version)
    };
    let Some(row) = row else {
        return Err(StorageError::Unavailable {
            reason: "the room snapshot cannot be encoded".into(),
        });
    };
    match shard.app.services.storage.save_rooms(vec![row]).await {
        Ok(()) => {
            if let Some(r) = shard.app.games.rooms.borrow_mut().get_mut(id) {
                r.saved = r.saved.max(version);
            }
            Ok(())
        }
        Err(e) => {
            if let StorageError::Fenced { room } = &e {
                give_up(shard, room);
            } else {
                log!(Warn, "room snapshot failed", room = id, error = e);
            }
            Err(e)
        }
    }
}

/// A newer owner saved room `id` (this node was cut off past its lease): drop it here and
/// tell its members to reconnect (their tokens find the new owner).
pub fn give_up(shard: &Shard, id: &str) {
    let Some(room) = shard.app.games.rooms.borrow_mut().remove(id) else {
        return;
    };
    log!(
        Warn,
        "game room owned by another node now: given up",
        room = id
    );
    let close = crate::ws::close_frame(1012, "game room moved to another node; reconnect");
    for m in &room.members {
        m.outbox.close_with(Some(close.clone()));
    }
}

pub(crate) fn snapshot_row(r: &Room, now: u64) -> Option<storage::RoomRow> {
    let state = serde_json::to_vec(&r.snapshot(now)).ok()?;
    Some(storage::RoomRow {
        id: r.id.clone(),
        kind: SNAPSHOT_KIND.into(),
        state,
        created_at_ms: r.created_at as i64,
        updated_at_ms: now as i64,
        epoch: r.epoch,
    })
}

/// Save every room changed since its last save. Returns how many.
pub async fn snapshot_all(shard: &Rc<Shard>) -> usize {
    let now = now_ms();
    let (rows, versions): (Vec<_>, Vec<_>) = shard
        .app
        .games
        .rooms
        .borrow()
        .values()
        .filter(|r| r.version > r.saved)
        .filter_map(|r| snapshot_row(r, now).map(|row| (row, (r.id.clone(), r.version))))
        .unzip();
    if rows.is_empty() {
        return 0;
    }
    let (mut rows, mut versions) = (rows, versions);
    // A room another node owns now refuses its row: give it up and save the others.
    for _ in 0..8 {
        let n = rows.len();
        match shard.app.services.storage.save_rooms(rows.clone()).await {
            Ok(()) => {
                let mut rooms = shard.app.games.rooms.borrow_mut();
                for (id, v) in versions {
                    if let Some(r) = rooms.get_mut(&id) {
                        r.saved = r.saved.max(v);
                    }
                }
                return n;
            }
            Err(StorageError::Fenced { room }) => {
                give_up(shard, &room);
                let keep: Vec<bool> = rows.iter().map(|r| r.id != room).collect();
                let mut k = keep.iter();
                rows.retain(|_| *k.next().unwrap_or(&true));
                let mut k = keep.iter();
                versions.retain(|_| *k.next().unwrap_or(&true));
                if rows.is_empty() {
                    return 0;
                }
            }
            Err(e) => {
                log!(Warn, "game snapshots failed; retrying next time", error = e);
                return 0;
            }
        }
    }
    0
}

pub(super) async fn restore(shard: &Rc<Shard>) {
    // In a cluster a room belongs to one node: rooms come back on demand (a join or a
    // reconnect: `cluster::games::ensure_here`) or when their owner leaves, never all at start.
    if shard.app.cluster.is_some() {
        shard.app.games.restored.set(true);
        return;
    }
    let games = &shard.app.games;
    for attempt in 0..100 {
        match shard.app.services.storage.load_rooms(SNAPSHOT_KIND).await {
            Ok(rows) => {
                let now = now_ms();
                let mut rooms = games.rooms.borrow_mut();
                for row in rows {
                    if shard_for(&row.id, shard.shards()) != shard.id {
                        continue;
                    }
                    let snap: Result<RoomSnap, _> = serde_json::from_slice(&row.state);
                    match snap
                        .map_err(|e| e.to_string())
                        .and_then(|s| Room::restore(s, now, games.cfg.grace_ms()))
                    {
                        Ok(r) => {
                            rooms.insert(row.id, r);
                        }
                        Err(e) => log!(Warn, "game snapshot skipped", room = row.id, error = e),
                    }
                }
                if !rooms.is_empty() {
                    log!(Info, "game rooms restored", rooms = rooms.len());
                }
                games.restored.set(true);
                return;
            }
            Err(e) => {
                if attempt == 0 {
                    log!(Warn, "cannot load game snapshots yet", error = e);
                }
                glommio::timer::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    log!(Error, "game rooms not restored: storage unavailable");
    games.restored.set(true);
}

/// End of the drain: save every changed room (bounded wait).
pub async fn stop(shard: &Rc<Shard>) {
    let saved = glommio::timer::timeout(Duration::from_secs(5), async {
        Ok(snapshot_all(shard).await)
    })
    .await;
    match saved {
        Ok(n) if n > 0 => log!(Info, "game rooms saved at shutdown", rooms = n),
        Ok(_) => {}
        Err(_) => log!(Error, "game rooms not saved at shutdown: timed out"),
    }
}
