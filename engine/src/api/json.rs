//! JSON plumbing shared by the API handlers: strict body parsing, query
//! strings, JSON responses, and the mapping of storage errors to statuses.
//! Owns no state.

use std::borrow::Cow;

use serde::de::DeserializeOwned;
use serde::Serialize;
use storage::StorageError;

use super::ApiRequest;
use crate::http::Response;
use crate::log;

/// A JSON response of `value` with `status`.
pub fn reply<T: Serialize>(status: u16, value: &T) -> Response {
    match serde_json::to_vec(value) {
        Ok(body) => Response::json(status, body),
        Err(_) => Response::error(500, "cannot encode response"),
    }
}

/// Parse the body as `T` (unknown fields refused by `T`'s serde attributes).
/// The Content-Type is not enforced: tokens travel in a header, not a
/// cookie, so there is no cross-site form post to guard against.
pub fn body<T: DeserializeOwned>(req: &ApiRequest) -> Result<T, Response> {
    if req.body.is_empty() {
        return Err(Response::error(400, "request body must be a JSON object"));
    }
    serde_json::from_slice(&req.body)
        .map_err(|e| Response::error(400, &format!("invalid JSON body: {e}")))
}

fn decode(s: &str) -> Cow<'_, str> {
    if !s.contains(['%', '+']) {
        return Cow::Borrowed(s);
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                let hex = std::str::from_utf8(&b[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(v) => {
                        out.push(v);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

/// The (percent-decoded) value of `key` in the query string.
pub fn query<'a>(req: &'a ApiRequest, key: &str) -> Option<Cow<'a, str>> {
    req.query
        .as_deref()?
        .split('&')
        .filter_map(|kv| kv.split_once('=').or(Some((kv, ""))))
        .find(|(k, _)| *k == key)
        .map(|(_, v)| decode(v))
}

/// The HTTP answer for a storage failure.
pub fn storage_error(e: &StorageError, retry_after_secs: u64) -> Response {
    match e {
        StorageError::Busy { .. } => Response::error(503, "storage is busy, retry later")
            .with_header("Retry-After", retry_after_secs.to_string()),
        StorageError::Closed => Response::error(503, "storage is unavailable")
            .with_header("Retry-After", retry_after_secs.to_string()),
        // The database is down or unreachable (PostgreSQL): nothing of the command was kept;
        // the reason is on /ready and /health, not repeated in a log line per request.
        StorageError::Unavailable { reason } => {
            log!(Debug, "storage unavailable", reason = reason);
            Response::error(503, "storage is unavailable, retry later")
                .with_header("Retry-After", retry_after_secs.to_string())
        }
        // A conflict with another process sharing the database: only this command was undone.
        StorageError::Retry { reason } => {
            log!(
                Debug,
                "storage conflict, client told to retry",
                reason = reason
            );
            Response::error(503, "storage conflict, retry")
                .with_header("Retry-After", retry_after_secs.to_string())
        }
        StorageError::UsernameTaken => Response::error(409, "username is taken"),
        StorageError::UnknownAccount => Response::error(401, "unknown account; sign in again"),
        StorageError::TooManyGames { .. } => Response::error(409, &e.to_string()),
        other => {
            log!(Error, "storage error", error = other);
            Response::error(500, "storage error")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(q: &str) -> ApiRequest {
        ApiRequest {
            method: crate::http::Method::Get,
            path: "/api/x".into(),
            query: Some(q.into()),
            authorization: None,
            content_type: None,
            body: Vec::new(),
            peer: "127.0.0.1:1".parse().unwrap(),
        }
    }

    #[test]
    fn query_values_are_decoded() {
        let r = req("game=a%2Db&limit=5&flag&x=%zz+y&end=%4");
        assert_eq!(query(&r, "game").as_deref(), Some("a-b"));
        assert_eq!(query(&r, "limit").as_deref(), Some("5"));
        assert_eq!(query(&r, "flag").as_deref(), Some(""));
        assert_eq!(query(&r, "x").as_deref(), Some("%zz y"));
        assert_eq!(query(&r, "end").as_deref(), Some("%4"));
        assert_eq!(query(&r, "nope"), None);
    }

    #[test]
    fn busy_storage_is_503_with_retry_after() {
        let r = storage_error(&StorageError::Busy { capacity: 1 }, 2);
        assert_eq!(r.status, 503);
        assert!(r
            .headers
            .iter()
            .any(|(k, v)| *k == "Retry-After" && v == "2"));
        assert_eq!(storage_error(&StorageError::UsernameTaken, 1).status, 409);
    }

    #[test]
    fn an_unreachable_database_and_a_conflict_are_503_with_retry_after() {
        for e in [
            StorageError::Unavailable {
                reason: "connection refused".into(),
            },
            StorageError::Retry {
                reason: "deadlock detected".into(),
            },
        ] {
            let r = storage_error(&e, 3);
            assert_eq!(r.status, 503, "{e}");
            assert!(
                r.headers
                    .iter()
                    .any(|(k, v)| *k == "Retry-After" && v == "3"),
                "{e}"
            );
        }
    }
}
