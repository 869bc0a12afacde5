//! Command line: `http`, `ws-connect`, `relay`, `stress relay|http`, `scores`, `chess`,
//! `matchmaking`, `report` and `calibrate`: the clap definitions of every subcommand and its
//! options. `run` turns them into scenario parameters and runs them; each run prints its
//! markdown summary and, with `--out`, writes its JSON, .hgrm, SVG and markdown files.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::clock::parse_duration_secs;
use crate::report::slo::SloRow;
use crate::scenario::relay::Placement;
use crate::target::validate_room_prefix;

/// Open-loop load generator and SLO report for roomcore and any relay-protocol server.
#[derive(Parser, Debug)]
#[command(name = "roomcore-bench", version, about)]
pub struct Cli {
    /// Scenario to run.
    #[command(subcommand)]
    pub cmd: Cmd,
}

/// Subcommands.
#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// HTTP requests (any method/path/body) at a fixed offered rate over keep-alive connections.
    Http(HttpCmd),
    /// WebSocket connection storm at a fixed rate, then hold the connections.
    WsConnect(ConnectCmd),
    /// Relay rooms: R rooms x M members, aggregate send rate, one-way latency per delivery.
    Relay(RelayCmd),
    /// Ramp the offered rate until an SLO breaks; report the breaking point.
    Stress(StressCmd),
    /// Durable score writes (POST /api/scores, one guest account per connection) at a fixed rate.
    Scores(ScoresCmd),
    /// N concurrent chess games on /ws; move round trip (sent -> opponent's move event).
    Chess(ChessCmd),
    /// Steady matchmaking queue inflow on /ws; time to match (enqueue -> match_found).
    Matchmaking(MatchCmd),
    /// Render the suite report (markdown, JSON, comparison SVGs) from run JSON files.
    Report(ReportCmd),
    /// Measure what a system call, a timed sleep and a cross-core wake-up cost on this machine
    /// (the CPU per message of both sides at moderate load is mostly sleeps and wake-ups).
    Calibrate(CalibrateCmd),
}

fn secs(s: &str) -> Result<f64, String> {
    parse_duration_secs(s)
}

/// Options every scenario takes.
#[derive(Args, Debug, Clone)]
pub struct Common {
    /// Target URL template: ws://HOST:PORT/ws/relay/{room} (roomcore),
    /// ws://HOST:PORT/ws?room={room} (peers), http://HOST:PORT/health. `{id}` = connection index.
    #[arg(long)]
    pub target: String,
    /// Server label for reports and comparisons.
    #[arg(long, default_value = "server")]
    pub label: String,
    /// Run name (output file stem); defaults to the scenario name.
    #[arg(long)]
    pub name: Option<String>,
    /// Server pid: CPU (utime+stime) and RSS from /proc.
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// More targets (repeatable; relay only): member m of every room connects to target
    /// m mod (1 + count), so each room spans the servers (a cluster's nodes).
    #[arg(long = "also-target")]
    pub also_target: Vec<String>,
    /// More server pids (repeatable): their CPU and RSS are added to --server-pid's.
    #[arg(long = "also-pid")]
    pub also_pid: Vec<u32>,
    /// Directory for JSON, .hgrm, SVG and markdown outputs.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Do not bind client sockets to cycling 127.0.0.x source addresses.
    #[arg(long)]
    pub single_source: bool,
}

/// Warm-up and measured window.
#[derive(Args, Debug, Clone)]
pub struct Timing {
    /// Warm-up before measuring (excluded from histograms).
    #[arg(long, default_value = "2s", value_parser = secs)]
    pub warmup: f64,
    /// Measured window.
    #[arg(long, default_value = "10s", value_parser = secs)]
    pub duration: f64,
}

/// The request an HTTP run sends.
#[derive(Args, Debug, Clone)]
pub struct HttpShape {
    /// Method.
    #[arg(long, default_value = "GET")]
    pub method: String,
    /// Extra header line `Name: value` (repeatable).
    #[arg(long = "header", short = 'H')]
    pub headers: Vec<String>,
    /// Request body.
    #[arg(long, default_value = "")]
    pub body: String,
    /// Read the request body from a file.
    #[arg(long)]
    pub body_file: Option<PathBuf>,
    /// Keep-alive connections.
    #[arg(long, default_value_t = 16)]
    pub connections: usize,
    /// A request unanswered this long is an error.
    #[arg(long, default_value = "10s", value_parser = secs)]
    pub timeout: f64,
    /// Max wait for outstanding responses after the window.
    #[arg(long, default_value = "2s", value_parser = secs)]
    pub drain: f64,
    /// SLO row to judge against (health, auth, leaderboard); default from method and path.
    #[arg(long, value_parser = SloRow::parse)]
    pub slo_row: Option<SloRow>,
}

