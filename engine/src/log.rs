//! Structured logging: one line per event on stderr, JSON or text.
//!
//! Owns the process-wide log settings (set once at start) and the shard id of
//! the current thread. It never logs payloads: callers pass metadata only.

use std::cell::Cell;
use std::fmt::Write as _;
use std::io::Write as _;
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::config::{Level, LogFormat};

static SETTINGS: OnceLock<(LogFormat, Level)> = OnceLock::new();

thread_local! {
    static SHARD: Cell<Option<usize>> = const { Cell::new(None) };
}

/// Set the format and level once at start (later calls are ignored).
pub fn init(format: LogFormat, level: Level) {
    let _ = SETTINGS.set((format, level));
}

/// Tag log lines of this thread with a shard id.
pub fn set_shard(id: usize) {
    SHARD.with(|s| s.set(Some(id)));
}

/// Whether `level` would be written.
pub fn enabled(level: Level) -> bool {
    let (_, min) = SETTINGS
        .get()
        .copied()
        .unwrap_or((LogFormat::Text, Level::Info));
    level <= min
}

fn json_escape(out: &mut String, s: &str) {
    for ch in s.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
}

/// Render one event (exposed for tests).
pub fn render(
    format: LogFormat,
    level: Level,
    msg: &str,
    fields: &[(&str, &dyn std::fmt::Display)],
) -> String {
    let ts = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    let shard = SHARD.with(|s| s.get());
    let mut line = String::with_capacity(128);
    match format {
        LogFormat::Json => {
            let _ = write!(line, "{{\"ts\":{ts:.6},\"level\":\"{}\"", level.as_str());
            if let Some(s) = shard {
                let _ = write!(line, ",\"shard\":{s}");
            }
            line.push_str(",\"msg\":\"");
            json_escape(&mut line, msg);
            line.push('"');
            for (k, v) in fields {
                line.push_str(",\"");
                json_escape(&mut line, k);
                line.push_str("\":\"");
                json_escape(&mut line, &v.to_string());
                line.push('"');
            }
            line.push('}');
        }
        LogFormat::Text => {
            let _ = write!(line, "{ts:.3} {:<5}", level.as_str().to_uppercase());
            if let Some(s) = shard {
                let _ = write!(line, " [shard {s}]");
            }
            let _ = write!(line, " {msg}");
            for (k, v) in fields {
                let _ = write!(line, " {k}={v}");
            }
        }
    }
    line
}

/// Write one event if its level is enabled.
pub fn event(level: Level, msg: &str, fields: &[(&str, &dyn std::fmt::Display)]) {
    if !enabled(level) {
        return;
    }
    let (format, _) = SETTINGS
        .get()
        .copied()
        .unwrap_or((LogFormat::Text, Level::Info));
    let mut line = render(format, level, msg, fields);
    line.push('\n');
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}

/// `log!(Info, "message", key = value, ...)`
#[macro_export]
macro_rules! log {
    ($lvl:ident, $msg:expr $(, $k:ident = $v:expr)* $(,)?) => {
        if $crate::log::enabled($crate::config::Level::$lvl) {
            $crate::log::event($crate::config::Level::$lvl, $msg, &[$((stringify!($k), &$v as &dyn std::fmt::Display)),*]);
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_lines_are_valid_json() {
        let line = render(
            LogFormat::Json,
            Level::Warn,
            "say \"hi\"\n",
            &[("room", &"r1"), ("n", &3)],
        );
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["level"], "warn");
        assert_eq!(v["msg"], "say \"hi\"\n");
        assert_eq!(v["room"], "r1");
        assert_eq!(v["n"], "3");
    }

    #[test]
    fn text_lines_are_readable() {
        let line = render(
            LogFormat::Text,
            Level::Info,
            "listening",
            &[("addr", &"0.0.0.0:80")],
        );
        assert!(line.contains("INFO"));
        assert!(line.ends_with("listening addr=0.0.0.0:80"));
    }
}
