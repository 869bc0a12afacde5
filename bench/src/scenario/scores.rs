//! The `scores` scenario: durable score writes, `POST /api/scores` with a bearer token, at a
//! fixed offered rate (open loop) over keep-alive connections. First one guest account per
//! connection (`POST /api/auth/guest`, the token phase, judged as the `POST /api/auth/*` SLO
//! row); then connection `i` always posts `{"game": G, "score": s_i}` with account `i`'s token.
//! The server answers 201 only after the score's transaction committed, so the 2xx rate is the
//! durable write rate; 503s (storage busy) and every other failure are counted.

use serde::Serialize;

use super::http::{HttpEngine, HttpParams};
use super::typed::{guest_tokens, meta_for};
use super::{Measured, RunMeta, RunOutput};
use crate::model::Metric;
use crate::net::http::build_request;
use crate::report::slo::SloRow;

/// Parameters of a scores run.
#[derive(Clone, Debug, Serialize)]
pub struct ScoresParams {
    /// Offered writes/s.
    pub rate: f64,
    /// Keep-alive connections (= accounts).
    pub connections: usize,
    /// Leaderboard game name.
    pub game: String,
    /// Warm-up, s.
    pub warmup_secs: f64,
    /// Measured window, s.
    pub secs: f64,
    /// A write unanswered this long is an error, s.
    pub timeout_secs: f64,
    /// Max wait for outstanding writes after the window, s.
    pub drain_secs: f64,
    /// Guest sign-ins per second in the token phase.
    pub token_rate: f64,
}

/// Score posted by connection `i` (spread over 0..1e6, so personal bests vary).
pub fn score_of(i: usize) -> u64 {
    (i as u64).wrapping_mul(7_919) % 1_000_000
}

/// The request connection `i` sends.
pub fn score_request(host: &str, path: &str, token: &str, game: &str, i: usize) -> Vec<u8> {
    let body = format!("{{\"game\":\"{game}\",\"score\":{}}}", score_of(i));
    build_request(
        "POST",
        host,
        path,
        &[
            "Content-Type: application/json".to_string(),
            format!("Authorization: Bearer {token}"),
        ],
        body.as_bytes(),
    )
}

/// Runs the scores scenario: token phase, connect, one warm-up + measured window.
pub fn run(meta: &RunMeta, p: ScoresParams) -> Result<RunOutput, String> {
    if p.game.is_empty()
        || p.game.len() > 32
        || !p
            .game
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
    {
        return Err("--game: 1 to 32 of a-z, 0-9, '_' and '-'".into());
    }
    let m = meta_for(meta, "http", None, "/api/scores");
    let conns = p.connections.max(1);
    let tokens = guest_tokens(meta, conns, p.token_rate, conns.min(64))?;
    let requests: Vec<Vec<u8>> = tokens
        .tokens
        .iter()
        .enumerate()
        .map(|(i, t)| {
            score_request(
                &m.target.host_header,
                &m.target.path_template,
                t,
                &p.game,
                i,
            )
        })
        .collect();
    let hp = HttpParams {
        method: "POST".into(),
        headers: Vec::new(),
        body: String::new(),
        connections: conns,
        rate: p.rate,
        warmup_secs: p.warmup_secs,
        secs: p.secs,
        timeout_secs: p.timeout_secs,
        drain_secs: p.drain_secs,
        slo_row: None,
    };
    let mut eng = HttpEngine::connect_with(&m, hp, requests, false)?;
    let (mut usage, secs) = eng.run_window(p.rate, p.warmup_secs, p.secs);
    let mut counts = eng.counts(p.rate, secs);
    // the unit is the durable write: a 201
    counts.achieved_rate = if secs > 0.0 {
        counts.status_2xx as f64 / secs
    } else {
        0.0
    };
    counts.errors += counts.status_4xx;
    counts.auth_requests = tokens.requests;
    counts.auth_failed = tokens.failed;
    if let Some(s) = usage.server.as_mut() {
        s.unit = "write".into();
    }
    let hist = eng.hist().clone();
    let measured = Measured {
        params: serde_json::to_value(&p).unwrap_or_default(),
        secs,
        hists: vec![
            (Metric::Http, None, hist),
            (Metric::AuthGuest, Some(SloRow::Auth), tokens.hist),
        ],
        counts,
        server: usage.server,
        client: usage.client,
    };
    Ok(m.output("scores", measured))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_carry_token_and_json_body() {
        let r =
            String::from_utf8(score_request("h:1", "/api/scores", "rc1.x", "bench", 3)).unwrap();
        assert!(r.starts_with("POST /api/scores HTTP/1.1\r\nHost: h:1\r\n"));
        assert!(r.contains("Authorization: Bearer rc1.x\r\n"));
        let body = format!("{{\"game\":\"bench\",\"score\":{}}}", score_of(3));
        assert!(r.ends_with(&format!("Content-Length: {}\r\n\r\n{body}", body.len())));
        assert!((0..10_000).all(|i| score_of(i) < 1_000_000));
        assert_ne!(score_of(1), score_of(2));
    }
}
