//! The HTTP client of the OTLP exporter: a blocking `ureq` agent (rustls for https), used
//! only on the `otlp-export` thread, so no async runtime and no extra thread. Status codes
//! come back as responses (the exporter decides what is retryable); a connection failure or
//! a timeout (`OTEL_EXPORTER_OTLP_TIMEOUT`, for the whole exchange) is an error.

use std::time::Duration;

use opentelemetry_http::{Bytes, HttpClient, HttpError, Request, Response};

/// Largest response body read from the collector (its answers are a few bytes).
const MAX_RESPONSE: u64 = 1 << 20;

/// A `ureq` agent as the exporter's [`HttpClient`].
#[derive(Debug)]
pub struct Ureq(ureq::Agent);

impl Ureq {
    /// An agent whose whole exchange is bounded by `timeout`.
    pub fn new(timeout: Duration) -> Ureq {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(timeout))
            .user_agent(concat!("roomcore/", env!("CARGO_PKG_VERSION")))
            .build()
            .new_agent();
        Ureq(agent)
    }

    fn send(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let (parts, body) = request.into_parts();
        let request = Request::from_parts(parts, body.to_vec());
        let mut resp = self.0.run(request)?;
        let status = resp.status();
        let body = resp
            .body_mut()
            .with_config()
            .limit(MAX_RESPONSE)
            .read_to_vec()?;
        Ok(Response::builder().status(status).body(Bytes::from(body))?)
    }
}

#[async_trait::async_trait]
impl HttpClient for Ureq {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        self.send(request)
    }
}
