//! WebSocket (RFC 6455): the opening handshake ([`handshake`]) and the frame
//! codec ([`codec`]), both on top of tungstenite's header parsing and
//! formatting, with incremental UTF-8 validation ([`utf8`]). No I/O and no room logic here.

pub mod codec;
pub mod handshake;
pub mod utf8;

pub use codec::{close_frame, encode, Decoder, Flow, WsError, WsEvent};
