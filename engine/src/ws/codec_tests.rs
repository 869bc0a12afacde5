//! Unit tests of the frame codec (`super`): frames, fragmentation, UTF-8, masks, closes.

use super::*;

fn client_frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mask = [0x12, 0x34, 0x56, 0x78];
    let mut f = vec![(if fin { 0x80 } else { 0 }) | opcode];
    if payload.len() < 126 {
        f.push(0x80 | payload.len() as u8);
    } else if payload.len() <= 0xffff {
        f.push(0x80 | 126);
        f.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    } else {
        f.push(0x80 | 127);
        f.extend_from_slice(&(payload.len() as u64).to_be_bytes());
    }
    f.extend_from_slice(&mask);
    let mut p = payload.to_vec();
    apply_mask(&mut p, mask);
    f.extend_from_slice(&p);
    f
}

fn decode_all(d: &mut Decoder, buf: &mut [u8]) -> Result<(usize, Vec<String>), WsError> {
    let mut seen = Vec::new();
    let n = d.decode(buf, |e| {
        seen.push(match e {
            WsEvent::Message { text, payload } => {
                format!(
                    "{}:{}",
                    if text { "t" } else { "b" },
                    String::from_utf8_lossy(payload)
                )
            }
            WsEvent::Ping(p) => format!("ping:{}", String::from_utf8_lossy(p)),
            WsEvent::Pong(p) => format!("pong:{}", String::from_utf8_lossy(p)),
            WsEvent::Close { code, reason } => format!("close:{code:?}:{reason}"),
        });
        Flow::Continue
    })?;
    Ok((n, seen))
}

#[test]
fn mask_roundtrip_all_lengths() {
    for n in 0..40 {
        let orig: Vec<u8> = (0..n as u8).collect();
        let mut b = orig.clone();
        apply_mask(&mut b, [1, 2, 3, 4]);
        for (i, x) in b.iter().enumerate() {
            assert_eq!(*x, orig[i] ^ [1, 2, 3, 4][i % 4]);
        }
        apply_mask(&mut b, [1, 2, 3, 4]);
        assert_eq!(b, orig);
    }
}

#[test]
fn decodes_messages_and_partial_frames() {
    let mut buf = client_frame(true, 1, b"hello");
    buf.extend(client_frame(true, 2, b"\x00\x01"));
    let full = buf.len();
    buf.extend(&client_frame(true, 1, b"later")[..4]);
    let mut d = Decoder::new(1024);
    let (n, seen) = decode_all(&mut d, &mut buf).unwrap();
    assert_eq!(n, full);
    assert_eq!(seen, vec!["t:hello", "b:\u{0}\u{1}"]);
}

#[test]
fn reassembles_fragments_with_interleaved_ping() {
    let mut buf = client_frame(false, 1, b"hel");
    buf.extend(client_frame(true, 9, b"p"));
    buf.extend(client_frame(false, 0, b"lo "));
    buf.extend(client_frame(true, 0, b"world"));
    let mut d = Decoder::new(1024);
    let (_, seen) = decode_all(&mut d, &mut buf).unwrap();
    assert_eq!(seen, vec!["ping:p", "t:hello world"]);
    assert!(!d.in_fragment());
}

#[test]
fn protocol_errors() {
    let mut d = Decoder::new(1024);
    let mut unmasked = vec![0x81, 0x02, b'h', b'i'];
    assert_eq!(
        decode_all(&mut d, &mut unmasked).unwrap_err().close_code(),
        1002
    );
    let mut bad_utf8 = client_frame(true, 1, &[0xff, 0xfe]);
    assert_eq!(
        decode_all(&mut Decoder::new(1024), &mut bad_utf8).unwrap_err(),
        WsError::InvalidUtf8
    );
    let big = client_frame(true, 2, &vec![0u8; 2000]);
    assert_eq!(
        decode_all(&mut Decoder::new(1024), &mut big[..20].to_vec()).unwrap_err(),
        WsError::TooBig
    );
    let mut cont = client_frame(true, 0, b"x");
    assert_eq!(
        decode_all(&mut Decoder::new(1024), &mut cont)
            .unwrap_err()
            .close_code(),
        1002
    );
    let mut rsv = client_frame(true, 1, b"x");
    rsv[0] |= 0x40;
    assert_eq!(
        decode_all(&mut Decoder::new(1024), &mut rsv)
            .unwrap_err()
            .close_code(),
        1002
    );
    let mut long_ping = client_frame(true, 9, &[0u8; 126]);
    assert_eq!(
        decode_all(&mut Decoder::new(1024), &mut long_ping)
            .unwrap_err()
            .close_code(),
        1002
    );
    let mut frag_ping = client_frame(false, 9, b"x");
    assert_eq!(
        decode_all(&mut Decoder::new(1024), &mut frag_ping)
            .unwrap_err()
            .close_code(),
        1002
    );
    let mut reserved = client_frame(true, 3, b"x");
    assert_eq!(
        decode_all(&mut Decoder::new(1024), &mut reserved)
            .unwrap_err()
            .close_code(),
        1002
    );
    let mut bad_code = client_frame(true, 8, &1005u16.to_be_bytes());
    assert_eq!(
        decode_all(&mut Decoder::new(1024), &mut bad_code)
            .unwrap_err()
            .close_code(),
        1002
    );
    let mut frag_too_big = client_frame(false, 2, &[0u8; 600]);
    frag_too_big.extend(client_frame(true, 0, &[0u8; 600]));
    assert_eq!(
        decode_all(&mut Decoder::new(1024), &mut frag_too_big).unwrap_err(),
        WsError::TooBig
    );
}

