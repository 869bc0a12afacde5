//! Incremental UTF-8 validation for text messages that arrive in pieces (fragments, or
//! reads that end inside a frame), so the decoder can fail a connection with 1007 at the
//! first byte that makes the message invalid (RFC 6455 §8.1 "fail fast"), not only once the
//! whole message is there.
//!
//! Built on `std::str::from_utf8`: its error tells an invalid sequence (`error_len` is
//! `Some`) from a valid prefix cut at the end of the input (`None`). The up to three bytes of
//! such a prefix are carried over to the next call.

/// Validation state of one UTF-8 byte stream (one text message).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Utf8Stream {
    /// The bytes of a code point cut at the end of the last input (at most 3).
    carry: [u8; 4],
    carry_len: u8,
}

impl Utf8Stream {
    /// Validate the next bytes of the stream; `false` as soon as the stream can no longer be
    /// valid UTF-8, whatever follows (the state is then meaningless).
    #[must_use]
    pub fn feed(&mut self, mut bytes: &[u8]) -> bool {
        if self.carry_len > 0 {
            // Complete the carried code point with at most 4 bytes in all.
            let n = self.carry_len as usize;
            let take = bytes.len().min(4 - n);
            let mut tmp = self.carry;
            tmp[n..n + take].copy_from_slice(&bytes[..take]);
            match std::str::from_utf8(&tmp[..n + take]) {
                Ok(_) => bytes = &bytes[take..],
                // The carried code point is complete (and valid): go on after its last byte.
                Err(e) if e.valid_up_to() > 0 => bytes = &bytes[e.valid_up_to() - n..],
                Err(e) if e.error_len().is_some() => return false,
                Err(_) => {
                    // Still a valid prefix: every input byte joined it.
                    self.carry = tmp;
                    self.carry_len = (n + take) as u8;
                    return true;
                }
            }
            self.carry_len = 0;
        }
        match std::str::from_utf8(bytes) {
            Ok(_) => true,
            Err(e) if e.error_len().is_some() => false,
            Err(e) => {
                let tail = &bytes[e.valid_up_to()..];
                self.carry[..tail.len()].copy_from_slice(tail);
                self.carry_len = tail.len() as u8;
                true
            }
        }
    }

    /// Whether the stream so far ends on a code point boundary (a message may end here).
    pub fn is_complete(&self) -> bool {
        self.carry_len == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feed `data` cut at every `step` bytes; `Some(i)`: invalid once byte `i` was fed.
    fn fails_at(data: &[u8], step: usize) -> Option<usize> {
        let mut s = Utf8Stream::default();
        for (i, chunk) in data.chunks(step).enumerate() {
            if !s.feed(chunk) {
                return Some(i * step);
            }
        }
        assert!(s.is_complete(), "valid input must end complete");
        None
    }

    #[test]
    fn valid_text_in_every_split() {
        let text = "κόσμε a€𝄞 \u{10ffff}\u{7f}\u{80}\u{7ff}\u{800}\u{ffff}\u{10000}";
        for step in 1..=text.len() {
            assert_eq!(fails_at(text.as_bytes(), step), None, "step {step}");
        }
    }

    #[test]
    fn fails_at_the_first_impossible_byte() {
        // Autobahn 6.4.1: U+110000 (f4 90 80 80) after valid text: invalid at 0x90.
        let mut msg = "κόσμε".as_bytes().to_vec();
        let bad = msg.len() + 1;
        msg.extend_from_slice(b"\xf4\x90\x80\x80edited");
        for step in 1..=4 {
            let failed = fails_at(&msg, step).expect("invalid");
            assert!(
                failed <= bad && bad < failed + step,
                "step {step}: {failed}"
            );
        }
        // A surrogate (ed a0 80) fails at its second byte; an overlong (c0 af) at its first.
        let mut s = Utf8Stream::default();
        assert!(s.feed(b"ab\xed"));
        assert!(!s.feed(b"\xa0"));
        assert!(!Utf8Stream::default().feed(b"\xc0"));
        assert!(!Utf8Stream::default().feed(b"\xff"));
    }

    #[test]
    fn a_cut_code_point_is_carried_then_completed_or_refused() {
        let mut s = Utf8Stream::default();
        assert!(s.feed(b"\xf0\x9d"));
        assert!(!s.is_complete());
        assert!(s.feed(b"\x84"));
        assert!(s.feed(b"\x9e\xe2\x82"));
        assert!(!s.is_complete());
        assert!(s.feed(b"\xacz"));
        assert!(s.is_complete());
        // A carried prefix followed by a non-continuation byte.
        let mut s = Utf8Stream::default();
        assert!(s.feed(b"\xe2\x82"));
        assert!(!s.feed(b"a"));
        // Ending in the middle of a code point is not a complete message.
        let mut s = Utf8Stream::default();
        assert!(s.feed(b"ok\xce"));
        assert!(!s.is_complete());
        assert!(s.feed(b""));
        assert!(!s.is_complete());
    }
}
