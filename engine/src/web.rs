//! The browser demo served at `/`: static files embedded in the binary.
//!
//! The files are built from `clients/js/demo/` by `npm run build` (TypeScript through tsc and
//! esbuild) into `clients/js/demo/dist/`, committed, and embedded here with `include_bytes!`,
//! so building the server needs no Node.js; the JS tests fail when the committed files are
//! not what the sources build to.
//!
//! Caching: each asset is served under a name that carries the FNV-1a 64 hash of its bytes
//! (`/assets/app.<16 hex>.js`, which the build writes into `index.html`) with
//! `Cache-Control: public, max-age=31536000, immutable`; a name with another hash is 404.
//! `index.html` (at `/` and `/index.html`) is `no-cache`, so a new build is picked up on the
//! next load. The HTML pages carry their own Content-Security-Policy, [`PAGE_CSP`]: scripts,
//! styles, images and connections from this origin only, nothing inline, no `eval`, Trusted
//! Types required for DOM sinks; every other response keeps the server's `default-src 'none'`.

use crate::http::{Method, Response};

/// The Content-Security-Policy of the demo's HTML pages.
pub const PAGE_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; \
frame-ancestors 'none'; require-trusted-types-for 'script'; trusted-types 'none'";

const INDEX_HTML: &[u8] = include_bytes!("../../clients/js/demo/dist/index.html");

/// One hashed asset.
struct Asset {
    /// Name before the hash (`app`), and extension after it (`js`).
    stem: &'static str,
    ext: &'static str,
    content_type: &'static str,
    body: &'static [u8],
    hash: u64,
}

/// FNV-1a 64 of `bytes` (the build script computes the same hash for the names it writes).
pub const fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < bytes.len() {
        h ^= bytes[i] as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
        i += 1;
    }
    h
}

macro_rules! asset {
    ($stem:literal, $ext:literal, $ct:literal) => {{
        const BODY: &[u8] =
            include_bytes!(concat!("../../clients/js/demo/dist/", $stem, ".", $ext));
        Asset {
            stem: $stem,
            ext: $ext,
            content_type: $ct,
            body: BODY,
            hash: fnv1a64(BODY),
        }
    }};
}

const ASSETS: &[Asset] = &[
    asset!("app", "js", "text/javascript; charset=utf-8"),
    asset!("app", "css", "text/css; charset=utf-8"),
    asset!("icon", "svg", "image/svg+xml"),
];

/// Whether `path` belongs to the demo (`/`, `/index.html`, `/assets/...`).
pub fn is_web_path(path: &str) -> bool {
    matches!(path, "/" | "/index.html") || path.starts_with("/assets/")
}

/// The answer to `method path` for a demo path ([`is_web_path`]).
pub fn respond(method: Method, path: &str) -> Response {
    if !matches!(method, Method::Get | Method::Head) {
        return Response::error(405, "method not allowed").with_header("Allow", "GET, HEAD");
    }
    if matches!(path, "/" | "/index.html") {
        return page(INDEX_HTML);
    }
    match path.strip_prefix("/assets/").and_then(find) {
        Some(a) => Response {
            status: 200,
            content_type: a.content_type,
            body: a.body.to_vec(),
            headers: vec![(
                "Cache-Control",
                "public, max-age=31536000, immutable".into(),
            )],
            close: false,
        },
        None => Response::error(404, "no such asset"),
    }
}

fn page(body: &'static [u8]) -> Response {
    Response {
        status: 200,
        content_type: "text/html; charset=utf-8",
        body: body.to_vec(),
        headers: vec![
            ("Cache-Control", "no-cache".into()),
            ("Content-Security-Policy", PAGE_CSP.into()),
        ],
        close: false,
    }
}

/// The asset named `{stem}.{16 hex of its hash}.{ext}`.
fn find(name: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|a| {
        name.strip_prefix(a.stem)
            .and_then(|r| r.strip_prefix('.'))
            .and_then(|r| r.strip_suffix(a.ext))
            .and_then(|r| r.strip_suffix('.'))
            .is_some_and(|h| h.len() == 16 && u64::from_str_radix(h, 16).ok() == Some(a.hash))
    })
}

/// The path each asset is served at.
pub fn asset_paths() -> Vec<String> {
    ASSETS
        .iter()
        .map(|a| format!("/assets/{}.{:016x}.{}", a.stem, a.hash, a.ext))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv_matches_the_reference_vectors() {
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn every_asset_the_page_names_is_served_and_every_asset_is_named() {
        let html = std::str::from_utf8(INDEX_HTML).unwrap();
        let named: Vec<&str> = html
            .split('"')
            .filter(|s| s.starts_with("/assets/"))
            .collect();
        let served = asset_paths();
        for p in &named {
            assert!(
                served.iter().any(|s| s == p),
                "{p} is not served: {served:?}"
            );
            let r = respond(Method::Get, p);
            assert_eq!(r.status, 200, "{p}");
            assert!(r
                .headers
                .iter()
                .any(|(n, v)| *n == "Cache-Control" && v.contains("immutable")));
        }
        for s in &served {
            assert!(named.contains(&s.as_str()), "{s} is not in index.html");
        }
    }

    #[test]
    fn pages_assets_and_refusals() {
        for p in ["/", "/index.html"] {
            let r = respond(Method::Get, p);
            assert_eq!(
                (r.status, r.content_type),
                (200, "text/html; charset=utf-8")
            );
            assert!(r
                .headers
                .iter()
                .any(|(n, v)| *n == "Content-Security-Policy" && v == PAGE_CSP));
            assert!(r
                .headers
                .iter()
                .any(|(n, v)| *n == "Cache-Control" && v == "no-cache"));
        }
        assert!(!PAGE_CSP.contains("unsafe"));
        assert_eq!(respond(Method::Head, "/").status, 200);
        assert_eq!(respond(Method::Post, "/").status, 405);
        assert_eq!(respond(Method::Get, "/assets/app.js").status, 404);
        assert_eq!(
            respond(Method::Get, "/assets/app.0123456789abcdef.js").status,
            404
        );
        assert_eq!(respond(Method::Get, "/assets/../index.html").status, 404);
        assert!(is_web_path("/assets/x"));
        assert!(!is_web_path("/index.htm"));
    }
}
