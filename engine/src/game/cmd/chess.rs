//! Chess actions: `move` (answered only once the room's snapshot holding it is durable),
//! `resign`, `offer_draw`, `accept_draw`, `decline_draw`.

use storage::StorageError;

use crate::game::chess::{ChessError, Side};
use crate::game::events::{Clocks, Done, RoomEvent};
use crate::game::protocol::{ClientMsg, ProtoError};
use crate::game::rooms::{Game, Room};
use crate::game::{chess_finished, now_ms, record, save_room};
use crate::telemetry::spans;
use tracing::Instrument;

use super::Cmd;

fn cerr(e: ChessError) -> ProtoError {
    ProtoError::new(e.code(), e.message())
}

/// The side `conn` plays in a chess room.
fn side(room: &Room, conn: u64) -> Result<Side, ProtoError> {
    if !matches!(room.game, Game::Chess(_)) {
        return Err(ProtoError::new("wrong_game", "this is not a chess room"));
    }
    room.seat_of_conn(conn)
        .map(Side::from_index)
        .ok_or_else(|| ProtoError::new("forbidden", "only seated players may do this"))
}

/// `move` → `ok {room_seq, saved}` after the move is durable; `move` to the room.
pub async fn play(c: &mut Cmd<'_>, seq: Option<u64>, mv: &str) -> Result<(), ProtoError> {
    let shard = c.shard().clone();
    let mut records = Vec::new();
    let staged = c.in_room(|room, conn, now| {
        let side = side(room, conn)?;
        let Game::Chess(g) = &mut room.game else {
            unreachable!("checked by side()")
        };
        if let Some(f) = g.tick(now) {
            records.extend(chess_finished(room, f, now));
            return Err(ProtoError::new("game_over", "your flag fell"));
        }
        let validate = spans::game_validate(mv);
        let p = validate.in_scope(|| g.play(side, mv, now)).map_err(|e| {
            shards::stats::inc(&shard.app.stats.move_validation_errors_total);
            validate.record("error.type", e.code());
            cerr(e)
        })?;
        let event = RoomEvent::Move {
            by: p.by.as_str(),
            uci: p.mv.uci,
            san: p.mv.san,
            fen: p.fen,
            ply: g.moves().len(),
            clocks: Clocks {
                white: p.clocks[0],
                black: p.clocks[1],
            },
        };
        room.touch();
        Ok((room.id.clone(), room.reserve_seq(), event, p.finish))
    });
    for r in records.drain(..) {
        record(&shard, r);
    }
    let (id, room_seq, event, finish) = staged?;
    // Durable before anyone hears of it: the snapshot holds the move.
    let saved = match save_room(&shard, &id)
        .instrument(spans::game_save(&id, room_seq))
        .await
    {
        Ok(()) => true,
        // Another node owns the room now (this one was cut off past its lease): the move is
        // refused, and the room's members reconnect to the new owner.
        Err(StorageError::Fenced { .. }) => {
            *c.room = None;
            return Err(ProtoError::new(
                "room_moved",
                "this room moved to another node; reconnect with your token",
            ));
        }
        Err(_) => false,
    };
    let now = now_ms();
    if let Some(room) = shard.app.games.rooms.borrow_mut().get_mut(&id) {
        room.emit_at(room_seq, event);
        if let Some(f) = finish {
            records.extend(chess_finished(room, f, now));
        }
    }
    for r in records {
        record(&shard, r);
    }
    c.ok(
        seq,
        Done {
            room_seq: Some(room_seq),
            saved: Some(saved),
            ..Done::default()
        },
    );
    Ok(())
}

/// `resign`, `offer_draw`, `accept_draw`, `decline_draw` → `ok {room_seq}`.
pub fn action(c: &mut Cmd<'_>, seq: Option<u64>, msg: &ClientMsg) -> Result<(), ProtoError> {
    let mut records = Vec::new();
    let r = c.in_room(|room, conn, now| {
        let side = side(room, conn)?;
        let Game::Chess(g) = &mut room.game else {
            unreachable!("checked by side()")
        };
        let (event, fin) = match msg {
            ClientMsg::Resign => (None, Some(g.resign(side, now).map_err(cerr)?)),
            ClientMsg::OfferDraw => {
                g.offer_draw(side).map_err(cerr)?;
                (Some(RoomEvent::DrawOffered { by: side.as_str() }), None)
            }
            ClientMsg::AcceptDraw => (None, Some(g.accept_draw(side, now).map_err(cerr)?)),
            _ => {
                g.decline_draw(side).map_err(cerr)?;
                (Some(RoomEvent::DrawDeclined { by: side.as_str() }), None)
            }
        };
        let mut n = room.seq;
        if let Some(e) = event {
            n = room.emit(e);
        }
        if let Some(f) = fin {
            records.extend(chess_finished(room, f, now));
            n = room.seq;
        }
        Ok(n)
    });
    for rec in records {
        record(c.shard(), rec);
    }
    c.ok(
        seq,
        Done {
            room_seq: Some(r?),
            ..Done::default()
        },
    );
    Ok(())
}
