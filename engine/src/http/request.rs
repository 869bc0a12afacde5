//! Parse one HTTP/1.1 request from the front of a buffer (httparse), enforcing
//! the head and body limits. A partial request is a state (`Parsed::Partial`, or
//! `Parsed::AwaitingBody` once the head is in), not an error. Only the headers the server acts
//! on are kept; `Expect: 100-continue` is reported so that the connection can answer it.

use std::str;

/// Request methods the server distinguishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
    Post,
    Put,
    Delete,
    Options,
    Patch,
    Other,
}

impl Method {
    fn from_str(s: &str) -> Method {
        match s {
            "GET" => Method::Get,
            "HEAD" => Method::Head,
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "DELETE" => Method::Delete,
            "OPTIONS" => Method::Options,
            "PATCH" => Method::Patch,
            _ => Method::Other,
        }
    }
}

/// A complete request borrowed from the connection buffer.
#[derive(Debug)]
pub struct Request<'a> {
    pub method: Method,
    /// Path without the query string.
    pub path: &'a str,
    /// Query string without the `?`.
    pub query: Option<&'a str>,
    /// HTTP/1.0 (close by default) or 1.1.
    pub http10: bool,
    /// `Connection: close` was sent (or HTTP/1.0 without keep-alive).
    pub close: bool,
    /// `Connection: upgrade` + `Upgrade: websocket`.
    pub upgrade_websocket: bool,
    pub ws_key: Option<&'a str>,
    pub ws_version: Option<&'a str>,
    pub origin: Option<&'a str>,
    /// `Origin` names the `Host` the request was sent to (`security::same_origin`): a page
    /// this server served, as the demo's WebSocket upgrades are.
    pub same_origin: bool,
    pub authorization: Option<&'a str>,
    pub content_type: Option<&'a str>,
    pub accept: Option<&'a str>,
    pub request_id: Option<&'a str>,
    pub forwarded_for: Option<&'a str>,
    /// W3C Trace Context (`traceparent`, `tracestate`), when sent.
    pub traceparent: Option<&'a str>,
    pub tracestate: Option<&'a str>,
    pub body: &'a [u8],
}

/// Outcome of parsing the front of the buffer. A transient value, matched at once by the
/// connection loop and never stored: boxing the request would cost an allocation per request.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
pub enum Parsed<'a> {
    /// More bytes are needed.
    Partial,
    /// The head is complete and valid, the body not yet all there. `continue_expected`: the
    /// client sent `Expect: 100-continue` and waits for `100 Continue` before sending the body.
    AwaitingBody { continue_expected: bool },
    /// A whole request; `len` bytes of the buffer belong to it.
    Complete { req: Request<'a>, len: usize },
}

/// A request that cannot be served; the connection answers and closes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpError {
    /// 400: not HTTP, bad header syntax, bad Content-Length, chunked bodies.
    Malformed(&'static str),
    /// 431: the head is over the limit.
    HeadTooLarge,
    /// 413: the body is over the limit.
    BodyTooLarge,
    /// 417: an `Expect` other than `100-continue`.
    ExpectationFailed,
}

impl HttpError {
    /// Status code and message of the error response.
    pub fn status(&self) -> (u16, &'static str) {
        match self {
            HttpError::Malformed(m) => (400, m),
            HttpError::HeadTooLarge => (431, "request header fields too large"),
            HttpError::BodyTooLarge => (413, "request body too large"),
            HttpError::ExpectationFailed => (417, "only Expect: 100-continue is supported"),
        }
    }
}

const MAX_HEADERS: usize = 48;

