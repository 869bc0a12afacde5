//! Room ownership: `shard_for(room_id, shards)` says which shard owns a room.
//!
//! A pure function of the id (FNV-1a, 64 bit), stable across restarts and
//! processes, so every shard computes the same owner without asking anyone.

/// FNV-1a 64-bit hash of `bytes`.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// The shard (0..shards) that owns `room`. `shards` of 0 is treated as 1.
pub fn shard_for(room: &str, shards: usize) -> usize {
    let n = shards.max(1) as u64;
    (fnv1a(room.as_bytes()) % n) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stable_and_in_range() {
        for n in 1..8 {
            for id in ["a", "lobby", "room-42", "x_y_z", ""] {
                let s = shard_for(id, n);
                assert!(s < n);
                assert_eq!(s, shard_for(id, n), "must be deterministic");
            }
        }
        assert_eq!(shard_for("anything", 0), 0);
    }

    #[test]
    fn known_values_do_not_change() {
        // Changing the hash would move persisted rooms to other shards: pin it.
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn spreads_over_shards() {
        let mut counts = [0usize; 4];
        for i in 0..4000 {
            counts[shard_for(&format!("room-{i}"), 4)] += 1;
        }
        for c in counts {
            assert!(c > 800, "uneven spread: {counts:?}");
        }
    }
}
