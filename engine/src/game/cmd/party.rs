//! Party-game actions: `claim_slot`, `update_settings`, `start`, `switch`, `pause`,
//! `resume`, `reset`, `eliminate`. Each one that is allowed broadcasts the full new state
//! (`party` event); authorization is the state machine's (`party.rs`), reserved slots the
//! room's.

use crate::game::events::{Done, RoomEvent};
use crate::game::party::{PartyError, PartyGame};
use crate::game::protocol::{ClientMsg, ProtoError};
use crate::game::rooms::{Game, User};

use super::Cmd;

pub fn perr(e: PartyError) -> ProtoError {
    ProtoError::new(e.code(), e.message())
}

type Apply = Box<dyn FnOnce(&mut PartyGame, i64, u64) -> Result<(), PartyError>>;

/// The action a message is, the change it makes, and the slot it claims.
fn of(msg: &ClientMsg, user: &User) -> (&'static str, Apply, Option<usize>) {
    match msg.clone() {
        ClientMsg::ClaimSlot { slot, name } => {
            let name = name.unwrap_or_else(|| user.name.clone());
            (
                "claim_slot",
                Box::new(move |p, u, _| p.claim(u, slot, &name)),
                Some(slot),
            )
        }
        ClientMsg::UpdateSettings { settings } => (
            "update_settings",
            Box::new(move |p, u, _| p.update_settings(u, settings)),
            None,
        ),
        ClientMsg::Start => ("start", Box::new(|p, u, now| p.start(u, now)), None),
        ClientMsg::Switch => ("switch", Box::new(|p, u, now| p.switch(u, now)), None),
        ClientMsg::Pause => ("pause", Box::new(|p, u, now| p.pause(u, now)), None),
        ClientMsg::Resume => ("resume", Box::new(|p, u, now| p.resume(u, now)), None),
        ClientMsg::Reset => ("reset", Box::new(|p, u, _| p.reset(u)), None),
        ClientMsg::Eliminate { slot } => (
            "eliminate",
            Box::new(move |p, u, now| p.eliminate(u, slot, now)),
            None,
        ),
        _ => unreachable!("dispatch sends only party actions here"),
    }
}

/// Apply a party action and broadcast the new state → `ok {room_seq}` (a claimed slot also
/// answers its `seat` and `reconnect_token`).
pub fn action(
    c: &mut Cmd<'_>,
    seq: Option<u64>,
    user: &User,
    msg: ClientMsg,
) -> Result<(), ProtoError> {
    let (action, apply, claim) = of(&msg, user);
    let (n, token) = c.in_room(|room, conn, now| {
        if let Some(i) = claim {
            if room.reserved_for_other(i, user.id) {
                return Err(ProtoError::new(
                    "forbidden",
                    "this slot is reserved for another player",
                ));
            }
        }
        let Game::Party(p) = &mut room.game else {
            return Err(ProtoError::new("wrong_game", "this is not a party room"));
        };
        apply(p, user.id, now).map_err(perr)?;
        let slots = p.slots.len();
        if room.seats.len() != slots {
            room.seats.resize(slots, None);
            room.reserved.resize(slots, None);
        }
        let token = claim.map(|i| room.take_seat(i, user, conn));
        let game = room.party_view(now).expect("a party room");
        let n = room.emit(RoomEvent::Party {
            action,
            by: Some(user.id),
            slot: None,
            game,
        });
        Ok((n, token))
    })?;
    let seat = token.is_some().then_some(claim).flatten();
    c.ok(
        seq,
        Done {
            room_seq: Some(n),
            reconnect_token: token,
            seat,
            ..Done::default()
        },
    );
    Ok(())
}
