//! Request ids: `X-Request-Id` as the client sent it (when valid) or one made up per request,
//! unique per process run (`<prefix hex>-<shard>-<n hex>`). A made-up id lives inline, so a
//! request costs no allocation for its id.

use std::cell::Cell;

use crate::http::response::push_decimal;

/// The longest id this server makes up: 8 hex digits, a shard number, 16 hex digits.
const OWN_MAX: usize = 8 + 1 + 20 + 1 + 16;

/// One request's id, borrowed from the request or held inline.
#[derive(Debug, Clone, Copy)]
pub enum RequestId<'a> {
    /// The client's own (`X-Request-Id`, validated).
    Given(&'a str),
    /// Made up by [`RequestIds::next`]: ASCII only.
    Own { buf: [u8; OWN_MAX], len: u8 },
}

impl RequestId<'_> {
    /// The id's text.
    pub fn as_str(&self) -> &str {
        match self {
            RequestId::Given(s) => s,
            RequestId::Own { buf, len } => {
                let bytes = &buf[..*len as usize];
                debug_assert!(bytes.is_ascii());
                // SAFETY: `RequestIds::new` and `next` write only ASCII hex digits, decimal
                // digits and `-` into the buffer, so its first `len` bytes are UTF-8. (This
                // is called twice per request; a checked conversion was 3 % of `/live`'s
                // user-space instructions.)
                unsafe { std::str::from_utf8_unchecked(bytes) }
            }
        }
    }
}

impl std::fmt::Display for RequestId<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether a client's `X-Request-Id` is kept (1 to 128 of `[A-Za-z0-9._:-]`).
pub fn valid(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

/// The id generator of one shard.
#[derive(Debug)]
pub struct RequestIds {
    /// `<prefix hex>-<shard>-`, the part every id of this shard starts with.
    head: [u8; OWN_MAX],
    head_len: usize,
    next: Cell<u64>,
}

const HEX: &[u8; 16] = b"0123456789abcdef";

impl RequestIds {
    /// The ids of shard `shard` (the prefix comes from the clock at start).
    pub fn new(shard: usize) -> RequestIds {
        let prefix = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos() ^ (d.as_secs() as u32));
        let mut text: Vec<u8> = (0..8)
            .rev()
            .map(|i| HEX[(prefix >> (i * 4)) as usize & 15])
            .collect();
        text.push(b'-');
        push_decimal(&mut text, shard as u64);
        text.push(b'-');
        let mut head = [0u8; OWN_MAX];
        head[..text.len()].copy_from_slice(&text);
        RequestIds {
            head,
            head_len: text.len(),
            next: Cell::new(1),
        }
    }

    /// The client's id when it sent a valid one, else a new one.
    pub fn of<'a>(&self, given: Option<&'a str>) -> RequestId<'a> {
        match given.filter(|id| valid(id)) {
            Some(id) => RequestId::Given(id),
            None => self.next(),
        }
    }

    /// A new request id: the shard's head, then the count in hex.
    pub fn next(&self) -> RequestId<'static> {
        let n = self.next.get();
        self.next.set(n.wrapping_add(1));
        let mut buf = self.head;
        let mut len = self.head_len;
        let hex_digits = (64 - n.leading_zeros()).div_ceil(4).max(1);
        for i in (0..hex_digits).rev() {
            buf[len] = HEX[(n >> (i * 4)) as usize & 15];
            len += 1;
        }
        RequestId::Own {
            buf,
            len: len as u8,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn made_up_ids_count_up_per_shard() {
        let ids = RequestIds::new(12);
        let a = ids.next();
        let b = ids.next();
        let (pa, ra) = a.as_str().split_once('-').unwrap();
        assert_eq!(pa.len(), 8);
        assert_eq!(ra, "12-1");
        assert_eq!(b.as_str().rsplit_once('-').unwrap().1, "2");
        ids.next.set(u64::MAX);
        let last = ids.next();
        assert!(last.as_str().ends_with("-12-ffffffffffffffff"));
        let wide = RequestIds::new(usize::MAX);
        wide.next.set(u64::MAX);
        assert_eq!(wide.next().as_str().len(), OWN_MAX);
    }

    #[test]
    fn a_valid_client_id_is_kept_and_a_bad_one_replaced() {
        let ids = RequestIds::new(0);
        assert_eq!(ids.of(Some("abc-1.2:3_x")).as_str(), "abc-1.2:3_x");
        assert_ne!(ids.of(Some("has space")).as_str(), "has space");
        assert_ne!(ids.of(Some("")).as_str(), "");
        let long = "a".repeat(129);
        assert_ne!(ids.of(Some(&long)).as_str(), long);
        assert!(ids.of(None).as_str().ends_with("-0-4"));
    }
}
