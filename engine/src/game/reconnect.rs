//! Reconnect tokens and random ids (seed 003 section 3.3, seed 000 layer 5).
//!
//! A reconnect token is `{room}.{32 hex digits}`: the room part lets any shard
//! route a `reconnect` to the room's owner; the random part is the secret. A
//! token belongs to one seat, is replaced by a fresh one on every successful
//! reconnect (single use), and dies when the seat is freed (the grace period
//! ran out or the player left).

/// `n` random bytes as lower-case hex.
pub fn random_hex(n: usize) -> String {
    let mut b = vec![0u8; n];
    if getrandom::getrandom(&mut b).is_err() {
        // No entropy source: fall back to the clock (still unique per call).
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        for (i, x) in b.iter_mut().enumerate() {
            *x = (t >> ((i % 16) * 8)) as u8 ^ (i as u8);
        }
    }
    let mut s = String::with_capacity(2 * n);
    for x in b {
        s.push_str(&format!("{x:02x}"));
    }
    s
}

/// A fresh token for a seat of `room`.
pub fn new_token(room: &str) -> String {
    format!("{room}.{}", random_hex(16))
}

/// The room a token names, if it is well formed.
pub fn room_of(token: &str) -> Option<&str> {
    let (room, secret) = token.split_once('.')?;
    (!room.is_empty() && secret.len() == 32 && secret.bytes().all(|b| b.is_ascii_hexdigit()))
        .then_some(room)
}

/// Compare two tokens without an early exit on the first difference.
pub fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_route_to_their_room() {
        let t = new_token("c-12ab");
        assert_eq!(room_of(&t), Some("c-12ab"));
        assert!(same(&t, &t.clone()));
        assert!(!same(&t, &new_token("c-12ab")));
        assert_eq!(room_of("nope"), None);
        assert_eq!(room_of("r.xyz"), None);
    }
}
