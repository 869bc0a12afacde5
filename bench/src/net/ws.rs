//! WebSocket client wire format (RFC 6455) with minimal per-message work: the upgrade request
//! written by hand, the response checked with httparse and tungstenite's `derive_accept_key`,
//! client frames pre-built once per run ([`FrameTemplate`], already masked) so a send is one
//! memcpy plus masking the 20-byte [`Stamp`], and server frames parsed in place from a read
//! buffer with tungstenite's [`FrameHeader`].

use std::io::Cursor;

use tungstenite::handshake::derive_accept_key;
use tungstenite::protocol::frame::coding::{Control, Data, OpCode};
use tungstenite::protocol::frame::FrameHeader;

/// The upgrade request for `path` on `host`.
pub fn handshake_request(host: &str, path: &str, key: &str) -> Vec<u8> {
    format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    .into_bytes()
}

/// A fresh random Sec-WebSocket-Key and the Sec-WebSocket-Accept the server must answer.
pub fn new_key() -> (String, String) {
    let key = tungstenite::handshake::client::generate_key();
    let accept = derive_accept_key(key.as_bytes());
    (key, accept)
}

/// Result of parsing the server's handshake response.
#[derive(Debug, PartialEq, Eq)]
pub enum Handshake {
    /// More bytes needed.
    Incomplete,
    /// 101 with the right accept key; `consumed` bytes belong to the response (frames may follow).
    Accepted {
        /// Length of the HTTP response head.
        consumed: usize,
        /// The shard that accepted the socket (roomcore's `X-Roomcore-Shard`), if told.
        shard: Option<u32>,
    },
    /// Anything else (status, or why it is invalid).
    Rejected(String),
}

/// Parses the upgrade response in `buf`, checking the accept key.
pub fn parse_handshake(buf: &[u8], expected_accept: &str) -> Handshake {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut resp = httparse::Response::new(&mut headers);
    match resp.parse(buf) {
        Ok(httparse::Status::Partial) => {
            if buf.len() > 16 * 1024 {
                Handshake::Rejected("handshake response head over 16 KiB".into())
            } else {
                Handshake::Incomplete
            }
        }
        Err(e) => Handshake::Rejected(format!("bad handshake response: {e}")),
        Ok(httparse::Status::Complete(consumed)) => {
            let code = resp.code.unwrap_or(0);
            if code != 101 {
                return Handshake::Rejected(format!("status {code}"));
            }
            let accept = resp
                .headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case("sec-websocket-accept"))
                .map(|h| h.value);
            if accept != Some(expected_accept.as_bytes()) {
                return Handshake::Rejected("wrong Sec-WebSocket-Accept".into());
            }
            let shard = resp
                .headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case("x-roomcore-shard"))
                .and_then(|h| std::str::from_utf8(h.value).ok()?.trim().parse().ok());
            Handshake::Accepted { consumed, shard }
        }
    }
}

/// Bytes of a binary stamp.
pub const STAMP_LEN: usize = 20;
/// Bytes of a text (hex) stamp.
pub const TEXT_STAMP_LEN: usize = 40;

/// What every relay message carries: its intended send time, sender and room, and the tag of the
/// run step (to recognise late deliveries of an earlier step).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stamp {
    /// Intended send time, ns on the run clock.
    pub intended_ns: u64,
    /// Sending connection index.
    pub sender: u32,
    /// Room index.
    pub room: u32,
    /// Step tag (step number << 1 | measured bit).
    pub tag: u32,
}

impl Stamp {
    /// Little-endian binary encoding.
    pub fn to_bytes(&self) -> [u8; STAMP_LEN] {
        let mut b = [0u8; STAMP_LEN];
        b[0..8].copy_from_slice(&self.intended_ns.to_le_bytes());
        b[8..12].copy_from_slice(&self.sender.to_le_bytes());
        b[12..16].copy_from_slice(&self.room.to_le_bytes());
        b[16..20].copy_from_slice(&self.tag.to_le_bytes());
        b
    }

    /// Decodes the first [`STAMP_LEN`] bytes.
    pub fn from_bytes(b: &[u8]) -> Option<Self> {
        if b.len() < STAMP_LEN {
            return None;
        }
        let u32_at = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        let mut t = [0u8; 8];
        t.copy_from_slice(&b[0..8]);
        Some(Self {
            intended_ns: u64::from_le_bytes(t),
            sender: u32_at(8),
            room: u32_at(12),
            tag: u32_at(16),
        })
    }

