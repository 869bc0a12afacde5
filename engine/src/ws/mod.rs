//! WebSocket (RFC 6455): the opening handshake ([`handshake`]) and the frame
//! codec ([`codec`]), both on top of tungstenite's header parsing and
//! formatting. No I/O and no room logic here.

pub mod codec;
pub mod handshake;

pub use codec::{close_frame, encode, Decoder, Flow, WsError, WsEvent};
