//! Structured logging on `tracing`: one line per event on stderr, JSON or text.
//!
//! Owns [`LineLayer`], which writes each event as one JSON object (or a text line) with the
//! structure of seed 001 where it applies: `ts` (seconds), `timestamp` (RFC 3339), `level`,
//! `service`, `shard` (from the runtime, `shards::shard::current`), `msg` and `message`, then
//! inside a span `trace_id` and `span_id` and the span's `user_id` and `endpoint`, the event's
//! own fields (every value as a string), `error: {type, message}` when the event has an
//! `error` field (`error.type` names the type), and `context`: the other context fields of
//! the enclosing spans (`request_id`, `room`, `client`). [`install`] sets the subscriber when
//! telemetry is off; `crate::telemetry::init` composes it with the span layers otherwise.
//! The [`log!`](crate::log!) macro is the engine's shorthand for a `tracing` event; the
//! runtime crate uses `tracing`'s macros directly. It never logs payloads: callers pass
//! metadata.

use std::fmt::Write as _;
use std::io::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

use crate::config::{Level, LogFormat};
use crate::telemetry::layer::{self as ctxlayer, Gate, Scope};

/// Events of this target are span events only (an exception on a request span that a
/// `request failed` line already reports): no log line.
pub const SPAN_ONLY_TARGET: &str = "roomcore::exception";

/// Install the subscriber without spans (later calls are ignored).
pub fn init(format: LogFormat, level: Level) {
    install(Gate::new(false, level), LineLayer::new(format, "roomcore"));
}

/// Install `gate` and `lines` as the global subscriber (later calls are ignored).
pub fn install(gate: Gate, lines: LineLayer) {
    let subscriber = tracing_subscriber::registry().with(gate).with(lines);
    let _ = tracing::subscriber::set_global_default(subscriber);
}

/// Writes every event as one line on stderr.
#[derive(Debug)]
pub struct LineLayer {
    format: LogFormat,
    service: &'static str,
}

impl LineLayer {
    /// Lines of `format`, naming `service`.
    pub fn new(format: LogFormat, service: &'static str) -> LineLayer {
        LineLayer { format, service }
    }
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

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for LineLayer {
    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        if event.metadata().target() == SPAN_ONLY_TARGET {
            return;
        }
        let scope = match ctx.event_span(event) {
            Some(span) => {
                let mut span = Some(span);
                tracing::dispatcher::get_default(|d| {
                    span.take()
                        .map(|s| ctxlayer::context(s, d))
                        .unwrap_or_default()
                })
            }
            None => Scope::default(),
        };
        let mut line = self.line(event, &scope);
        line.push('\n');
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    }
}