    /// Lower-case hex of the binary encoding (valid UTF-8 for text frames).
    pub fn to_hex(&self) -> [u8; TEXT_STAMP_LEN] {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut out = [0u8; TEXT_STAMP_LEN];
        for (i, b) in self.to_bytes().iter().enumerate() {
            out[2 * i] = HEX[(b >> 4) as usize];
            out[2 * i + 1] = HEX[(b & 15) as usize];
        }
        out
    }

    /// Decodes the first [`TEXT_STAMP_LEN`] hex characters.
    pub fn from_hex(t: &[u8]) -> Option<Self> {
        if t.len() < TEXT_STAMP_LEN {
            return None;
        }
        let nib = |c: u8| match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            _ => None,
        };
        let mut b = [0u8; STAMP_LEN];
        for (i, out) in b.iter_mut().enumerate() {
            *out = (nib(t[2 * i])? << 4) | nib(t[2 * i + 1])?;
        }
        Self::from_bytes(&b)
    }
}

/// A pre-built, pre-masked client data frame of fixed payload size; each send copies it and
/// masks in the stamp.
#[derive(Clone, Debug)]
pub struct FrameTemplate {
    bytes: Vec<u8>,
    payload_off: usize,
    mask: [u8; 4],
    text: bool,
}

impl FrameTemplate {
    /// A frame of `size` payload bytes (raised to the stamp length), text or binary.
    pub fn new(size: usize, text: bool, mask: [u8; 4]) -> Self {
        let size = size.max(if text { TEXT_STAMP_LEN } else { STAMP_LEN });
        let header = FrameHeader {
            opcode: OpCode::Data(if text { Data::Text } else { Data::Binary }),
            mask: Some(mask),
            ..FrameHeader::default()
        };
        let mut bytes = Vec::with_capacity(14 + size);
        // writing into a Vec cannot fail
        let _ = header.format(size as u64, &mut bytes);
        let payload_off = bytes.len();
        let pad = if text { b'x' } else { 0 };
        bytes.extend((0..size).map(|i| pad ^ mask[i & 3]));
        Self {
            bytes,
            payload_off,
            mask,
            text,
        }
    }

    /// Appends one frame carrying `stamp` to `out`.
    #[inline]
    pub fn write(&self, out: &mut Vec<u8>, stamp: &Stamp) {
        let start = out.len() + self.payload_off;
        out.extend_from_slice(&self.bytes);
        let dst = &mut out[start..];
        if self.text {
            mask_into(dst, &stamp.to_hex(), self.mask);
        } else {
            mask_into(dst, &stamp.to_bytes(), self.mask);
        }
    }

    /// Wire length of one frame.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Payload length of one frame.
    pub fn payload_len(&self) -> usize {
        self.bytes.len() - self.payload_off
    }

    /// Always false: a template holds at least a header.
    pub fn is_empty(&self) -> bool {
        false
    }
}

#[inline]
fn mask_into(dst: &mut [u8], src: &[u8], mask: [u8; 4]) {
    for (i, (d, s)) in dst.iter_mut().zip(src).enumerate() {
        *d = s ^ mask[i & 3];
    }
}

/// Appends a masked control frame (pong: opcode 0xA, close: 0x8) with `payload` (<= 125 bytes).
pub fn write_control(out: &mut Vec<u8>, control: Control, payload: &[u8], mask: [u8; 4]) {
    let payload = &payload[..payload.len().min(125)];
    let header = FrameHeader {
        opcode: OpCode::Control(control),
        mask: Some(mask),
        ..FrameHeader::default()
    };
    let _ = header.format(payload.len() as u64, out);
    let start = out.len();
    out.extend_from_slice(payload);
    for (i, b) in out[start..].iter_mut().enumerate() {
        *b ^= mask[i & 3];
    }
}

/// Appends a masked text frame carrying `payload` (any length).
pub fn write_text(out: &mut Vec<u8>, payload: &[u8], mask: [u8; 4]) {
    let header = FrameHeader {
        opcode: OpCode::Data(Data::Text),
        mask: Some(mask),
        ..FrameHeader::default()
    };
    let _ = header.format(payload.len() as u64, out);
    let start = out.len();
    out.extend_from_slice(payload);
    for (i, b) in out[start..].iter_mut().enumerate() {
        *b ^= mask[i & 3];
    }
}

