//! Browser-facing protections: the CORS allowlist (with preflight) and the
//! Origin check of WebSocket upgrades. The fixed security headers of every
//! response are written by `http::response`.

use crate::config::Config;
use crate::http::Response;

/// Whether a request with this `Origin` header may proceed. Requests without
/// an Origin (non-browser clients) are allowed; `*` in the list allows any.
pub fn origin_allowed(cfg: &Config, origin: Option<&str>) -> bool {
    match origin {
        None => true,
        Some(o) => {
            let o = o.trim().trim_end_matches('/');
            cfg.limits
                .allowed_origins
                .iter()
                .any(|a| a == "*" || a.eq_ignore_ascii_case(o))
        }
    }
}

/// Whether `origin` is the server's own origin: its host (and port) is the request's `Host`,
/// as for a page the server itself served (the bundled demo at `/`). Such a WebSocket upgrade
/// is allowed whatever `ALLOWED_ORIGINS` says; a cross-site page cannot choose the `Host` its
/// browser sends.
pub fn same_origin(origin: Option<&str>, host: Option<&str>) -> bool {
    let (Some(o), Some(h)) = (origin, host) else {
        return false;
    };
    let o = o.trim().trim_end_matches('/');
    let rest = ["http://", "https://"].iter().find_map(|s| {
        o.get(..s.len())
            .filter(|p| p.eq_ignore_ascii_case(s))
            .map(|_| &o[s.len()..])
    });
    rest.is_some_and(|r| !r.is_empty() && r.eq_ignore_ascii_case(h.trim()))
}

/// Answer a CORS preflight (`OPTIONS` with an `Origin`).
pub fn preflight(cfg: &Config, origin: Option<&str>) -> Response {
    match origin {
        Some(o) if origin_allowed(cfg, Some(o)) => Response::json(204, Vec::new())
            .with_header("Access-Control-Allow-Origin", o.trim())
            .with_header("Vary", "Origin")
            .with_header(
                "Access-Control-Allow-Methods",
                "GET, HEAD, POST, PUT, DELETE, OPTIONS",
            )
            .with_header(
                "Access-Control-Allow-Headers",
                "Authorization, Content-Type, X-Request-Id",
            )
            .with_header("Access-Control-Max-Age", "600"),
        Some(_) => Response::error(403, "origin not allowed"),
        None => Response::error(400, "CORS preflight needs an Origin header"),
    }
}

/// Add the CORS headers of an actual response for an allowed `origin`.
pub fn with_cors(cfg: &Config, origin: Option<&str>, resp: Response) -> Response {
    match origin {
        Some(o) if origin_allowed(cfg, Some(o)) => resp
            .with_header("Access-Control-Allow-Origin", o.trim())
            .with_header("Vary", "Origin")
            .with_header(
                "Access-Control-Expose-Headers",
                "X-Request-Id, RateLimit, RateLimit-Policy, Retry-After",
            ),
        _ => resp,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowlist() {
        let mut cfg = Config::default();
        assert!(origin_allowed(&cfg, None));
        assert!(!origin_allowed(&cfg, Some("https://evil.example")));
        cfg.limits.allowed_origins = vec!["https://game.example".into()];
        assert!(origin_allowed(&cfg, Some("https://game.example/")));
        assert!(!origin_allowed(&cfg, Some("https://game.example.evil")));
        let r = preflight(&cfg, Some("https://game.example"));
        assert_eq!(r.status, 204);
        assert_eq!(preflight(&cfg, Some("https://x.example")).status, 403);
        cfg.limits.allowed_origins = vec!["*".into()];
        assert!(origin_allowed(&cfg, Some("https://any.example")));
    }

    #[test]
    fn same_origin_is_host_and_port() {
        assert!(same_origin(
            Some("http://localhost:8080"),
            Some("localhost:8080")
        ));
        assert!(same_origin(
            Some("https://Game.Example/"),
            Some("game.example")
        ));
        assert!(!same_origin(
            Some("http://localhost:8081"),
            Some("localhost:8080")
        ));
        assert!(!same_origin(
            Some("https://evil.example"),
            Some("game.example")
        ));
        assert!(!same_origin(Some("null"), Some("null")));
        assert!(!same_origin(Some("http://"), Some("")));
        assert!(!same_origin(None, Some("localhost:8080")));
        assert!(!same_origin(Some("http://localhost:8080"), None));
    }
}
