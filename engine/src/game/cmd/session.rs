//! `hello` (authenticate the session with an account token) and `ping`.

use super::Cmd;
use crate::game::events::ServerEvent;
use crate::game::protocol::{self, ProtoError};
use crate::game::rooms::User;

/// `hello {token}` → `welcome {user, shard}`.
pub fn hello(c: &mut Cmd<'_>, seq: Option<u64>, token: &str) -> Result<(), ProtoError> {
    let now = storage::now_ms() / 1000;
    let claims = c
        .shard()
        .app
        .services
        .tokens
        .verify(token, now)
        .map_err(|e| ProtoError::new("unauthenticated", format!("token refused: {e:?}")))?;
    let name =
        protocol::sanitize_name(&claims.name).unwrap_or_else(|_| format!("user-{}", claims.sub));
    if c.state.user.as_ref().is_some_and(|u| u.id != claims.sub) && c.room.is_some() {
        return Err(ProtoError::new(
            "already_in_room",
            "leave the room before changing identity",
        ));
    }
    let user = User {
        id: claims.sub,
        name,
    };
    c.state.user = Some(user.clone());
    c.send(ServerEvent::Welcome {
        seq,
        user,
        shard: c.shard().id,
    });
    Ok(())
}
