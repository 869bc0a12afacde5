//! Frame decoding and encoding without per-connection buffers.
//!
//! [`Decoder::decode`] reads complete frames from the front of a mutable buffer
//! (unmasking payloads in place), enforces the protocol rules (masking, reserved
//! bits, control-frame rules, fragmentation order, UTF-8, message size) and hands
//! each event to a callback. Only a fragmented message keeps bytes between
//! calls. Text is validated as it arrives ([`Utf8Stream`]), across fragments and
//! into a frame not yet complete, so invalid UTF-8 fails the connection (1007) at
//! once, not when the message ends. [`encode`] builds one server frame (header +
//! payload) as a shared [`Frame`] so a broadcast is encoded once.

use std::io::Cursor;

use shards::Frame;
use tungstenite::protocol::frame::coding::{CloseCode, Control, Data, OpCode};
use tungstenite::protocol::frame::FrameHeader;

use super::utf8::Utf8Stream;

/// What the caller wants after an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Continue,
    /// Stop decoding (after a close frame).
    Stop,
}

/// One decoded event; slices borrow the input buffer.
#[derive(Debug, PartialEq, Eq)]
pub enum WsEvent<'a> {
    /// A complete data message (reassembled if it was fragmented).
    Message {
        text: bool,
        payload: &'a [u8],
    },
    Ping(&'a [u8]),
    Pong(&'a [u8]),
    /// The peer's close frame; `code` is None for an empty close payload.
    Close {
        code: Option<u16>,
        reason: &'a str,
    },
}

/// A protocol violation; the connection is closed with [`WsError::close_code`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WsError {
    /// 1002: framing rules broken.
    Protocol(&'static str),
    /// 1007: a text message or close reason is not UTF-8.
    InvalidUtf8,
    /// 1009: a message is over the limit.
    TooBig,
}

impl WsError {
    /// The close code that reports this error.
    pub fn close_code(&self) -> u16 {
        match self {
            WsError::Protocol(_) => 1002,
            WsError::InvalidUtf8 => 1007,
            WsError::TooBig => 1009,
        }
    }

    /// The close reason sent to the peer.
    pub fn reason(&self) -> &'static str {
        match self {
            WsError::Protocol(m) => m,
            WsError::InvalidUtf8 => "invalid UTF-8",
            WsError::TooBig => "message too big",
        }
    }
}

/// Streaming frame decoder of one connection: 24 bytes while no message is in progress
/// (the state of a fragmented message and of a text frame cut by a read are boxed, so an
/// idle session holds two null pointers).
#[derive(Debug)]
pub struct Decoder {
    max_message: usize,
    /// A fragmented message in progress.
    frag: Option<Box<Frag>>,
    /// How far the text frame left incomplete by the last call (at the front of the
    /// next one) was validated.
    pending: Option<Box<Pending>>,
}

/// A fragmented message in progress.
#[derive(Debug)]
struct Frag {
    text: bool,
    /// The payload so far.
    bytes: Vec<u8>,
    /// UTF-8 state of the text message after its complete frames.
    utf8: Utf8Stream,
}

/// Validation progress inside an incomplete text frame.
#[derive(Debug, Clone, Copy)]
struct Pending {
    /// The frame's payload length (identifies the frame).
    len: u64,
    /// Payload bytes validated.
    checked: usize,
    /// UTF-8 state after them.
    utf8: Utf8Stream,
}

/// XOR `buf` with the 4-byte `mask`, 8 bytes at a time.
pub fn apply_mask(buf: &mut [u8], mask: [u8; 4]) {
    let key = u64::from_ne_bytes([
        mask[0], mask[1], mask[2], mask[3], mask[0], mask[1], mask[2], mask[3],
    ]);
    let mut chunks = buf.chunks_exact_mut(8);
    for c in &mut chunks {
        let v = u64::from_ne_bytes(c.try_into().expect("8 bytes")) ^ key;
        c.copy_from_slice(&v.to_ne_bytes());
    }
    for (i, b) in chunks.into_remainder().iter_mut().enumerate() {
        *b ^= mask[i & 3];
    }
}

