//! Room ids: the validated key of every room (relay rooms, game rooms, state documents).
//!
//! A pure type: `RoomId::parse` accepts 1..=64 bytes of `[A-Za-z0-9_.:-]`, so an id is safe
//! in a URL, a log line and a SQL parameter, and `shards::shard_for(id)` names its owner.

use std::fmt;
/// A validated room id: 1..=64 bytes of `[A-Za-z0-9_.:-]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RoomId(Box<str>);

/// Why a room id was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoomIdError {
    Empty,
    TooLong,
    BadChar,
}

impl fmt::Display for RoomIdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RoomIdError::Empty => "room id is empty",
            RoomIdError::TooLong => "room id is longer than 64 characters",
            RoomIdError::BadChar => "room id may only contain A-Z a-z 0-9 _ - . :",
        })
    }
}

impl RoomId {
    /// Longest accepted id, in bytes.
    pub const MAX_LEN: usize = 64;

    /// Validate `s` as a room id.
    pub fn parse(s: &str) -> Result<RoomId, RoomIdError> {
        if s.is_empty() {
            return Err(RoomIdError::Empty);
        }
        if s.len() > Self::MAX_LEN {
            return Err(RoomIdError::TooLong);
        }
        if !s
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':'))
        {
            return Err(RoomIdError::BadChar);
        }
        Ok(RoomId(s.into()))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RoomId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn room_ids_are_validated() {
        assert!(RoomId::parse("lobby-1_a.b:c").is_ok());
        assert_eq!(RoomId::parse(""), Err(RoomIdError::Empty));
        assert_eq!(RoomId::parse(&"a".repeat(65)), Err(RoomIdError::TooLong));
        assert_eq!(RoomId::parse("a b"), Err(RoomIdError::BadChar));
        assert_eq!(RoomId::parse("<script>"), Err(RoomIdError::BadChar));
        assert_eq!(RoomId::parse("é"), Err(RoomIdError::BadChar));
    }
}
