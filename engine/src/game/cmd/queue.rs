//! Matchmaking from a socket: `queue` (a solo ticket or a party, `match_found` pushed later)
//! and `cancel_queue`, and withdrawing the session's ticket when it joins a room or ends.
//! The queues themselves live on their owner shards ([`crate::game::service`]).

use crate::game::events::ServerEvent;
use crate::game::matchmaking::{self, Notify};
use crate::game::protocol::{self, ProtoError};
use crate::game::rooms::User;
use crate::game::service;

use super::Cmd;

/// `queue {mode, region, party}` → `queued {ticket, mode, region}`.
pub async fn queue(
    c: &mut Cmd<'_>,
    seq: Option<u64>,
    user: &User,
    mode: &str,
    region: &str,
    party: &[String],
) -> Result<(), ProtoError> {
    if c.room.is_some() {
        return Err(ProtoError::new(
            "already_in_room",
            "leave your room before queueing",
        ));
    }
    let shard = c.shard().clone();
    if let Some((key, ticket)) = c.state.queued.clone() {
        // A ticket that was matched (or expired) no longer holds the session.
        if !service::still_queued(&shard, &key, &ticket, user.id).await {
            c.state.queued = None;
        }
    }
    if c.state.queued.is_some() {
        return Err(ProtoError::new(
            "already_queued",
            "cancel your ticket first",
        ));
    }
    let spec = matchmaking::mode(mode)
        .ok_or_else(|| ProtoError::new("unknown_mode", format!("no mode `{mode}`")))?;
    let mut users = vec![user.clone()];
    let now_s = storage::now_ms() / 1000;
    for t in party {
        let claims =
            shard.app.services.tokens.verify(t, now_s).map_err(|_| {
                ProtoError::new("invalid_token", "a party member's token is invalid")
            })?;
        if users.iter().all(|u| u.id != claims.sub) {
            users.push(User {
                id: claims.sub,
                name: protocol::sanitize_name(&claims.name).unwrap_or_default(),
            });
        }
    }
    let notify = Notify::Ws {
        shard: shard.id,
        conn: c.conn(),
    };
    let (key, id) = service::enqueue(&shard, spec, region, users, notify, None).await?;
    c.state.queued = Some((key, id.clone()));
    c.send(ServerEvent::Queued {
        seq,
        ticket: id,
        mode: mode.to_string(),
        region: region.to_string(),
    });
    Ok(())
}

/// `cancel_queue` → `queue_cancelled {removed}`.
pub async fn cancel(c: &mut Cmd<'_>, seq: Option<u64>) -> Result<(), ProtoError> {
    if c.state.queued.is_none() {
        return Err(ProtoError::new("not_queued", "you are not in a queue"));
    }
    let removed = withdraw(c).await;
    c.send(ServerEvent::QueueCancelled { seq, removed });
    Ok(())
}

/// Withdraw this session's ticket (if any); true if it was still queued.
pub async fn withdraw(c: &mut Cmd<'_>) -> bool {
    let Some((key, ticket)) = c.state.queued.take() else {
        return false;
    };
    let Some(user) = c.state.user.as_ref().map(|u| u.id) else {
        return false;
    };
    service::cancel(c.shard(), key, Some(ticket), user)
        .await
        .unwrap_or(false)
}
