//! The game tick of one shard (every `GAME_TICK_MS`): chess flags, party turn timers, the
//! end of reconnect grace, empty rooms, matchmaking on the queues this shard owns, finished
//! tickets, and the gauges of `/metrics`. Also starts the shard's game task (restore, tick,
//! periodic snapshots) and hands formed matches to `matches`.

use std::collections::HashMap;
use std::rc::Rc;
use std::time::Instant;

use glommio::spawn_local;

use super::events::RoomEvent;
use super::matchmaking::{Formed, ModeSpec};
use super::rooms::Game;
use super::{chess_finished, matches, now_ms, record, snapshot_all, store};
use crate::app::Shard;

/// Start this shard's game task: restore, then tick and save snapshots periodically.
pub fn start(shard: &Rc<Shard>) {
    let s = shard.clone();
    spawn_local(async move {
        store::restore(&s).await;
        let every = s.app.config.api.snapshot_interval;
        let mut last = Instant::now();
        loop {
            glommio::timer::sleep(s.app.games.cfg.tick()).await;
            tick(&s);
            if last.elapsed() >= every {
                last = Instant::now();
                snapshot_all(&s).await;
            }
        }
    })
    .detach();
}

/// One pass: flags, turn timers, grace expiry, empty rooms, matchmaking.
pub fn tick(shard: &Rc<Shard>) {
    let t0 = Instant::now();
    let now = now_ms();
    let games = &shard.app.games;
    let mut records = Vec::new();
    let mut gone = Vec::new();
    for room in games.rooms.borrow_mut().values_mut() {
        let finished = match &mut room.game {
            Game::Chess(g) => g.tick(now),
            Game::Party(p) => {
                if let Some(slot) = p.tick(now) {
                    let game = room.party_view(now).expect("a party room");
                    room.emit(RoomEvent::Party {
                        action: "turn_timeout",
                        by: None,
                        slot: Some(slot),
                        game,
                    });
                }
                None
            }
        };
        if let Some(f) = finished {
            records.extend(chess_finished(room, f, now));
        }
        let expired: Vec<usize> = room
            .seats
            .iter()
            .enumerate()
            .filter(|(_, s)| {
                s.as_ref()
                    .is_some_and(|s| s.conn.is_none() && s.held_until.is_some_and(|t| t <= now))
            })
            .map(|(i, _)| i)
            .collect();
        for i in expired {
            let user = room.seats[i].as_ref().map(|s| s.user.id);
            let fin = room.free_seat(i, now);
            room.emit(RoomEvent::SeatFreed {
                seat: i,
                user_id: user,
                reason: "reconnect grace expired",
            });
            if let Some(game) = room.party_view(now) {
                room.emit(RoomEvent::Party {
                    action: "released",
                    by: None,
                    slot: Some(i),
                    game,
                });
            }
            if let Some(f) = fin {
                records.extend(chess_finished(room, f, now));
            }
        }
        // Matched rooms wait (empty) for their players as long as a ticket lives.
        let hold = if room.reserved.iter().any(Option::is_some) {
            games.cfg.ticket_ttl_ms()
        } else {
            0
        };
        if room.is_abandoned() && !room.in_progress() && now >= room.created_at + hold {
            gone.push(room.id.clone());
        }
    }
    for id in gone {
        games.rooms.borrow_mut().remove(&id);
        if let Some(c) = &shard.app.cluster {
            c.cluster.release_room(&id);
        }
        let storage = shard.app.services.storage.clone();
        spawn_local(async move {
            let _ = storage.delete_room(&id).await;
        })
        .detach();
    }
    for rec in records {
        record(shard, rec);
    }
    // Matchmaking on the queues this shard owns.
    let formed: Vec<(String, ModeSpec, Formed)> = games
        .queues
        .borrow_mut()
        .iter_mut()
        .flat_map(|(k, q)| {
            let spec = q.spec;
            q.matches(now, &games.cfg.window())
                .into_iter()
                .map(move |f| (k.clone(), spec, f))
                .collect::<Vec<_>>()
        })
        .collect();
    for (key, spec, f) in formed {
        let shard = shard.clone();
        spawn_local(async move {
            if !matches::announce(&shard, spec, &f, &HashMap::new()).await {
                // Put the tickets back; they match again on a later tick.
                let mut qs = shard.app.games.queues.borrow_mut();
                if let Some(q) = qs.get_mut(&key) {
                    for t in f.teams.into_iter().flatten() {
                        let _ = q.push(t);
                    }
                }
            }
        })
        .detach();
    }
    games.tickets.sweep(now, games.cfg.ticket_ttl_ms());
    // Gauges of /metrics.
    let stats = &shard.app.stats;
    stats.games_active.set(games.rooms.borrow().len() as u64);
    {
        let mut sizes = stats.matchmaker_queues.borrow_mut();
        for (key, q) in games.queues.borrow().iter() {
            let mut it = key.splitn(3, ':').skip(1);
            if let (Some(m), Some(r)) = (it.next(), it.next()) {
                sizes.insert((m.to_string(), r.to_string()), q.players() as u64);
            }
        }
    }
    games.tick_hist.observe(t0.elapsed().as_secs_f64());
}
