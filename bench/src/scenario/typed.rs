//! What the account-based scenarios (`scores`, `chess`, `matchmaking`) share: targets derived
//! from the server a `--target` names (its HTTP API and its typed `/ws` endpoint), the
//! guest-token phase (`POST /api/auth/guest` open loop at a fixed rate over keep-alive
//! connections, one token per client connection, its latency judged as the `POST /api/auth/*`
//! SLO row), and cheap parsing of the typed protocol's JSON messages: only the top-level fields
//! a scenario reads, borrowed from the read buffer (nested values are skipped, not built).

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::Deserialize;

use super::http::{HttpEngine, HttpParams};
use super::open_loop::OpenLoop;
use super::RunMeta;
use crate::hist::LatencyHist;
use crate::model::Counts;
use crate::net::http::build_request;
use crate::net::wspool::WsPool;

/// The same server as `meta`, with `scheme` and `path` (a `/` path in the template is
/// replaced by `default_path`; any other path is kept).
pub fn meta_for(meta: &RunMeta, scheme: &str, path: Option<&str>, default_path: &str) -> RunMeta {
    let mut m = meta.clone();
    m.target.scheme = scheme.to_string();
    m.target.path_template = match path {
        Some(p) => p.to_string(),
        None if meta.target.path_template == "/" || meta.target.path_template.is_empty() => {
            default_path.to_string()
        }
        None => meta.target.path_template.clone(),
    };
    m
}

/// Outcome of a token phase.
#[derive(Debug, Default)]
pub struct TokenPhase {
    /// Bearer tokens, one per client connection.
    pub tokens: Vec<String>,
    /// Latency of the guest sign-ins (from their intended send times).
    pub hist: LatencyHist,
    /// Requests intended.
    pub requests: u64,
    /// Requests that yielded no token.
    pub failed: u64,
    /// Wall time of the phase, s.
    pub secs: f64,
}

/// The value of the first `"key":"..."` string in `buf` (no escapes inside; tokens have none).
pub fn json_str_field<'a>(buf: &'a [u8], key: &str) -> Option<&'a str> {
    let pat = format!("\"{key}\":\"");
    let start = buf.windows(pat.len()).position(|w| w == pat.as_bytes())? + pat.len();
    let len = buf[start..].iter().position(|&b| b == b'"' || b == b'\\')?;
    if buf[start + len] != b'"' {
        return None;
    }
    std::str::from_utf8(&buf[start..start + len]).ok()
}

/// Signs in `n` guests (`POST /api/auth/guest`) at `rate`/s over `connections` keep-alive
/// connections; retries the missing ones twice. Fails if fewer than `n` tokens came back.
pub fn guest_tokens(
    meta: &RunMeta,
    n: usize,
    rate: f64,
    connections: usize,
) -> Result<TokenPhase, String> {
    let m = meta_for(meta, "http", Some("/api/auth/guest"), "/api/auth/guest");
    let request = build_request(
        "POST",
        &m.target.host_header,
        &m.target.path_template,
        &[],
        b"",
    );
    let params = HttpParams {
        method: "POST".into(),
        headers: Vec::new(),
        body: String::new(),
        connections: connections.clamp(1, n.max(1)),
        rate,
        warmup_secs: 0.0,
        secs: 0.0,
        timeout_secs: 10.0,
        drain_secs: 10.0,
        slo_row: None,
    };
    let t0 = std::time::Instant::now();
    let mut eng = HttpEngine::connect_with(&m, params, vec![request], true)?;
    let mut out = TokenPhase::default();
    for _ in 0..3 {
        let missing = n.saturating_sub(out.tokens.len());
        if missing == 0 {
            break;
        }
        // the schedule holds exactly `missing` events (half a period of slack for rounding)
        let secs = (missing as f64 - 0.5) / rate;
        eng.run_window(rate, 0.0, secs.max(0.0));
        let c = eng.counts(rate, secs);
        out.requests += c.requests;
        out.hist.merge(eng.hist());
        let got: Vec<String> = eng
            .take_bodies()
            .iter()
            .filter_map(|b| json_str_field(b, "token").map(str::to_string))
            .collect();
        out.failed += c.requests.saturating_sub(got.len() as u64);
        out.tokens.extend(got);
    }
    out.secs = t0.elapsed().as_secs_f64();
    if out.tokens.len() < n {
        return Err(format!(
            "guest sign-in: {} of {n} tokens ({} requests failed)",
            out.tokens.len(),
            out.failed
        ));
    }
    out.tokens.truncate(n);
    Ok(out)
}

