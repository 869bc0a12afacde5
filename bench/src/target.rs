//! `--target` URLs: `ws://HOST:PORT/path?q` and `http://HOST:PORT/path` with `{room}` and `{id}`
//! placeholders, resolved to an IPv4 socket address (literal addresses and `localhost` only:
//! the harness never resolves names), plus the room id naming used by every WebSocket scenario.

use std::net::{Ipv4Addr, SocketAddrV4};

/// A parsed target URL template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// `ws` or `http` (`wss`/`https` are rejected: no TLS).
    pub scheme: String,
    /// Server address.
    pub addr: SocketAddrV4,
    /// Value for the `Host:` header (`host:port` as written).
    pub host_header: String,
    /// Path and query, possibly with `{room}` / `{id}` placeholders.
    pub path_template: String,
}

impl Target {
    /// Parses `scheme://host[:port][/path]`.
    pub fn parse(url: &str) -> Result<Self, String> {
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| format!("target {url:?}: expected scheme://host:port/path"))?;
        let scheme = scheme.to_ascii_lowercase();
        let default_port = match scheme.as_str() {
            "ws" | "http" => 80,
            other => {
                return Err(format!(
                    "target {url:?}: unsupported scheme {other:?} (ws, http)"
                ))
            }
        };
        let (authority, path) = match rest.find(['/', '?']) {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let path = if path.starts_with('?') {
            format!("/{path}")
        } else {
            path.to_string()
        };
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) => (
                h,
                p.parse::<u16>()
                    .map_err(|_| format!("target {url:?}: bad port {p:?}"))?,
            ),
            None => (authority, default_port),
        };
        let ip = if host.eq_ignore_ascii_case("localhost") {
            Ipv4Addr::LOCALHOST
        } else {
            host.parse::<Ipv4Addr>()
                .map_err(|_| format!("target {url:?}: host must be an IPv4 address or localhost"))?
        };
        Ok(Self {
            scheme,
            addr: SocketAddrV4::new(ip, port),
            host_header: authority.to_string(),
            path_template: path,
        })
    }

    /// The path with `{room}` and `{id}` substituted.
    pub fn path_for(&self, room: &str, id: usize) -> String {
        self.path_template
            .replace("{room}", room)
            .replace("{id}", &id.to_string())
    }

    /// True when the server is on the loopback network (127.0.0.0/8).
    pub fn is_loopback(&self) -> bool {
        self.addr.ip().is_loopback()
    }
}

/// Room id number `n` with `prefix` (ids stay within `[A-Za-z0-9_-]`, 1..=64 chars when the
/// prefix does).
pub fn room_id(prefix: &str, n: usize) -> String {
    format!("{prefix}{n}")
}

/// Checks a room prefix against the roomcore room id charset.
pub fn validate_room_prefix(prefix: &str) -> Result<(), String> {
    if prefix.len() > 48
        || !prefix
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(format!(
            "room prefix {prefix:?}: use at most 48 chars of [A-Za-z0-9_-]"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ws_template() {
        let t = Target::parse("ws://127.0.0.1:9001/ws?room={room}").unwrap();
        assert_eq!(t.scheme, "ws");
        assert_eq!(t.addr, "127.0.0.1:9001".parse().unwrap());
        assert_eq!(t.host_header, "127.0.0.1:9001");
        assert_eq!(t.path_for("r7", 3), "/ws?room=r7");
        assert!(t.is_loopback());
    }

    #[test]
    fn parses_http_and_defaults() {
        let t = Target::parse("http://localhost:8080/health").unwrap();
        assert_eq!(t.path_template, "/health");
        let t = Target::parse("http://127.0.0.2").unwrap();
        assert_eq!(t.addr.port(), 80);
        assert_eq!(t.path_template, "/");
        let t = Target::parse("ws://127.0.0.1:1/ws/relay/{room}?c={id}").unwrap();
        assert_eq!(t.path_for("a", 9), "/ws/relay/a?c=9");
    }

    #[test]
    fn rejects_bad_targets() {
        assert!(Target::parse("wss://127.0.0.1:1/").is_err());
        assert!(Target::parse("127.0.0.1:1").is_err());
        assert!(Target::parse("ws://example.com:1/").is_err());
        assert!(Target::parse("ws://127.0.0.1:99999/").is_err());
    }

    #[test]
    fn room_prefix_charset() {
        assert!(validate_room_prefix("bench_r-").is_ok());
        assert!(validate_room_prefix("bad/room").is_err());
        assert_eq!(room_id("r", 12), "r12");
    }
}
