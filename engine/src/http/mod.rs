//! HTTP/1.1: request parsing with limits ([`request`]) and response encoding
//! ([`response`]). No I/O here: the connection task feeds bytes in and writes
//! the encoded responses out.

pub mod request;
pub mod response;

pub use request::{parse, HttpError, Method, Parsed, Request};
pub use response::Response;