/// The top-level fields of a server message the scenarios read (borrowed: the optional ones
/// never hold escapes in roomcore's messages; one that did would make the message unparsable
/// and counted as a bad payload). Unknown fields are skipped.
#[derive(Debug, Default, Deserialize)]
pub struct Msg<'a> {
    /// Message type.
    #[serde(rename = "type", borrow)]
    pub ty: Cow<'a, str>,
    /// Echoed sequence number.
    #[serde(default)]
    pub seq: Option<u64>,
    /// Room id (`joined`, events, `match_found`).
    #[serde(default, borrow)]
    pub room: Option<&'a str>,
    /// Mover colour of a `move` event.
    #[serde(default, borrow)]
    pub by: Option<&'a str>,
    /// UCI of a `move` event.
    #[serde(default, borrow)]
    pub uci: Option<&'a str>,
    /// Error code.
    #[serde(default, borrow)]
    pub code: Option<&'a str>,
    /// `ok` of a move: durable or not.
    #[serde(default)]
    pub saved: Option<bool>,
}

/// Parses a server text message (None if it is not a JSON object with a string `type`).
#[inline]
pub fn parse(payload: &[u8]) -> Option<Msg<'_>> {
    serde_json::from_slice(payload).ok()
}

/// What the typed WebSocket scenarios count alike: offered and achieved rate (`units` answered
/// in the window), sends and answers, connection attempts and failures (`dropped` = connections
/// the server closed during the run), the pool's transport counters, sign-ins, error frames by
/// code, and the errors all those add up to. A scenario adds its own fields and errors on top.
pub fn ws_counts(
    sched: &OpenLoop,
    pool: &WsPool,
    tokens: &TokenPhase,
    units: u64,
    error_codes: &BTreeMap<String, u64>,
    dropped: u64,
    bad_payload: u64,
) -> Counts {
    let secs = sched.window.measured_secs();
    let pc = pool.counters;
    let attempts = pool.conns.len() as u64;
    let conn_failed = pc.connect_failed + pc.handshake_rejected + pc.handshake_timeout;
    let ws_errors: u64 = error_codes.values().sum();
    Counts {
        offered_rate: sched.rate,
        achieved_rate: if secs > 0.0 { units as f64 / secs } else { 0.0 },
        conn_attempts: attempts,
        conn_ok: attempts - conn_failed,
        conn_failed,
        peak_open: pool.open_count() as u64 + dropped,
        sends: sched.sends,
        deliveries: units,
        expected_deliveries: sched.sends,
        bad_payload,
        pool: pc,
        auth_requests: tokens.requests,
        auth_failed: tokens.failed,
        error_codes: error_codes.clone(),
        queued_waits: sched.waits,
        errors: ws_errors
            + dropped
            + conn_failed
            + pc.protocol_errors
            + pc.io_errors
            + tokens.failed,
        ..Counts::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::target::Target;

    #[test]
    fn token_is_found_in_a_response() {
        let r = b"HTTP/1.1 201 Created\r\nContent-Length: 9\r\n\r\n{\"expires_at\":1,\"token\":\"rc1.ab-c_d.e\",\"token_type\":\"Bearer\"}";
        assert_eq!(json_str_field(r, "token"), Some("rc1.ab-c_d.e"));
        assert_eq!(json_str_field(r, "token_type"), Some("Bearer"));
        assert_eq!(json_str_field(r, "nope"), None);
        assert_eq!(json_str_field(b"{\"token\":\"abc", "token"), None);
        assert_eq!(json_str_field(b"{\"token\":\"a\\\"b\"}", "token"), None);
    }

    #[test]
    fn messages_parse_borrowed_and_skip_the_rest() {
        let m = parse(br#"{"type":"move","room":"c-1","room_seq":3,"by":"white","uci":"e2e4","san":"e4","fen":"x","ply":1,"clocks":{"white":1,"black":2}}"#).unwrap();
        assert_eq!(m.ty, "move");
        assert_eq!(m.by, Some("white"));
        assert_eq!(m.uci, Some("e2e4"));
        assert!(matches!(m.ty, Cow::Borrowed(_)));
        let e = parse(br#"{"type":"error","code":"illegal_move","message":"m","seq":7}"#).unwrap();
        assert_eq!((e.code, e.seq), (Some("illegal_move"), Some(7)));
        let ok = parse(br#"{"type":"ok","room_seq":3,"saved":false}"#).unwrap();
        assert_eq!(ok.saved, Some(false));
        assert!(parse(b"not json").is_none());
        assert!(parse(br#"{"seq":1}"#).is_none());
    }

    #[test]
    fn derived_targets_keep_the_server() {
        let meta = RunMeta {
            target_url: "ws://127.0.0.1:9/".into(),
            target: Target::parse("ws://127.0.0.1:9/").unwrap(),
            more_targets: Vec::new(),
            label: "x".into(),
            name: "n".into(),
            server_pid: None,
            more_pids: Vec::new(),
            many_sources: true,
        };
        let ws = meta_for(&meta, "ws", None, "/ws");
        assert_eq!(ws.target.path_template, "/ws");
        let h = meta_for(&ws, "http", Some("/api/auth/guest"), "/");
        assert_eq!(h.target.scheme, "http");
        assert_eq!(h.target.path_template, "/api/auth/guest");
        assert_eq!(h.target.addr, meta.target.addr);
        let keep = meta_for(&h, "http", None, "/api/scores");
        assert_eq!(keep.target.path_template, "/api/auth/guest");
    }
}