/// Feed `wire` to one decoder `step` bytes at a time, keeping the unconsumed rest in
/// front of the next bytes as the sessions do; stops at the first error.
fn decode_in_steps(wire: &[u8], step: usize) -> (Vec<String>, Option<(usize, WsError)>) {
    let mut d = Decoder::new(1 << 20);
    let (mut partial, mut seen) = (Vec::new(), Vec::new());
    for (i, chunk) in wire.chunks(step).enumerate() {
        partial.extend_from_slice(chunk);
        match decode_all(&mut d, &mut partial) {
            Ok((n, s)) => {
                partial.drain(..n);
                seen.extend(s);
            }
            Err(e) => return (seen, Some((i * step + chunk.len(), e))),
        }
    }
    (seen, None)
}

#[test]
fn invalid_utf8_fails_fast_in_a_fragment() {
    // Autobahn 6.4.1: a valid first fragment, then one holding U+110000 (f4 90 80 80):
    // refused when that fragment arrives, not when the message ends.
    let mut buf = client_frame(false, 1, "κόσμε".as_bytes());
    buf.extend(client_frame(false, 0, b"\xf4\x90\x80\x80"));
    let mut d = Decoder::new(1024);
    assert_eq!(
        decode_all(&mut d, &mut buf).unwrap_err(),
        WsError::InvalidUtf8
    );
    // 6.4.2: the bad sequence is cut between the fragments (f4 | 90).
    let mut buf = client_frame(false, 1, b"ok\xf4");
    let mut d = Decoder::new(1024);
    assert_eq!(
        decode_all(&mut d, &mut buf).unwrap().1,
        Vec::<String>::new()
    );
    let mut next = client_frame(false, 0, b"\x90");
    assert_eq!(
        decode_all(&mut d, &mut next).unwrap_err(),
        WsError::InvalidUtf8
    );
    // A binary message is never checked, and a text message may not end mid code point.
    let mut buf = client_frame(false, 2, b"\xf4");
    buf.extend(client_frame(true, 0, b"\x90"));
    assert!(decode_all(&mut Decoder::new(1024), &mut buf).is_ok());
    let mut buf = client_frame(false, 1, b"ok");
    buf.extend(client_frame(true, 0, b"\xe2\x82"));
    assert_eq!(
        decode_all(&mut Decoder::new(1024), &mut buf).unwrap_err(),
        WsError::InvalidUtf8
    );
}

#[test]
fn invalid_utf8_fails_fast_inside_an_incomplete_frame() {
    // Autobahn 6.4.3: one frame whose first bytes arrived and hold invalid UTF-8.
    let wire = client_frame(true, 1, b"ab\xf4\x90\x80\x80 and the rest of the frame");
    let bad = wire.len() - b"\x90\x80\x80 and the rest of the frame".len();
    for step in 1..=wire.len() {
        let (seen, err) = decode_in_steps(&wire, step);
        let (at, e) = err.expect("refused");
        assert_eq!(e, WsError::InvalidUtf8);
        assert!(seen.is_empty());
        // Refused by the read that brought the bad byte.
        assert!(at > bad && at <= bad + step, "step {step}: refused at {at}");
    }
}

#[test]
fn text_split_anywhere_across_reads_and_fragments_is_intact() {
    let text = "κόσμε €𝄞 ".repeat(40);
    let bytes = text.as_bytes();
    let mut wire = client_frame(true, 1, bytes);
    // The same text again in three fragments cut inside code points, a ping between.
    wire.extend(client_frame(false, 1, &bytes[..7]));
    wire.extend(client_frame(true, 9, b"p"));
    wire.extend(client_frame(false, 0, &bytes[7..301]));
    wire.extend(client_frame(true, 0, &bytes[301..]));
    for step in [1, 2, 3, 5, 7, 64, 200, 511, 4096] {
        let (seen, err) = decode_in_steps(&wire, step);
        assert_eq!(err, None, "step {step}");
        let t = format!("t:{text}");
        assert_eq!(seen, vec![t.clone(), "ping:p".into(), t], "step {step}");
    }
}

#[test]
fn close_frames() {
    let mut c = client_frame(true, 8, &[0x03, 0xe8, b'b', b'y', b'e']);
    let (_, seen) = decode_all(&mut Decoder::new(1024), &mut c).unwrap();
    assert_eq!(seen, vec!["close:Some(1000):bye"]);
    let f = close_frame(1001, "going away");
    assert_eq!(&f[..4], &[0x88, 12, 0x03, 0xe9]);
    assert_eq!(close_frame(1000, &"é".repeat(100)).len(), 2 + 2 + 122);
}

#[test]
fn encodes_all_length_forms() {
    assert_eq!(
        &encode(OpCode::Data(Data::Text), b"hi")[..],
        &[0x81, 2, b'h', b'i']
    );
    let f = encode(OpCode::Data(Data::Binary), &[0u8; 300]);
    assert_eq!(&f[..4], &[0x82, 126, 0x01, 0x2c]);
    assert_eq!(f.len(), 304);
    let f = encode(OpCode::Data(Data::Binary), &vec![0u8; 70000]);
    assert_eq!(f[1], 127);
    assert_eq!(f.len(), 70010);
}
