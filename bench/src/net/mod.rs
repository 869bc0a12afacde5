//! Client networking for a single-threaded event loop: epoll readiness ([`epoll`]),
//! non-blocking connects from cycling loopback source addresses ([`socket`]), the WebSocket
//! client wire format ([`ws`]), HTTP/1.1 requests and responses ([`http`]), and a pool of
//! WebSocket client connections driven by one loop ([`wspool`]).

pub mod epoll;
pub mod http;
pub mod socket;
pub mod ws;
pub mod wspool;