/// A masked close frame with status 1000.
pub fn write_close(out: &mut Vec<u8>, mask: [u8; 4]) {
    write_control(out, Control::Close, &1000u16.to_be_bytes(), mask);
}

/// One server frame, borrowed from the read buffer.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame<'a> {
    /// Text or binary frame (`fin` false when a fragmented message starts).
    Data {
        /// Text frame.
        text: bool,
        /// Last frame of the message.
        fin: bool,
        /// Payload.
        payload: &'a [u8],
    },
    /// Continuation of a fragmented message.
    Continuation {
        /// Last frame of the message.
        fin: bool,
    },
    /// Ping with its payload (answer with a pong).
    Ping(&'a [u8]),
    /// Pong.
    Pong,
    /// Close with its status code, if any.
    Close(Option<u16>),
}

/// Result of parsing the front of a read buffer.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed<'a> {
    /// Not a whole frame yet.
    Incomplete,
    /// A frame and the bytes it used.
    Frame(Frame<'a>, usize),
    /// Protocol violation: the connection cannot continue.
    Error(&'static str),
}

/// Parses one server frame from the front of `buf`, rejecting payloads over `max_payload`.
#[inline]
pub fn parse_frame(buf: &[u8], max_payload: usize) -> Parsed<'_> {
    let mut cur = Cursor::new(buf);
    let (header, len) = match FrameHeader::parse(&mut cur) {
        Ok(Some(h)) => h,
        Ok(None) => return Parsed::Incomplete,
        Err(_) => return Parsed::Error("bad frame header"),
    };
    if header.mask.is_some() {
        return Parsed::Error("masked frame from server");
    }
    if header.rsv1 || header.rsv2 || header.rsv3 {
        return Parsed::Error("reserved bits set");
    }
    if len > max_payload as u64 {
        return Parsed::Error("frame larger than the limit");
    }
    let start = cur.position() as usize;
    let end = start + len as usize;
    if buf.len() < end {
        return Parsed::Incomplete;
    }
    let payload = &buf[start..end];
    let fin = header.is_final;
    let frame = match header.opcode {
        OpCode::Data(Data::Binary) => Frame::Data {
            text: false,
            fin,
            payload,
        },
        OpCode::Data(Data::Text) => Frame::Data {
            text: true,
            fin,
            payload,
        },
        OpCode::Data(Data::Continue) => Frame::Continuation { fin },
        OpCode::Control(Control::Ping) => Frame::Ping(payload),
        OpCode::Control(Control::Pong) => Frame::Pong,
        OpCode::Control(Control::Close) => {
            Frame::Close((payload.len() >= 2).then(|| u16::from_be_bytes([payload[0], payload[1]])))
        }
        _ => return Parsed::Error("reserved opcode"),
    };
    Parsed::Frame(frame, end)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unmask(frame: &[u8]) -> (u8, Vec<u8>) {
        let mut cur = Cursor::new(frame);
        let (h, len) = FrameHeader::parse(&mut cur).unwrap().unwrap();
        let m = h.mask.unwrap();
        let off = cur.position() as usize;
        let p: Vec<u8> = frame[off..off + len as usize]
            .iter()
            .enumerate()
            .map(|(i, b)| b ^ m[i & 3])
            .collect();
        (u8::from(h.opcode), p)
    }

    #[test]
    fn stamp_roundtrip_binary_and_hex() {
        let s = Stamp {
            intended_ns: 0x0102_0304_0506_0708,
            sender: 77,
            room: 3,
            tag: 9,
        };
        assert_eq!(Stamp::from_bytes(&s.to_bytes()), Some(s));
        assert_eq!(Stamp::from_hex(&s.to_hex()), Some(s));
        assert_eq!(Stamp::from_bytes(&[0; 5]), None);
        assert_eq!(Stamp::from_hex(&[b'z'; 40]), None);
    }

    #[test]
    fn template_frames_unmask_to_stamp_and_padding() {
        let s = Stamp {
            intended_ns: 123_456,
            sender: 1,
            room: 2,
            tag: 3,
        };
        for (size, text) in [(64, false), (64, true), (300, false), (5, false)] {
            let t = FrameTemplate::new(size, text, [0x11, 0x22, 0x33, 0x44]);
            let mut out = vec![0xEE];
            t.write(&mut out, &s);
            assert_eq!(out.len(), 1 + t.len());
            let (op, p) = unmask(&out[1..]);
            assert_eq!(p.len(), t.payload_len());
            if text {
                assert_eq!(op, 1);
                assert_eq!(Stamp::from_hex(&p), Some(s));
                assert!(p[TEXT_STAMP_LEN..].iter().all(|&b| b == b'x'));
            } else {
                assert_eq!(op, 2);
                assert_eq!(Stamp::from_bytes(&p), Some(s));
                assert!(p[STAMP_LEN..].iter().all(|&b| b == 0));
            }
        }
    }

    #[test]
    fn parses_server_frames_in_place() {
        let mut buf = vec![0x82, 3, 1, 2, 3, 0x89, 1, 9, 0x88, 2, 0x03, 0xE8, 0x81];
        let Parsed::Frame(f, n) = parse_frame(&buf, 1024) else {
            panic!()
        };
        assert_eq!(
            f,
            Frame::Data {
                text: false,
                fin: true,
                payload: &[1, 2, 3]
            }
        );
        buf.drain(..n);
        let Parsed::Frame(f, n) = parse_frame(&buf, 1024) else {
            panic!()
        };
        assert_eq!(f, Frame::Ping(&[9]));
        buf.drain(..n);
        let Parsed::Frame(f, n) = parse_frame(&buf, 1024) else {
            panic!()
        };
        assert_eq!(f, Frame::Close(Some(1000)));
        buf.drain(..n);
        assert_eq!(parse_frame(&buf, 1024), Parsed::Incomplete);
        // 126-length form, incomplete payload
        assert_eq!(
            parse_frame(&[0x82, 126, 0, 200, 1], 1024),
            Parsed::Incomplete
        );
        assert_eq!(
            parse_frame(&[0x82, 126, 0x10, 0], 1024),
            Parsed::Error("frame larger than the limit")
        );
        assert!(matches!(
            parse_frame(&[0x82, 0x81, 1, 2, 3, 4, 5], 1024),
            Parsed::Error(_)
        ));
        assert!(matches!(parse_frame(&[0x83, 0], 1024), Parsed::Error(_)));
    }

    #[test]
    fn handshake_checks_status_and_key() {
        let (key, accept) = new_key();
        let req = String::from_utf8(handshake_request("127.0.0.1:1", "/ws?room=a", &key)).unwrap();
        assert!(req.starts_with("GET /ws?room=a HTTP/1.1\r\n"));
        assert!(req.ends_with("\r\n\r\n"));
        let ok = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
        );
        let mut ok = ok.into_bytes();
        ok.extend_from_slice(&[0x82, 0x00]);
        assert_eq!(
            parse_handshake(&ok, &accept),
            Handshake::Accepted {
                consumed: ok.len() - 2,
                shard: None
            }
        );
        let with_shard = format!(
            "HTTP/1.1 101 Switching Protocols\r\nSec-WebSocket-Accept: {accept}\r\nX-Roomcore-Shard: 3\r\n\r\n"
        );
        assert!(matches!(
            parse_handshake(with_shard.as_bytes(), &accept),
            Handshake::Accepted { shard: Some(3), .. }
        ));
        assert_eq!(parse_handshake(&ok[..20], &accept), Handshake::Incomplete);
        assert!(matches!(
            parse_handshake(&ok, "nope"),
            Handshake::Rejected(_)
        ));
        assert!(matches!(
            parse_handshake(b"HTTP/1.1 404 Not Found\r\n\r\n", &accept),
            Handshake::Rejected(_)
        ));
        assert!(matches!(
            parse_handshake(b"\x00\x01garbage\r\n\r\n", &accept),
            Handshake::Rejected(_)
        ));
    }

    #[test]
    fn text_frames_are_masked_with_any_length() {
        for n in [0usize, 5, 125, 126, 300, 70_000] {
            let payload: Vec<u8> = (0..n).map(|i| b'a' + (i % 26) as u8).collect();
            let mut out = Vec::new();
            write_text(&mut out, &payload, [9, 8, 7, 6]);
            let (op, p) = unmask(&out);
            assert_eq!(op, 1);
            assert_eq!(p, payload);
        }
    }

    #[test]
    fn control_frames_are_masked() {
        let mut out = Vec::new();
        write_close(&mut out, [1, 2, 3, 4]);
        let (op, p) = unmask(&out);
        assert_eq!(op, 8);
        assert_eq!(p, 1000u16.to_be_bytes());
    }
}