/// `http`.
#[derive(Args, Debug)]
pub struct HttpCmd {
    #[command(flatten)]
    common: Common,
    #[command(flatten)]
    timing: Timing,
    #[command(flatten)]
    shape: HttpShape,
    /// Offered requests per second.
    #[arg(long, default_value_t = 1000.0)]
    rate: f64,
}

/// `ws-connect`.
#[derive(Args, Debug)]
pub struct ConnectCmd {
    #[command(flatten)]
    common: Common,
    /// Connections to open.
    #[arg(long, default_value_t = 1000)]
    conns: usize,
    /// Offered connects per second.
    #[arg(long, default_value_t = 1000.0)]
    rate: f64,
    /// Members per room (connection i joins room i / members).
    #[arg(long, default_value_t = 4)]
    members: usize,
    /// Room id prefix.
    #[arg(long, default_value = "c")]
    room_prefix: String,
    /// Hold all connections this long after the storm.
    #[arg(long, default_value = "5s", value_parser = secs)]
    hold: f64,
    /// Per-connection handshake timeout.
    #[arg(long, default_value = "10s", value_parser = secs)]
    timeout: f64,
    /// Connects intended during this initial part of the storm are not recorded.
    #[arg(long, default_value = "0s", value_parser = secs)]
    warmup: f64,
    /// Wait after closing before reading the server's RSS again.
    #[arg(long, default_value = "1s", value_parser = secs)]
    settle: f64,
}

/// Room layout and message shape of a relay run.
#[derive(Args, Debug, Clone)]
pub struct RelayShape {
    /// Rooms.
    #[arg(long, default_value_t = 1000)]
    pub rooms: usize,
    /// Members per room.
    #[arg(long, default_value_t = 4)]
    pub members: usize,
    /// Payload bytes per message (>= 20 binary, >= 40 text).
    #[arg(long, default_value_t = 64)]
    pub size: usize,
    /// Send text frames (hex stamp) instead of binary.
    #[arg(long)]
    pub text: bool,
    /// Room id prefix.
    #[arg(long, default_value = "r")]
    pub room_prefix: String,
    /// Max wait for in-flight deliveries after each window.
    #[arg(long, default_value = "2s", value_parser = secs)]
    pub drain: f64,
    /// Handshakes in flight at once while connecting.
    #[arg(long, default_value_t = 256)]
    pub connect_concurrency: usize,
    /// Give up connecting members after this long.
    #[arg(long, default_value = "30s", value_parser = secs)]
    pub connect_timeout: f64,
    /// Which shard each member's socket must be accepted by, against its room's owner: `owner`
    /// keeps every room local to one shard, `elsewhere` makes every member arrive through
    /// another shard (roomcore says the shard in X-Roomcore-Shard; a socket on the wrong one
    /// is dialled again).
    #[arg(long, value_enum, default_value_t = Placement::Any)]
    pub placement: Placement,
    /// Shards of the server under test (its --shards): who owns each room, for --placement.
    #[arg(long, default_value_t = 1)]
    pub server_shards: usize,
}

/// `relay`.
#[derive(Args, Debug)]
pub struct RelayCmd {
    #[command(flatten)]
    common: Common,
    #[command(flatten)]
    timing: Timing,
    #[command(flatten)]
    shape: RelayShape,
    /// Aggregate offered sends per second (all members together).
    #[arg(long, default_value_t = 6000.0)]
    rate: f64,
}

/// The token phase of the account-based scenarios.
#[derive(Args, Debug, Clone)]
pub struct TokenOpts {
    /// Guest sign-ins per second (POST /api/auth/guest) before the run.
    #[arg(long, default_value_t = 2000.0)]
    pub token_rate: f64,
}

/// Setup and drain of the WebSocket game scenarios (`chess`, `matchmaking`).
#[derive(Args, Debug, Clone)]
pub struct SessionOpts {
    /// Max wait for answers still due after the window (moves, matches).
    #[arg(long, default_value = "5s", value_parser = secs)]
    pub drain: f64,
    /// Handshakes in flight at once while connecting.
    #[arg(long, default_value_t = 256)]
    pub connect_concurrency: usize,
    /// Give up the setup (sign-ins, connections, seating) after this long.
    #[arg(long, default_value = "60s", value_parser = secs)]
    pub setup_timeout: f64,
}

/// `scores`.
#[derive(Args, Debug)]
pub struct ScoresCmd {
    #[command(flatten)]
    common: Common,
    #[command(flatten)]
    timing: Timing,
    #[command(flatten)]
    tokens: TokenOpts,
    /// Offered writes per second.
    #[arg(long, default_value_t = 500.0)]
    rate: f64,
    /// Keep-alive connections (one guest account each).
    #[arg(long, default_value_t = 32)]
    connections: usize,
    /// Leaderboard game the scores go to.
    #[arg(long, default_value = "bench")]
    game: String,
    /// A write unanswered this long is an error.
    #[arg(long, default_value = "10s", value_parser = secs)]
    timeout: f64,
    /// Max wait for outstanding writes after the window.
    #[arg(long, default_value = "5s", value_parser = secs)]
    drain: f64,
}

