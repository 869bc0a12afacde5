//! roomcore-bench — the benchmark harness of roomcore: an open-loop load generator (one
//! single-threaded epoll loop, pre-built masked frames, latency from the intended send time)
//! and the reports that judge a server against the SLO table of seed 000.
//!
//! Table of contents:
//! - [`cli`] — command line (`http`, `ws-connect`, `relay`, `stress`, `scores`, `chess`,
//!   `matchmaking`, `report`).
//! - [`scenario`] — the workloads: [`scenario::http`], [`scenario::ws_connect`],
//!   [`scenario::relay`], [`scenario::stress`], [`scenario::scores`], [`scenario::chess`],
//!   [`scenario::matchmaking`] (shared account/typed-protocol parts in [`scenario::typed`]).
//! - [`pacer`] — open-loop schedule of intended send times, warm-up/measured window.
//! - [`hist`] — latency histograms (HdrHistogram), merging, summaries, curves.
//! - [`net`] — epoll, sockets from many loopback sources, WebSocket and HTTP wire formats,
//!   the WebSocket connection pool.
//! - [`usage`] / [`procstat`] — server CPU and RSS from /proc, the load generator's own CPU.
//! - [`model`] — the run result every scenario produces and every report reads.
//! - [`report`] — SLO table, results template, JSON, .hgrm, SVG, markdown tables.
//! - [`target`] — `--target` URL templates and room ids.
//! - [`clock`] — the monotonic nanosecond clock and duration parsing.
//! - [`calibrate`] — what a system call, a timed sleep and a cross-core wake-up cost here.

pub mod calibrate;
pub mod cli;
pub mod clock;
pub mod hist;
pub mod model;
pub mod net;
pub mod pacer;
pub mod procstat;
pub mod report;
pub mod scenario;
pub mod target;
pub mod usage;
