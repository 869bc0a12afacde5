//! What travels through Redis between nodes: channel names and payload formats. Pure
//! functions, no I/O.
//!
//! - `rc:r:{room}`: a relay room's frames. Payload: the origin node's tag (8 bytes, little
//!   endian) then the encoded WebSocket frame, as the origin's members got it.
//! - `rc:n:{node}`: messages to one node. Payload: [`WAKE`] (the node's own subscriber is
//!   asked to look at its subscription changes), or `j` + a JSON [`NodeMsg`], or `f` + frames
//!   for one connection (8-byte connection id, then 4-byte length + frame, repeated).

use serde::{Deserialize, Serialize};
use shards::routing::fnv1a;

/// Wakes a node's subscriber thread.
pub const WAKE: &[u8] = b"w";

/// The channel of relay room `room`.
pub fn relay_channel(room: &str) -> String {
    format!("rc:r:{room}")
}

/// The channel of node `id`.
pub fn node_channel(id: &str) -> String {
    format!("rc:n:{id}")
}

/// The 8-byte tag of a node in relay payloads (its own messages come back to it: skipped).
pub fn node_tag(id: &str) -> u64 {
    fnv1a(id.as_bytes())
}

/// A relay payload: origin tag, then the frame.
pub fn relay_payload(origin: u64, frame: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(8 + frame.len());
    v.extend_from_slice(&origin.to_le_bytes());
    v.extend_from_slice(frame);
    v
}

/// Split a relay payload into (origin tag, frame).
pub fn parse_relay(payload: &[u8]) -> Option<(u64, &[u8])> {
    let (tag, frame) = payload.split_at_checked(8)?;
    Some((u64::from_le_bytes(tag.try_into().ok()?), frame))
}

/// Control messages between nodes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
pub enum NodeMsg {
    /// A typed-protocol message from a socket on node `from` (connection `conn`, user) for a
    /// room this node owns.
    Forward {
        from: String,
        conn: u64,
        ip: String,
        user_id: i64,
        user_name: String,
        room: String,
        text: String,
    },
    /// The socket `conn` of node `from` went away: its room member leaves (seat held).
    Gone {
        from: String,
        conn: u64,
        room: String,
    },
    /// The remote session of `conn` on this node no longer has a room (it left, or its join
    /// was refused): its messages are handled locally again.
    Detached { conn: u64 },
    /// A draining node handed game room `room` to this node: load it from its snapshot.
    TakeOver { room: String },
}

/// `j` + JSON.
pub fn node_payload(m: &NodeMsg) -> Vec<u8> {
    let mut v = vec![b'j'];
    v.extend_from_slice(&serde_json::to_vec(m).unwrap_or_default());
    v
}

/// `f` + the frames for connection `conn`.
pub fn frames_payload(conn: u64, frames: &[&[u8]]) -> Vec<u8> {
    let n: usize = frames.iter().map(|f| f.len() + 4).sum();
    let mut v = Vec::with_capacity(9 + n);
    v.push(b'f');
    v.extend_from_slice(&conn.to_le_bytes());
    for f in frames {
        v.extend_from_slice(&(f.len() as u32).to_le_bytes());
        v.extend_from_slice(f);
    }
    v
}

/// What a node channel carried.
#[derive(Debug, PartialEq)]
pub enum NodePayload {
    Wake,
    Msg(NodeMsg),
    Frames { conn: u64, frames: Vec<Vec<u8>> },
}

/// Decode a node channel payload (`None`: malformed, dropped and counted).
pub fn parse_node(p: &[u8]) -> Option<NodePayload> {
    match p.split_first()? {
        (b'w', []) => Some(NodePayload::Wake),
        (b'j', json) => serde_json::from_slice(json).ok().map(NodePayload::Msg),
        (b'f', rest) => {
            let (conn, mut rest) = rest.split_at_checked(8)?;
            let conn = u64::from_le_bytes(conn.try_into().ok()?);
            let mut frames = Vec::new();
            while !rest.is_empty() {
                let (len, r) = rest.split_at_checked(4)?;
                let len = u32::from_le_bytes(len.try_into().ok()?) as usize;
                let (f, r) = r.split_at_checked(len)?;
                frames.push(f.to_vec());
                rest = r;
            }
            Some(NodePayload::Frames { conn, frames })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_round_trip_and_garbage_is_refused() {
        let p = relay_payload(7, b"\x81\x02hi");
        assert_eq!(parse_relay(&p), Some((7, &b"\x81\x02hi"[..])));
        assert_eq!(parse_relay(b"short"), None);
        let f = frames_payload(42, &[b"a", b"bc"]);
        assert_eq!(
            parse_node(&f),
            Some(NodePayload::Frames {
                conn: 42,
                frames: vec![b"a".to_vec(), b"bc".to_vec()]
            })
        );
        let m = NodeMsg::Detached { conn: 3 };
        assert_eq!(parse_node(&node_payload(&m)), Some(NodePayload::Msg(m)));
        assert_eq!(parse_node(WAKE), Some(NodePayload::Wake));
        for junk in [
            &b""[..],
            b"x",
            b"f\x01",
            b"j{",
            b"f\x01\x00\x00\x00\x00\x00\x00\x00\x09\x00\x00\x00a",
        ] {
            assert_eq!(parse_node(junk), None, "{junk:?}");
        }
    }
}