/// `chess`.
#[derive(Args, Debug)]
pub struct ChessCmd {
    #[command(flatten)]
    common: Common,
    #[command(flatten)]
    timing: Timing,
    #[command(flatten)]
    tokens: TokenOpts,
    /// Concurrent games (two sockets each).
    #[arg(long, default_value_t = 500)]
    games: usize,
    /// Aggregate offered moves per second over all games.
    #[arg(long, default_value_t = 1000.0)]
    rate: f64,
    /// Plies of the fixed line a game plays before a new game starts (2..=128).
    #[arg(long, default_value_t = 128)]
    plies: usize,
    /// Chess clock, initial seconds per side.
    #[arg(long, default_value_t = 10_800)]
    initial_secs: u32,
    /// Chess clock increment, seconds.
    #[arg(long, default_value_t = 180)]
    increment_secs: u32,
    #[command(flatten)]
    session: SessionOpts,
}

/// `matchmaking`.
#[derive(Args, Debug)]
pub struct MatchCmd {
    #[command(flatten)]
    common: Common,
    #[command(flatten)]
    timing: Timing,
    #[command(flatten)]
    tokens: TokenOpts,
    /// Signed-in players the inflow draws from (enough for rate x time to match, with margin).
    #[arg(long, default_value_t = 400)]
    players: usize,
    /// Offered enqueues (players) per second.
    #[arg(long, default_value_t = 100.0)]
    rate: f64,
    /// Queue mode (chess: pairs; party: 2 teams of 2).
    #[arg(long, default_value = "chess")]
    mode: String,
    /// Queue region (a fresh region keeps the run's queue to itself).
    #[arg(long, default_value = "bench")]
    region: String,
    #[command(flatten)]
    session: SessionOpts,
}

/// Ramp options.
#[derive(Args, Debug, Clone)]
pub struct Ramp {
    /// First offered rate (sends/s or requests/s).
    #[arg(long, default_value_t = 1000.0)]
    pub start_rate: f64,
    /// Geometric factor between steps.
    #[arg(long, default_value_t = 1.5)]
    pub factor: f64,
    /// Warm-up per step.
    #[arg(long, default_value = "1s", value_parser = secs)]
    pub step_warmup: f64,
    /// Measured window per step.
    #[arg(long, default_value = "3s", value_parser = secs)]
    pub step_duration: f64,
    /// A step fails when p99 exceeds this many ms.
    #[arg(long, default_value_t = 25.0)]
    pub p99_max_ms: f64,
    /// Max ramp steps.
    #[arg(long, default_value_t = 25)]
    pub max_steps: usize,
    /// Bisection steps after the first failure.
    #[arg(long, default_value_t = 2)]
    pub refine: usize,
    /// Upper bound on the offered rate.
    #[arg(long, default_value_t = 5_000_000.0)]
    pub max_rate: f64,
    /// Do not re-measure a step that failed only on p99.
    #[arg(long)]
    pub no_retry: bool,
}

/// `stress`.
#[derive(Args, Debug)]
pub struct StressCmd {
    /// Workload to ramp.
    #[command(subcommand)]
    workload: StressWorkload,
}

/// Workloads `stress` can ramp.
#[derive(Subcommand, Debug)]
pub enum StressWorkload {
    /// Ramp relay sends/s.
    Relay {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        shape: RelayShape,
        #[command(flatten)]
        ramp: Ramp,
    },
    /// Ramp HTTP requests/s.
    Http {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        shape: HttpShape,
        #[command(flatten)]
        ramp: Ramp,
    },
}

/// `report`.
#[derive(Args, Debug)]
pub struct ReportCmd {
    /// Run JSON files or directories holding them.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Output directory (default: the first directory given, else the current one).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Label the comparison ratios are relative to.
    #[arg(long)]
    baseline: Option<String>,
}

/// `calibrate`.
#[derive(Args, Debug)]
pub struct CalibrateCmd {
    /// Iterations of each measurement.
    #[arg(long, default_value_t = 20_000)]
    iterations: u64,
    /// Length of each timed sleep, µs.
    #[arg(long, default_value_t = 50)]
    sleep_us: u64,
    /// The two CPUs of the wake-up ping-pong, `A,B` (the timed sleeps run on B).
    #[arg(long, default_value = "0,1", value_parser = cpu_pair)]
    cpus: (usize, usize),
    /// Also write the figures as JSON to this file.
    #[arg(long)]
    out: Option<PathBuf>,
}

fn cpu_pair(s: &str) -> Result<(usize, usize), String> {
    let (a, b) = s
        .split_once(',')
        .ok_or_else(|| format!("--cpus wants two CPU numbers like 0,1, got {s:?}"))?;
    let num = |v: &str| {
        v.trim()
            .parse::<usize>()
            .map_err(|_| format!("--cpus: {v:?} is not a CPU number"))
    };
    Ok((num(a)?, num(b)?))
}

mod run;
pub use run::run;