/// Parse the request at the front of `buf`.
pub fn parse(buf: &[u8], max_head: usize, max_body: usize) -> Result<Parsed<'_>, HttpError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut r = httparse::Request::new(&mut headers);
    let head_len = match r.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => {
            if buf.len() > max_head {
                return Err(HttpError::HeadTooLarge);
            }
            return Ok(Parsed::Partial);
        }
        Err(httparse::Error::TooManyHeaders) => return Err(HttpError::HeadTooLarge),
        Err(_) => return Err(HttpError::Malformed("malformed request")),
    };
    if head_len > max_head {
        return Err(HttpError::HeadTooLarge);
    }
    let method = Method::from_str(r.method.unwrap_or(""));
    let mut target = r.path.unwrap_or("/");
    // absolute-form (`GET http://host/path`), which servers must accept (RFC 9112 3.2.2):
    // the path is what follows the authority
    let schemes: &[&str] = if target.starts_with('/') {
        &[]
    } else {
        &["http://", "https://"]
    };
    for scheme in schemes {
        let head = target.as_bytes().get(..scheme.len());
        // an ASCII prefix matched, so `scheme.len()` is a char boundary
        if target.len() > scheme.len()
            && head.is_some_and(|h| h.eq_ignore_ascii_case(scheme.as_bytes()))
        {
            let rest = &target[scheme.len()..];
            target = rest.find(['/', '?']).map_or("/", |i| &rest[i..]);
            if target.starts_with('?') {
                return Err(HttpError::Malformed(
                    "request target must be an absolute path",
                ));
            }
            break;
        }
    }
    if !target.starts_with('/') {
        return Err(HttpError::Malformed(
            "request target must be an absolute path",
        ));
    }
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (target, None),
    };
    let http10 = r.version == Some(0);
    let mut req = Request {
        method,
        path,
        query,
        http10,
        close: http10,
        upgrade_websocket: false,
        ws_key: None,
        ws_version: None,
        origin: None,
        same_origin: false,
        authorization: None,
        content_type: None,
        accept: None,
        request_id: None,
        forwarded_for: None,
        traceparent: None,
        tracestate: None,
        body: &[],
    };
    let mut content_length: Option<usize> = None;
    let mut continue_expected = false;
    let mut conn_upgrade = false;
    let mut upgrade_ws = false;
    let mut host = None;
    for h in r.headers.iter() {
        let value = str::from_utf8(h.value)
            .map_err(|_| HttpError::Malformed("header value is not UTF-8"))?;
        let v = value.trim();
        let name = h.name;
        if name.eq_ignore_ascii_case("content-length") {
            let n: usize = v
                .parse()
                .map_err(|_| HttpError::Malformed("invalid Content-Length"))?;
            if content_length.is_some_and(|c| c != n) {
                return Err(HttpError::Malformed("conflicting Content-Length headers"));
            }
            content_length = Some(n);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(HttpError::Malformed(
                "Transfer-Encoding is not supported; send Content-Length",
            ));
        } else if name.eq_ignore_ascii_case("connection") {
            for tok in v.split(',') {
                let t = tok.trim();
                if t.eq_ignore_ascii_case("close") {
                    req.close = true;
                } else if t.eq_ignore_ascii_case("keep-alive") {
                    req.close = false;
                } else if t.eq_ignore_ascii_case("upgrade") {
                    conn_upgrade = true;
                }
            }
        } else if name.eq_ignore_ascii_case("upgrade") {
            upgrade_ws = v
                .split(',')
                .any(|t| t.trim().eq_ignore_ascii_case("websocket"));
        } else if name.eq_ignore_ascii_case("sec-websocket-key") {
            req.ws_key = Some(v);
        } else if name.eq_ignore_ascii_case("sec-websocket-version") {
            req.ws_version = Some(v);
        } else if name.eq_ignore_ascii_case("origin") {
            req.origin = Some(v);
        } else if name.eq_ignore_ascii_case("host") {
            host = Some(v);
        } else if name.eq_ignore_ascii_case("authorization") {
            req.authorization = Some(v);
        } else if name.eq_ignore_ascii_case("content-type") {
            req.content_type = Some(v);
        } else if name.eq_ignore_ascii_case("accept") {
            req.accept = Some(v);
        } else if name.eq_ignore_ascii_case("x-request-id") {
            req.request_id = Some(v);
        } else if name.eq_ignore_ascii_case("x-forwarded-for") {
            req.forwarded_for = Some(v);
        } else if name.eq_ignore_ascii_case("traceparent") {
            req.traceparent = Some(v);
        } else if name.eq_ignore_ascii_case("tracestate") {
            req.tracestate = Some(v);
        } else if name.eq_ignore_ascii_case("expect") {
            if !v.eq_ignore_ascii_case("100-continue") {
                return Err(HttpError::ExpectationFailed);
            }
            continue_expected = true;
        }
    }
    req.upgrade_websocket = conn_upgrade && upgrade_ws;
    req.same_origin = crate::security::same_origin(req.origin, host);
    let body_len = content_length.unwrap_or(0);
    if body_len > max_body {
        return Err(HttpError::BodyTooLarge);
    }
    let total = head_len + body_len;
    if buf.len() < total {
        return Ok(Parsed::AwaitingBody { continue_expected });
    }
    req.body = &buf[head_len..total];
    Ok(Parsed::Complete { req, len: total })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn complete(b: &[u8]) -> (Request<'_>, usize) {
        match parse(b, 8192, 16384).unwrap() {
            Parsed::Complete { req, len } => (req, len),
            other => panic!("not complete: {other:?}"),
        }
    }

    #[test]
    fn simple_get_with_query() {
        let (r, len) = complete(b"GET /api/x?game=a&limit=5 HTTP/1.1\r\nHost: h\r\n\r\nGET");
        assert_eq!(r.method, Method::Get);
        assert_eq!(r.path, "/api/x");
        assert_eq!(r.query, Some("game=a&limit=5"));
        assert!(!r.close);
        assert_eq!(len, 47);
    }

    #[test]
    fn expect_100_continue_is_reported_until_the_body_is_there() {
        let head =
            b"PUT /api/rooms/r/state HTTP/1.1\r\nExpect: 100-Continue\r\nContent-Length: 2\r\n\r\n";
        assert!(matches!(
            parse(head, 8192, 16384).unwrap(),
            Parsed::AwaitingBody {
                continue_expected: true
            }
        ));
        let mut whole = head.to_vec();
        whole.extend_from_slice(b"{}");
        let (r, len) = complete(&whole);
        assert_eq!((r.body, len), (&b"{}"[..], whole.len()));
        let other = b"PUT /x HTTP/1.1\r\nExpect: something-else\r\nContent-Length: 2\r\n\r\n";
        assert_eq!(
            parse(other, 8192, 16384).unwrap_err(),
            HttpError::ExpectationFailed
        );
        assert_eq!(HttpError::ExpectationFailed.status().0, 417);
    }

    #[test]
    fn absolute_form_targets_are_served_by_their_path() {
        let (r, _) =
            complete(b"GET http://example.com:8080/api/x?game=a HTTP/1.1\r\nHost: h\r\n\r\n");
        assert_eq!((r.path, r.query), ("/api/x", Some("game=a")));
        let (r, _) = complete(b"GET HTTPS://example.com HTTP/1.1\r\nHost: h\r\n\r\n");
        assert_eq!(r.path, "/");
        assert!(parse(b"GET example.com/x HTTP/1.1\r\n\r\n", 8192, 16384).is_err());
        // multi-byte characters where a scheme could start are not sliced through
        assert!(parse(
            "GET abcdef\u{e9}/x HTTP/1.1\r\n\r\n".as_bytes(),
            8192,
            16384
        )
        .is_err());
    }

    #[test]
    fn body_waits_for_content_length() {
        let b = b"POST /p HTTP/1.1\r\nContent-Length: 5\r\n\r\nab";
        assert!(matches!(
            parse(b, 8192, 16384).unwrap(),
            Parsed::AwaitingBody {
                continue_expected: false
            }
        ));
        let b = b"POST /p HTTP/1.1\r\nContent-Length: 5\r\n\r\nabcde";
        assert_eq!(complete(b).0.body, b"abcde");
    }

    #[test]
    fn limits() {
        let big = format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(9000));
        assert_eq!(
            parse(big.as_bytes(), 8192, 16384).unwrap_err(),
            HttpError::HeadTooLarge
        );
        let partial_big = format!("GET / HTTP/1.1\r\nX: {}", "a".repeat(9000));
        assert_eq!(
            parse(partial_big.as_bytes(), 8192, 16384).unwrap_err(),
            HttpError::HeadTooLarge
        );
        let b = b"POST / HTTP/1.1\r\nContent-Length: 20000\r\n\r\n";
        assert_eq!(parse(b, 8192, 16384).unwrap_err(), HttpError::BodyTooLarge);
        assert!(matches!(
            parse(b"GARBAGE\r\n\r\n", 8192, 16384),
            Err(HttpError::Malformed(_))
        ));
        let b = b"POST / HTTP/1.1\r\nContent-Length: x\r\n\r\n";
        assert!(matches!(
            parse(b, 8192, 16384),
            Err(HttpError::Malformed(_))
        ));
        let b = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert!(matches!(
            parse(b, 8192, 16384),
            Err(HttpError::Malformed(_))
        ));
    }

    #[test]
    fn websocket_upgrade_headers() {
        let b = b"GET /ws/relay/a HTTP/1.1\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
        let (r, _) = complete(b);
        assert!(r.upgrade_websocket);
        assert_eq!(r.ws_key, Some("dGhlIHNhbXBsZSBub25jZQ=="));
        assert_eq!(r.ws_version, Some("13"));
    }

    #[test]
    fn http10_closes_by_default() {
        let (r, _) = complete(b"GET / HTTP/1.0\r\n\r\n");
        assert!(r.close);
        let (r, _) = complete(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n");
        assert!(r.close);
    }
}
