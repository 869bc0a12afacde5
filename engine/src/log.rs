//! Structured logging on `tracing`: one line per event on stderr, JSON or text.
//!
//! Owns the subscriber (installed once at start by [`init`]): a `tracing-subscriber`
//! registry with a level filter and [`LineLayer`], which writes each event as
//! `{"ts":..,"level":..,"shard":..,"msg":..,<fields>}` (or a text line), every field value
//! as a string. The shard id comes from the runtime (`shards::shard::current`). The
//! [`log!`](crate::log!) macro is the engine's shorthand for a `tracing` event; the runtime
//! crate uses `tracing`'s macros directly. It never logs payloads: callers pass metadata.

use std::fmt::Write as _;
use std::io::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

use crate::config::{Level, LogFormat};

/// Install the subscriber (later calls are ignored).
pub fn init(format: LogFormat, level: Level) {
    let filter = LevelFilter::from_level(match level {
        Level::Error => tracing::Level::ERROR,
        Level::Warn => tracing::Level::WARN,
        Level::Info => tracing::Level::INFO,
        Level::Debug => tracing::Level::DEBUG,
    });
    let subscriber = tracing_subscriber::registry()
        .with(filter)
        .with(LineLayer { format });
    let _ = tracing::subscriber::set_global_default(subscriber);
}

/// Writes every event as one line on stderr.
#[derive(Debug)]
pub struct LineLayer {
    format: LogFormat,
}

/// The message and fields of one event, values rendered as text.
#[derive(Default)]
struct Fields {
    message: String,
    fields: Vec<(&'static str, String)>,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message = value.to_string();
        } else {
            self.fields.push((field.name(), value.to_string()));
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let text = format!("{value:?}");
        if field.name() == "message" {
            self.message = text;
        } else {
            self.fields.push((field.name(), text));
        }
    }
}

impl<S: Subscriber> Layer<S> for LineLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let mut line = LineLayer::line(self.format, event);
        line.push('\n');
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    }
}

impl LineLayer {
    /// The line of one event (without its newline).
    fn line(format: LogFormat, event: &Event<'_>) -> String {
        let level = match *event.metadata().level() {
            tracing::Level::ERROR => Level::Error,
            tracing::Level::WARN => Level::Warn,
            tracing::Level::INFO => Level::Info,
            _ => Level::Debug,
        };
        let mut f = Fields::default();
        event.record(&mut f);
        let fields: Vec<(&str, &dyn std::fmt::Display)> = f
            .fields
            .iter()
            .map(|(k, v)| (*k, v as &dyn std::fmt::Display))
            .collect();
        render(format, level, &f.message, &fields)
    }
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
    let shard = shards::shard::current();
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

/// `log!(Info, "message", key = value, ...)`: a `tracing` event at that level, every value
/// recorded with its `Display`.
#[macro_export]
macro_rules! log {
    (Error, $msg:literal $(, $k:ident = $v:expr)* $(,)?) => {
        ::tracing::error!($($k = %$v,)* $msg)
    };
    (Warn, $msg:literal $(, $k:ident = $v:expr)* $(,)?) => {
        ::tracing::warn!($($k = %$v,)* $msg)
    };
    (Info, $msg:literal $(, $k:ident = $v:expr)* $(,)?) => {
        ::tracing::info!($($k = %$v,)* $msg)
    };
    (Debug, $msg:literal $(, $k:ident = $v:expr)* $(,)?) => {
        ::tracing::debug!($($k = %$v,)* $msg)
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

    #[test]
    fn events_become_lines_with_their_fields_as_text() {
        struct Capture(std::sync::mpsc::Sender<String>);
        impl<S: Subscriber> Layer<S> for Capture {
            fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
                let _ = self.0.send(LineLayer::line(LogFormat::Json, event));
            }
        }
        let (tx, rx) = std::sync::mpsc::channel();
        let subscriber = tracing_subscriber::registry().with(Capture(tx));
        tracing::subscriber::with_default(subscriber, || {
            crate::log!(
                Warn,
                "shard event loop stalled",
                lag_ms = 700u64,
                room = "r1"
            );
        });
        let line = rx.try_recv().unwrap();
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["level"], "warn");
        assert_eq!(v["msg"], "shard event loop stalled");
        assert_eq!(v["lag_ms"], "700");
        assert_eq!(v["room"], "r1");
    }
}
