//! Encode HTTP/1.1 responses. Every response carries Content-Length, a
//! Content-Type, and `Connection: close` when the connection ends after it.
//! Errors are JSON `{"error": "..."}` bodies.

use std::io::Write as _;

/// A response about to be encoded.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
    /// Extra headers (name, value).
    pub headers: Vec<(&'static str, String)>,
    /// Close the connection after this response.
    pub close: bool,
}

/// Reason phrase of a status code.
pub fn reason(status: u16) -> &'static str {
    match status {
        101 => "Switching Protocols",
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        307 => "Temporary Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        413 => "Content Too Large",
        426 => "Upgrade Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Unknown",
    }
}

/// Append the decimal digits of `n`.
pub fn push_decimal(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

/// Append `s` to `out` as a JSON string literal (with quotes).
pub fn json_string(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    for ch in s.chars() {
        match ch {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '<' => out.extend_from_slice(b"\\u003c"),
            '>' => out.extend_from_slice(b"\\u003e"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => {
                let mut b = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut b).as_bytes());
            }
        }
    }
    out.push(b'"');
}

/// Security headers sent on every response (seeds 000 layer 2, 003 section 3.2).
pub const SECURITY_HEADERS: &[u8] = b"X-Content-Type-Options: nosniff\r\n\
X-Frame-Options: DENY\r\n\
Strict-Transport-Security: max-age=31536000; includeSubDomains\r\n\
Referrer-Policy: no-referrer\r\n\
Content-Security-Policy: default-src 'none'; frame-ancestors 'none'\r\n";

/// [`SECURITY_HEADERS`] without its `Content-Security-Policy` line: written instead when a
/// response carries a policy of its own (only the bundled demo's HTML pages do, `web`).
const SECURITY_HEADERS_OWN_CSP: &[u8] = b"X-Content-Type-Options: nosniff\r\n\
X-Frame-Options: DENY\r\n\
Strict-Transport-Security: max-age=31536000; includeSubDomains\r\n\
Referrer-Policy: no-referrer\r\n";

impl Response {
    /// A JSON response.
    pub fn json(status: u16, body: Vec<u8>) -> Response {
        Response {
            status,
            content_type: "application/json",
            body,
            headers: Vec::new(),
            close: false,
        }
    }

    /// `{"error": msg}` with `status`.
    pub fn error(status: u16, msg: &str) -> Response {
        let mut body = Vec::with_capacity(msg.len() + 12);
        body.extend_from_slice(b"{\"error\":");
        json_string(&mut body, msg);
        body.push(b'}');
        Response::json(status, body)
    }

    /// Add a header.
    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Response {
        self.headers.push((name, value.into()));
        self
    }

    /// Close the connection after this response.
    pub fn closing(mut self) -> Response {
        self.close = true;
        self
    }

    /// Encode into `out`; `head_only` omits the body (HEAD requests).
    pub fn encode(&self, out: &mut Vec<u8>, head_only: bool) {
        self.encode_with(out, head_only, &[]);
    }

    /// [`Response::encode`] with `extra` headers written after the response's own, borrowed
    /// rather than pushed (the request id and trace context of every answer).
    pub fn encode_with(&self, out: &mut Vec<u8>, head_only: bool, extra: &[(&str, &str)]) {
        // Plain byte pushes: this runs once per response.
        out.extend_from_slice(b"HTTP/1.1 ");
        push_decimal(out, u64::from(self.status));
        out.push(b' ');
        out.extend_from_slice(reason(self.status).as_bytes());
        out.extend_from_slice(b"\r\nServer: roomcore\r\nContent-Type: ");
        out.extend_from_slice(self.content_type.as_bytes());
        out.extend_from_slice(b"\r\nContent-Length: ");
        push_decimal(out, self.body.len() as u64);
        out.extend_from_slice(b"\r\n");
        let own_csp = self
            .headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("Content-Security-Policy"));
        out.extend_from_slice(if own_csp {
            SECURITY_HEADERS_OWN_CSP
        } else {
            SECURITY_HEADERS
        });
        let own = self.headers.iter().map(|(n, v)| (*n, v.as_str()));
        for (n, v) in own.chain(extra.iter().copied()) {
            out.extend_from_slice(n.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(v.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        if self.close {
            out.extend_from_slice(b"Connection: close\r\n");
        }
        out.extend_from_slice(b"\r\n");
        if !head_only {
            out.extend_from_slice(&self.body);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals() {
        for n in [0u64, 7, 10, 404, 65_535, u64::MAX] {
            let mut out = Vec::new();
            push_decimal(&mut out, n);
            assert_eq!(out, n.to_string().into_bytes());
        }
    }

    #[test]
    fn error_bodies_are_json() {
        let r = Response::error(404, "no route for \"/x\" <b>");
        let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(v["error"], "no route for \"/x\" <b>");
        assert!(!String::from_utf8_lossy(&r.body).contains('<'));
    }

    #[test]
    fn a_response_with_its_own_policy_sends_one_csp() {
        assert!(SECURITY_HEADERS.starts_with(SECURITY_HEADERS_OWN_CSP));
        let mut out = Vec::new();
        Response::error(404, "x").encode(&mut out, false);
        let s = String::from_utf8(out).unwrap();
        assert_eq!(s.matches("Content-Security-Policy:").count(), 1);
        assert!(
            s.contains("Content-Security-Policy: default-src 'none'; frame-ancestors 'none'\r\n")
        );
        let mut out = Vec::new();
        Response::json(200, Vec::new())
            .with_header("Content-Security-Policy", "default-src 'self'")
            .encode(&mut out, false);
        let s = String::from_utf8(out).unwrap();
        assert_eq!(s.matches("Content-Security-Policy:").count(), 1);
        assert!(s.contains("Content-Security-Policy: default-src 'self'\r\n"));
        assert!(s.contains("X-Frame-Options: DENY\r\n"));
    }

    #[test]
    fn encoding_has_length_and_close() {
        let mut out = Vec::new();
        Response::error(400, "bad")
            .closing()
            .encode(&mut out, false);
        let s = String::from_utf8(out).unwrap();
        assert!(s.starts_with("HTTP/1.1 400 Bad Request\r\n"));
        assert!(s.contains("Content-Length: 15\r\n"));
        assert!(s.contains("Connection: close\r\n"));
        assert!(s.ends_with("\r\n\r\n{\"error\":\"bad\"}"));
    }
}
