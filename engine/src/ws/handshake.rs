//! The server side of the WebSocket opening handshake: validate the upgrade
//! request and produce the `101 Switching Protocols` response.

use tungstenite::handshake::derive_accept_key;

use crate::http::{Method, Request, Response};

/// Check an upgrade request; `Err` is the HTTP error response to send.
pub fn validate(req: &Request<'_>) -> Result<(), Response> {
    if req.method != Method::Get {
        return Err(Response::error(405, "WebSocket upgrades use GET").with_header("Allow", "GET"));
    }
    if !req.upgrade_websocket {
        return Err(
            Response::error(426, "this endpoint needs a WebSocket upgrade")
                .with_header("Upgrade", "websocket"),
        );
    }
    if req.ws_version != Some("13") {
        return Err(
            Response::error(426, "unsupported Sec-WebSocket-Version (use 13)")
                .with_header("Sec-WebSocket-Version", "13"),
        );
    }
    match req.ws_key {
        Some(k) if k.len() == 24 && k.ends_with("==") => Ok(()),
        _ => Err(Response::error(400, "missing or invalid Sec-WebSocket-Key")),
    }
}

/// Append the 101 response for `key` to `out`; `shard` (the accepting shard)
/// is reported in `X-Roomcore-Shard` for diagnostics.
pub fn accept(key: &str, shard: usize, out: &mut Vec<u8>) {
    out.extend_from_slice(
        b"HTTP/1.1 101 Switching Protocols\r\nServer: roomcore\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ",
    );
    out.extend_from_slice(derive_accept_key(key.as_bytes()).as_bytes());
    out.extend_from_slice(b"\r\nX-Roomcore-Shard: ");
    out.extend_from_slice(shard.to_string().as_bytes());
    out.extend_from_slice(b"\r\n\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_sample_key() {
        let mut out = Vec::new();
        accept("dGhlIHNhbXBsZSBub25jZQ==", 1, &mut out);
        let s = String::from_utf8(out).unwrap();
        assert!(s.contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"));
        assert!(s.contains("X-Roomcore-Shard: 1\r\n"));
    }
}
