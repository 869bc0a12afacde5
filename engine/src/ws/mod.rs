//! WebSocket (RFC 6455): the opening handshake ([`handshake`]) and the frame
//! codec ([`codec`]), both on top of tungstenite's header parsing and
//! formatting, with incremental UTF-8 validation ([`utf8`]). No I/O and no room logic here.

pub mod codec;
pub mod handshake;
pub mod utf8;

pub use codec::{close_frame, encode, Decoder, Flow, WsError, WsEvent};

use shards::Frame;
use tungstenite::protocol::frame::coding::{Control, Data, OpCode};

/// One text frame.
pub fn text_frame(payload: &[u8]) -> Frame {
    encode(OpCode::Data(Data::Text), payload)
}

/// The server's (empty) ping frame.
pub fn ping_frame() -> Frame {
    encode(OpCode::Control(Control::Ping), b"")
}
