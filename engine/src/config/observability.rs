//! Logs, the memory watermark and chaos injection.

use std::time::Duration;

use clap::Args;

use super::parse;

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Json,
    Text,
}

/// Log levels, most severe first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Error,
    Warn,
    Info,
    Debug,
}

impl Level {
    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Error => "error",
            Level::Warn => "warn",
            Level::Info => "info",
            Level::Debug => "debug",
        }
    }
}

fn format(v: &str) -> Result<LogFormat, String> {
    match v.trim().to_ascii_lowercase().as_str() {
        "json" => Ok(LogFormat::Json),
        "text" | "pretty" => Ok(LogFormat::Text),
        _ => Err(format!("expected json or text, got {v:?}")),
    }
}

fn level(v: &str) -> Result<Level, String> {
    match v.trim().to_ascii_lowercase().as_str() {
        "error" => Ok(Level::Error),
        "warn" | "warning" => Ok(Level::Warn),
        "info" => Ok(Level::Info),
        "debug" | "trace" => Ok(Level::Debug),
        _ => Err(format!("expected error/warn/info/debug, got {v:?}")),
    }
}

fn rate(v: &str) -> Result<f64, String> {
    let r: f64 = v
        .trim()
        .parse()
        .map_err(|_| format!("not a valid number: {v:?}"))?;
    if !(0.0..=1.0).contains(&r) {
        return Err("CHAOS_ERROR_RATE must be between 0 and 1".into());
    }
    Ok(r)
}

/// Logs, memory watermark, chaos.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Observability")]
pub struct ObservabilityArgs {
    /// `json` (one object per line) or `text`.
    #[arg(long = "log-format", env = "LOG_FORMAT", default_value = "json", value_parser = format)]
    pub log_format: LogFormat,
    /// `error`, `warn`, `info` or `debug`.
    #[arg(long = "log-level", env = "LOG_LEVEL", default_value = "info", value_parser = level)]
    pub log_level: Level,
    /// Memory limit for the watermark (0 = the cgroup limit, if any); above 85% of it a
    /// warning is logged and roomcore_memory_watermark_exceeded is 1.
    #[arg(
        long = "memory-limit-bytes",
        env = "MEMORY_LIMIT_BYTES",
        default_value_t = 0
    )]
    pub memory_limit_bytes: u64,
    /// Fraction (0..1) of non-probe HTTP requests (500) and WebSocket messages (dropped,
    /// `chaos_injected` error) failed on purpose.
    #[arg(long = "chaos-error-rate", env = "CHAOS_ERROR_RATE", default_value = "0",
          value_parser = rate)]
    pub chaos_error_rate: f64,
    /// Delay in ms added to non-probe HTTP requests and WebSocket reads.
    #[arg(long = "chaos-latency-ms", env = "CHAOS_LATENCY_MS", default_value = "0",
          value_parser = parse::millis)]
    pub chaos_latency: Duration,
}