impl Decoder {
    /// A decoder refusing messages over `max_message` bytes.
    pub fn new(max_message: usize) -> Decoder {
        Decoder {
            max_message,
            frag: None,
            pending: None,
        }
    }

    /// Whether a fragmented message is in progress.
    pub fn in_fragment(&self) -> bool {
        self.frag.is_some()
    }

    /// Decode complete frames from the front of `buf`, calling `on` for each
    /// event. Returns how many bytes were consumed; the rest is an incomplete
    /// frame the caller keeps for the next call.
    pub fn decode<F>(&mut self, buf: &mut [u8], mut on: F) -> Result<usize, WsError>
    where
        F: FnMut(WsEvent<'_>) -> Flow,
    {
        let mut pos = 0;
        while pos < buf.len() {
            let mut cur = Cursor::new(&buf[pos..]);
            let (header, len) = match FrameHeader::parse(&mut cur) {
                Ok(Some(h)) => h,
                Ok(None) => break,
                Err(_) => return Err(WsError::Protocol("invalid frame header")),
            };
            let hlen = cur.position() as usize;
            if header.rsv1 || header.rsv2 || header.rsv3 {
                return Err(WsError::Protocol("reserved bits set"));
            }
            let Some(mask) = header.mask else {
                return Err(WsError::Protocol("client frames must be masked"));
            };
            let len_usize = usize::try_from(len).map_err(|_| WsError::TooBig)?;
            match header.opcode {
                OpCode::Control(Control::Reserved(_)) | OpCode::Data(Data::Reserved(_)) => {
                    return Err(WsError::Protocol("reserved opcode"));
                }
                OpCode::Control(_) => {
                    if len > 125 {
                        return Err(WsError::Protocol("control frame payload over 125 bytes"));
                    }
                    if !header.is_final {
                        return Err(WsError::Protocol("fragmented control frame"));
                    }
                }
                OpCode::Data(Data::Continue) => {
                    let Some(frag) = &self.frag else {
                        return Err(WsError::Protocol("continuation frame without a message"));
                    };
                    if frag.bytes.len().saturating_add(len_usize) > self.max_message {
                        return Err(WsError::TooBig);
                    }
                }
                OpCode::Data(_) => {
                    if self.frag.is_some() {
                        return Err(WsError::Protocol(
                            "new message before the fragmented one ended",
                        ));
                    }
                    if len_usize > self.max_message {
                        return Err(WsError::TooBig);
                    }
                }
            }
            let end = match pos.checked_add(hlen).and_then(|p| p.checked_add(len_usize)) {
                Some(e) => e,
                None => return Err(WsError::TooBig),
            };
            let start = pos + hlen;
            // Text (a text frame, or a continuation of a text message) is validated as it
            // comes: from where the last call stopped inside this frame, or from the
            // message's state so far.
            let text_from = match header.opcode {
                OpCode::Data(Data::Text) => Some(Utf8Stream::default()),
                OpCode::Data(Data::Continue) => {
                    self.frag.as_ref().filter(|f| f.text).map(|f| f.utf8)
                }
                _ => None,
            };
            let resume = match self.pending.take() {
                Some(p) if pos == 0 && p.len == len && start + p.checked <= buf.len() => Some(*p),
                _ => None,
            };
            let text_from =
                text_from.map(|fresh| resume.map_or((0, fresh), |p| (p.checked, p.utf8)));
            if end > buf.len() {
                if let Some((from, mut utf8)) = text_from {
                    // Fail fast: check the part of the payload that is here.
                    if !feed_masked(&mut utf8, &buf[start + from..], mask, from) {
                        return Err(WsError::InvalidUtf8);
                    }
                    self.pending = Some(Box::new(Pending {
                        len,
                        checked: buf.len() - start,
                        utf8,
                    }));
                }
                break;
            }
            apply_mask(&mut buf[start..end], mask);
            let payload = &buf[start..end];
            pos = end;
            // The UTF-8 state after this frame (a text message's first fragment starts its
            // `Frag` with it).
            let mut last_utf8 = Utf8Stream::default();
            if let Some((from, mut utf8)) = text_from {
                if !utf8.feed(&payload[from..]) || (header.is_final && !utf8.is_complete()) {
                    return Err(WsError::InvalidUtf8);
                }
                if let Some(frag) = &mut self.frag {
                    frag.utf8 = utf8;
                }
                last_utf8 = utf8;
            }
            let flow = match header.opcode {
                OpCode::Control(Control::Ping) => on(WsEvent::Ping(payload)),
                OpCode::Control(Control::Pong) => on(WsEvent::Pong(payload)),
                OpCode::Control(Control::Close) => {
                    let (code, reason) = parse_close(payload)?;
                    on(WsEvent::Close { code, reason });
                    Flow::Stop
                }
                OpCode::Data(Data::Continue) => {
                    let mut frag = self.frag.take().expect("checked above");
                    frag.bytes.extend_from_slice(payload);
                    if header.is_final {
                        on(WsEvent::Message {
                            text: frag.text,
                            payload: &frag.bytes,
                        })
                    } else {
                        self.frag = Some(frag);
                        Flow::Continue
                    }
                }
                OpCode::Data(d) => {
                    let text = d == Data::Text;
                    if header.is_final {
                        on(WsEvent::Message { text, payload })
                    } else {
                        self.frag = Some(Box::new(Frag {
                            text,
                            bytes: payload.to_vec(),
                            utf8: last_utf8,
                        }));
                        Flow::Continue
                    }
                }
                OpCode::Control(Control::Reserved(_)) => unreachable!("rejected above"),
            };
            if flow == Flow::Stop {
                break;
            }
        }
        Ok(pos)
    }
}

/// Feed the masked `bytes`, which start `offset` bytes into a payload masked with `mask`,
/// to `utf8` without unmasking them in place (the frame is decoded again once complete).
fn feed_masked(utf8: &mut Utf8Stream, bytes: &[u8], mask: [u8; 4], offset: usize) -> bool {
    let rotated: [u8; 4] = std::array::from_fn(|i| mask[(offset + i) % 4]);
    let mut tmp = [0u8; 512];
    bytes.chunks(tmp.len()).all(|chunk| {
        let plain = &mut tmp[..chunk.len()];
        plain.copy_from_slice(chunk);
        apply_mask(plain, rotated);
        utf8.feed(plain)
    })
}

fn parse_close(payload: &[u8]) -> Result<(Option<u16>, &str), WsError> {
    match payload.len() {
        0 => Ok((None, "")),
        1 => Err(WsError::Protocol("close payload of one byte")),
        _ => {
            let code = u16::from_be_bytes([payload[0], payload[1]]);
            if !CloseCode::from(code).is_allowed() {
                return Err(WsError::Protocol("invalid close code"));
            }
            let reason = std::str::from_utf8(&payload[2..]).map_err(|_| WsError::InvalidUtf8)?;
            Ok((Some(code), reason))
        }
    }
}

/// Encode one unmasked, final server frame.
pub fn encode(opcode: OpCode, payload: &[u8]) -> Frame {
    let header = FrameHeader {
        is_final: true,
        rsv1: false,
        rsv2: false,
        rsv3: false,
        opcode,
        mask: None,
    };
    let mut head = [0u8; 10];
    let mut cur = Cursor::new(&mut head[..]);
    header
        .format(payload.len() as u64, &mut cur)
        .expect("a 10-byte buffer holds any unmasked header");
    let hlen = cur.position() as usize;
    head[..hlen].iter().chain(payload.iter()).copied().collect()
}

/// A close frame with `code` and `reason` (reason cut to fit 123 bytes).
pub fn close_frame(code: u16, reason: &str) -> Frame {
    let mut r = reason;
    while r.len() > 123 {
        let mut cut = 123;
        while !r.is_char_boundary(cut) {
            cut -= 1;
        }
        r = &r[..cut];
    }
    let mut payload = Vec::with_capacity(2 + r.len());
    payload.extend_from_slice(&code.to_be_bytes());
    payload.extend_from_slice(r.as_bytes());
    encode(OpCode::Control(Control::Close), &payload)
}

#[cfg(test)]
#[path = "codec_tests.rs"]
mod tests;