impl LineLayer {
    /// The line of one event (without its newline).
    fn line(&self, event: &Event<'_>, scope: &Scope) -> String {
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
        render_line(self.format, self.service, level, &f.message, &fields, scope)
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

/// Render one event outside any span (exposed for tests).
pub fn render(
    format: LogFormat,
    level: Level,
    msg: &str,
    fields: &[(&str, &dyn std::fmt::Display)],
) -> String {
    render_line(format, "roomcore", level, msg, fields, &Scope::default())
}

fn push_json(line: &mut String, key: &str, value: &str) {
    line.push_str(",\"");
    json_escape(line, key);
    line.push_str("\":\"");
    json_escape(line, value);
    line.push('"');
}

/// `2026-01-31T12:34:56.789Z` of a Unix time in seconds.
pub fn rfc3339(ts: f64) -> String {
    let secs = ts.floor() as i64;
    let millis = ((ts - secs as f64) * 1000.0) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // civil-from-days (Howard Hinnant)
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// Render one event with the context of the spans it happened in.
pub fn render_line(
    format: LogFormat,
    service: &str,
    level: Level,
    msg: &str,
    fields: &[(&str, &dyn std::fmt::Display)],
    scope: &Scope,
) -> String {
    let ts = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    let shard = shards::shard::current();
    let mut line = String::with_capacity(192);
    let own = |k: &str| fields.iter().any(|(f, _)| *f == k);
    match format {
        LogFormat::Json => {
            let _ = write!(
                line,
                "{{\"ts\":{ts:.6},\"timestamp\":\"{}\",\"level\":\"{}\"",
                rfc3339(ts),
                level.as_str()
            );
            push_json(&mut line, "service", service);
            if let Some(s) = shard {
                let _ = write!(line, ",\"shard\":{s}");
            }
            push_json(&mut line, "msg", msg);
            push_json(&mut line, "message", msg);
            if let (Some(t), Some(s)) = (&scope.trace_id, &scope.span_id) {
                push_json(&mut line, "trace_id", t);
                push_json(&mut line, "span_id", s);
            }
            for top in ["user_id", "endpoint"] {
                if let Some(v) = scope.get(top).filter(|_| !own(top)) {
                    push_json(&mut line, top, v);
                }
            }
            let mut error: Option<(String, String)> = None;
            for (k, v) in fields {
                match *k {
                    "error" => error.get_or_insert_with(Default::default).1 = v.to_string(),
                    "error.type" => error.get_or_insert_with(Default::default).0 = v.to_string(),
                    _ => push_json(&mut line, k, &v.to_string()),
                }
            }
            if let Some((ty, message)) = error {
                line.push_str(",\"error\":{\"type\":\"");
                json_escape(&mut line, if ty.is_empty() { "error" } else { &ty });
                line.push_str("\",\"message\":\"");
                json_escape(&mut line, &message);
                line.push_str("\"}");
            }
            let context: Vec<&(&str, String)> = scope
                .fields
                .iter()
                .filter(|(k, _)| !matches!(*k, "user_id" | "endpoint") && !own(k))
                .collect();
            if !context.is_empty() {
                line.push_str(",\"context\":{");
                for (i, (k, v)) in context.iter().enumerate() {
                    if i > 0 {
                        line.push(',');
                    }
                    line.push('"');
                    json_escape(&mut line, k);
                    line.push_str("\":\"");
                    json_escape(&mut line, v);
                    line.push('"');
                }
                line.push('}');
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
            if let Some(t) = &scope.trace_id {
                let _ = write!(line, " trace_id={t}");
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
                let lines = LineLayer::new(LogFormat::Json, "roomcore");
                let _ = self.0.send(lines.line(event, &Scope::default()));
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

    #[test]
    fn lines_follow_the_seed_structure_inside_spans() {
        let scope = Scope {
            trace_id: Some("4bf92f3577b34da6a3ce929d0e0e4736".into()),
            span_id: Some("00f067aa0ba902b7".into()),
            fields: vec![
                ("request_id", "r-1".into()),
                ("endpoint", "/api/scores".into()),
                ("user_id", "42".into()),
                ("room", "lobby".into()),
            ],
        };
        let line = render_line(
            LogFormat::Json,
            "rc-test",
            Level::Error,
            "request failed",
            &[
                ("error", &"queue full"),
                ("error.type", &"StorageBusy"),
                ("room", &"own"),
            ],
            &scope,
        );
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["service"], "rc-test");
        assert_eq!(v["message"], "request failed");
        assert_eq!(v["msg"], "request failed");
        assert_eq!(v["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(v["span_id"], "00f067aa0ba902b7");
        assert_eq!(v["user_id"], "42");
        assert_eq!(v["endpoint"], "/api/scores");
        assert_eq!(v["error"]["type"], "StorageBusy");
        assert_eq!(v["error"]["message"], "queue full");
        assert_eq!(v["context"]["request_id"], "r-1");
        // the event's own field wins over the span's
        assert_eq!(v["room"], "own");
        assert!(v["context"].get("room").is_none());
        assert!(v["timestamp"].as_str().unwrap().ends_with('Z'));
    }

    #[test]
    fn timestamps_are_rfc3339() {
        assert_eq!(rfc3339(0.0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(1_700_000_000.25), "2023-11-14T22:13:20.250Z");
        assert_eq!(rfc3339(951_782_400.0), "2000-02-29T00:00:00.000Z");
    }
}
