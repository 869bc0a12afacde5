//! HTTP/1.1 client wire format: one request built once per run (any method, path, headers,
//! body) and responses framed from a read buffer with httparse (Content-Length, chunked, or
//! `Connection: close`), so keep-alive connections can carry request after request.

/// Builds a keep-alive request. `headers` are `Name: value` lines; Content-Length is added for
/// a non-empty body (and for POST/PUT/PATCH even when empty).
pub fn build_request(
    method: &str,
    host: &str,
    path: &str,
    headers: &[String],
    body: &[u8],
) -> Vec<u8> {
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\n");
    for h in headers {
        head.push_str(h.trim());
        head.push_str("\r\n");
    }
    let needs_len = !body.is_empty()
        || matches!(
            method.to_ascii_uppercase().as_str(),
            "POST" | "PUT" | "PATCH"
        );
    if needs_len
        && !headers
            .iter()
            .any(|h| h.to_ascii_lowercase().starts_with("content-length:"))
    {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    let mut out = head.into_bytes();
    out.extend_from_slice(body);
    out
}

/// Result of framing the front of a read buffer as one response.
#[derive(Debug, PartialEq, Eq)]
pub enum Response {
    /// Need more bytes.
    Incomplete,
    /// A whole response.
    Complete {
        /// Status code.
        status: u16,
        /// Bytes used (head + body).
        consumed: usize,
        /// The server will close the connection after it.
        close: bool,
    },
    /// Unparsable: the connection must be dropped.
    Error(String),
}

/// Frames one response from the front of `buf`. A response without Content-Length or chunked
/// encoding is complete only at EOF: `at_eof` says the peer has closed.
pub fn parse_response(buf: &[u8], max_body: usize, at_eof: bool) -> Response {
    let mut headers = [httparse::EMPTY_HEADER; 48];
    let mut resp = httparse::Response::new(&mut headers);
    let head_len = match resp.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if buf.len() > 64 * 1024 => {
            return Response::Error("response head over 64 KiB".into())
        }
        Ok(httparse::Status::Partial) => return Response::Incomplete,
        Err(e) => return Response::Error(format!("bad response: {e}")),
    };
    let status = resp.code.unwrap_or(0);
    let mut content_length: Option<usize> = None;
    let mut chunked = false;
    let mut close = resp.version == Some(0);
    for h in resp.headers.iter() {
        if h.name.eq_ignore_ascii_case("content-length") {
            match std::str::from_utf8(h.value)
                .ok()
                .and_then(|v| v.trim().parse().ok())
            {
                Some(n) => content_length = Some(n),
                None => return Response::Error("bad Content-Length".into()),
            }
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = h
                .value
                .windows(7)
                .any(|w| w.eq_ignore_ascii_case(b"chunked"));
        } else if h.name.eq_ignore_ascii_case("connection") {
            if h.value.eq_ignore_ascii_case(b"close") {
                close = true;
            } else if h.value.eq_ignore_ascii_case(b"keep-alive") {
                close = false;
            }
        }
    }
    let no_body = status == 204 || status == 304 || (100..200).contains(&status);
    let body = &buf[head_len..];
    let body_len = if no_body {
        Some(0)
    } else if chunked {
        match chunked_len(body, max_body) {
            Ok(v) => v,
            Err(e) => return Response::Error(e.into()),
        }
    } else if let Some(n) = content_length {
        if n > max_body {
            return Response::Error("response body over the limit".into());
        }
        (body.len() >= n).then_some(n)
    } else if at_eof {
        close = true;
        Some(body.len())
    } else {
        None
    };
    match body_len {
        Some(n) => Response::Complete {
            status,
            consumed: head_len + n,
            close,
        },
        None => Response::Incomplete,
    }
}

/// Length of a complete chunked body at the front of `b` (None if incomplete).
fn chunked_len(b: &[u8], max_body: usize) -> Result<Option<usize>, &'static str> {
    let mut pos = 0usize;
    let mut total = 0usize;
    loop {
        let Some(eol) = find_crlf(&b[pos..]) else {
            return Ok(None);
        };
        let line = &b[pos..pos + eol];
        let hex_end = line
            .iter()
            .position(|c| !c.is_ascii_hexdigit())
            .unwrap_or(line.len());
        if hex_end == 0 || hex_end > 12 {
            return Err("bad chunk size");
        }
        let size = usize::from_str_radix(std::str::from_utf8(&line[..hex_end]).unwrap_or("x"), 16)
            .map_err(|_| "bad chunk size")?;
        pos += eol + 2;
        if size == 0 {
            // trailers end with an empty line
            loop {
                let Some(eol) = find_crlf(&b[pos..]) else {
                    return Ok(None);
                };
                pos += eol + 2;
                if eol == 0 {
                    return Ok(Some(pos));
                }
            }
        }
        total += size;
        if total > max_body {
            return Err("response body over the limit");
        }
        if b.len() < pos + size + 2 {
            return Ok(None);
        }
        pos += size + 2;
    }
}

fn find_crlf(b: &[u8]) -> Option<usize> {
    b.windows(2).position(|w| w == b"\r\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_has_length_for_bodies() {
        let r = build_request("GET", "h:1", "/health", &[], b"");
        assert_eq!(r, b"GET /health HTTP/1.1\r\nHost: h:1\r\n\r\n");
        let r = build_request(
            "POST",
            "h:1",
            "/api/auth/login",
            &["Content-Type: application/json".into()],
            b"{}",
        );
        let s = String::from_utf8(r).unwrap();
        assert!(s.contains("Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"));
        let r = build_request("POST", "h", "/x", &[], b"");
        assert!(String::from_utf8(r).unwrap().contains("Content-Length: 0"));
    }

    #[test]
    fn frames_content_length_responses_back_to_back() {
        let two = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 503 X\r\ncontent-length: 0\r\nConnection: close\r\n\r\n";
        let Response::Complete {
            status,
            consumed,
            close,
        } = parse_response(two, 1 << 20, false)
        else {
            panic!()
        };
        assert_eq!((status, close), (200, false));
        let rest = &two[consumed..];
        assert_eq!(
            parse_response(rest, 1 << 20, false),
            Response::Complete {
                status: 503,
                consumed: rest.len(),
                close: true
            }
        );
        assert_eq!(
            parse_response(&two[..consumed - 1], 1 << 20, false),
            Response::Incomplete
        );
    }

    #[test]
    fn frames_chunked_and_eof_bodies() {
        let c = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n0\r\n\r\n";
        assert!(matches!(
            parse_response(c, 1 << 20, false),
            Response::Complete { consumed, .. } if consumed == c.len()
        ));
        assert_eq!(
            parse_response(&c[..c.len() - 2], 1 << 20, false),
            Response::Incomplete
        );
        let e = b"HTTP/1.1 200 OK\r\n\r\nbody";
        assert_eq!(parse_response(e, 1 << 20, false), Response::Incomplete);
        assert!(matches!(
            parse_response(e, 1 << 20, true),
            Response::Complete { close: true, .. }
        ));
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(matches!(
            parse_response(b"\x00\x01\x02 nonsense\r\n\r\n", 1024, false),
            Response::Error(_)
        ));
        assert!(matches!(
            parse_response(
                b"HTTP/1.1 200 OK\r\nContent-Length: zz\r\n\r\n",
                1024,
                false
            ),
            Response::Error(_)
        ));
        assert!(matches!(
            parse_response(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
                1024,
                false
            ),
            Response::Error(_)
        ));
        assert!(matches!(
            parse_response(
                b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n",
                1024,
                false
            ),
            Response::Error(_)
        ));
    }
}
