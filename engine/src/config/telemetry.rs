//! Tracing (OpenTelemetry, OTLP over HTTP/protobuf) and error reports (Sentry): the standard
//! `OTEL_*` variables, the batch processor's `OTEL_BSP_*` bounds, and `SENTRY_*`.
//!
//! Empty values count as unset (as the OpenTelemetry specification asks). With neither an
//! OTLP endpoint nor a Sentry DSN, telemetry is off: no span is ever created.

use std::time::Duration;

use clap::Args;

use super::parse;

/// `OTEL_TRACES_SAMPLER`: the standard sampler names.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SamplerKind {
    AlwaysOn,
    AlwaysOff,
    TraceIdRatio,
    ParentBasedAlwaysOn,
    ParentBasedAlwaysOff,
    ParentBasedTraceIdRatio,
}

impl SamplerKind {
    /// The name `OTEL_TRACES_SAMPLER` uses.
    pub fn as_str(self) -> &'static str {
        match self {
            SamplerKind::AlwaysOn => "always_on",
            SamplerKind::AlwaysOff => "always_off",
            SamplerKind::TraceIdRatio => "traceidratio",
            SamplerKind::ParentBasedAlwaysOn => "parentbased_always_on",
            SamplerKind::ParentBasedAlwaysOff => "parentbased_always_off",
            SamplerKind::ParentBasedTraceIdRatio => "parentbased_traceidratio",
        }
    }
}

fn sampler(v: &str) -> Result<SamplerKind, String> {
    Ok(match v.trim().to_ascii_lowercase().as_str() {
        "always_on" => SamplerKind::AlwaysOn,
        "always_off" => SamplerKind::AlwaysOff,
        "traceidratio" => SamplerKind::TraceIdRatio,
        "" | "parentbased_always_on" => SamplerKind::ParentBasedAlwaysOn,
        "parentbased_always_off" => SamplerKind::ParentBasedAlwaysOff,
        "parentbased_traceidratio" => SamplerKind::ParentBasedTraceIdRatio,
        other => {
            return Err(format!(
                "expected always_on, always_off, traceidratio, parentbased_always_on, \
                 parentbased_always_off or parentbased_traceidratio, got {other:?}"
            ))
        }
    })
}

fn ratio(v: &str) -> Result<f64, String> {
    if v.trim().is_empty() {
        return Ok(1.0);
    }
    let r: f64 = v
        .trim()
        .parse()
        .map_err(|_| format!("not a valid number: {v:?}"))?;
    if !(0.0..=1.0).contains(&r) {
        return Err("the sampling ratio must be between 0 and 1".into());
    }
    Ok(r)
}

fn protocol(v: &str) -> Result<String, String> {
    match v.trim() {
        "" | "http/protobuf" => Ok("http/protobuf".into()),
        "grpc" | "http/json" => Err(format!(
            "{v:?} is not supported: roomcore exports OTLP over http/protobuf only (point it at \
             the collector's HTTP port, 4318)"
        )),
        other => Err(format!("expected http/protobuf, got {other:?}")),
    }
}

fn positive(v: &str) -> Result<usize, String> {
    match v.trim().parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!("expected a whole number above 0, got {v:?}")),
    }
}

fn positive_millis(v: &str) -> Result<Duration, String> {
    let d = parse::millis(v)?;
    if d.is_zero() {
        return Err("must be at least 1 ms".into());
    }
    Ok(d)
}

/// `key=value,key=value` with percent-encoded values (W3C Baggage syntax, as
/// `OTEL_RESOURCE_ATTRIBUTES` and `OTEL_EXPORTER_OTLP_HEADERS` use it).
pub fn key_values(v: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for item in v.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (k, val) = item
            .split_once('=')
            .ok_or_else(|| format!("expected key=value, got {item:?}"))?;
        let k = k.trim();
        if k.is_empty() {
            return Err(format!("empty key in {item:?}"));
        }
        out.push((k.to_string(), percent_decode(val.trim())?));
    }
    Ok(out)
}

fn percent_decode(v: &str) -> Result<String, String> {
    let b = v.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = b
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| format!("bad percent-encoding in {v:?}"))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| format!("{v:?} is not UTF-8 once decoded"))
}

fn http_url(what: &str, v: &str) -> Result<(), String> {
    let rest = v
        .strip_prefix("http://")
        .or_else(|| v.strip_prefix("https://"))
        .ok_or_else(|| format!("{what} must be an http:// or https:// URL, got {v:?}"))?;
    if rest.is_empty() || rest.starts_with('/') {
        return Err(format!("{what} has no host: {v:?}"));
    }
    Ok(())
}

/// Tracing and error reports.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Tracing and error reports")]
pub struct TelemetryArgs {
    /// OTLP/HTTP base URL of the collector (traces go to <URL>/v1/traces); unset: no tracing.
    #[arg(
        long = "otlp-endpoint",
        env = "OTEL_EXPORTER_OTLP_ENDPOINT",
        default_value = ""
    )]
    pub otlp_endpoint: String,
    /// Full OTLP/HTTP URL for traces (wins over OTEL_EXPORTER_OTLP_ENDPOINT).
    #[arg(
        long = "otlp-traces-endpoint",
        env = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        default_value = ""
    )]
    pub otlp_traces_endpoint: String,
    /// OTLP protocol: only `http/protobuf`.
    #[arg(long = "otlp-protocol", env = "OTEL_EXPORTER_OTLP_PROTOCOL",
          default_value = "http/protobuf", value_parser = protocol)]
    pub otlp_protocol: String,
    /// Extra headers of every export, `key=value,...` (percent-encoded values).
    #[arg(
        long = "otlp-headers",
        env = "OTEL_EXPORTER_OTLP_HEADERS",
        default_value = ""
    )]
    pub otlp_headers: String,
    /// Longest time one export may take, in ms.
    #[arg(long = "otlp-timeout-ms", env = "OTEL_EXPORTER_OTLP_TIMEOUT",
          default_value = "10000", value_parser = positive_millis)]
    pub otlp_timeout: Duration,
    /// `service.name` of every span and the `service` of every log line.
    #[arg(
        long = "service-name",
        env = "OTEL_SERVICE_NAME",
        default_value = "roomcore"
    )]
    pub service_name: String,
    /// always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off or
    /// parentbased_traceidratio.
    #[arg(long = "traces-sampler", env = "OTEL_TRACES_SAMPLER",
          default_value = "parentbased_always_on", value_parser = sampler)]
    pub traces_sampler: SamplerKind,
    /// Ratio (0..1) of the traceidratio samplers.
    #[arg(long = "traces-sampler-arg", env = "OTEL_TRACES_SAMPLER_ARG",
          default_value = "1.0", value_parser = ratio)]
    pub traces_sampler_arg: f64,
    /// Resource attributes of every span, `key=value,...` (percent-encoded values).
    #[arg(
        long = "resource-attributes",
        env = "OTEL_RESOURCE_ATTRIBUTES",
        default_value = ""
    )]
    pub resource_attributes: String,
    /// Spans waiting for the exporter thread; past it spans are dropped and counted.
    #[arg(long = "trace-queue-size", env = "OTEL_BSP_MAX_QUEUE_SIZE",
          default_value = "2048", value_parser = positive)]
    pub trace_queue_size: usize,
    /// Most spans in one export request.
    #[arg(long = "trace-batch-size", env = "OTEL_BSP_MAX_EXPORT_BATCH_SIZE",
          default_value = "512", value_parser = positive)]
    pub trace_batch_size: usize,
    /// Longest time a finished span waits before it is exported, in ms.
    #[arg(long = "trace-export-delay-ms", env = "OTEL_BSP_SCHEDULE_DELAY",
          default_value = "5000", value_parser = positive_millis)]
    pub trace_export_delay: Duration,
    /// Sentry DSN (`https://key@host/project`): error reports go there too; unset: not sent.
    #[arg(long = "sentry-dsn", env = "SENTRY_DSN", default_value = "")]
    pub sentry_dsn: String,
    /// `environment` of error reports (and `deployment.environment.name` of spans).
    #[arg(
        long = "sentry-environment",
        env = "SENTRY_ENVIRONMENT",
        default_value = "production"
    )]
    pub sentry_environment: String,
    /// `release` of error reports (default `roomcore@<version>`).
    #[arg(long = "sentry-release", env = "SENTRY_RELEASE", default_value = "")]
    pub sentry_release: String,
    /// Error reports waiting for the reporter thread; past it reports are dropped and counted.
    #[arg(long = "error-report-queue-size", env = "ERROR_REPORT_QUEUE_SIZE",
          default_value = "256", value_parser = positive)]
    pub error_report_queue_size: usize,
}

impl TelemetryArgs {
    /// Check the URLs, the key lists and the DSN; trim the optional values.
    pub fn validate(&mut self) -> Result<(), String> {
        for s in [
            &mut self.otlp_endpoint,
            &mut self.otlp_traces_endpoint,
            &mut self.sentry_dsn,
            &mut self.sentry_release,
        ] {
            *s = s.trim().to_string();
        }
        if !self.otlp_endpoint.is_empty() {
            http_url(
                "--otlp-endpoint (OTEL_EXPORTER_OTLP_ENDPOINT)",
                &self.otlp_endpoint,
            )?;
        }
        if !self.otlp_traces_endpoint.is_empty() {
            http_url(
                "--otlp-traces-endpoint (OTEL_EXPORTER_OTLP_TRACES_ENDPOINT)",
                &self.otlp_traces_endpoint,
            )?;
        }
        key_values(&self.otlp_headers)
            .map_err(|e| format!("--otlp-headers (OTEL_EXPORTER_OTLP_HEADERS): {e}"))?;
        key_values(&self.resource_attributes)
            .map_err(|e| format!("--resource-attributes (OTEL_RESOURCE_ATTRIBUTES): {e}"))?;
        if self.service_name.trim().is_empty() {
            self.service_name = "roomcore".into();
        }
        if !self.sentry_dsn.is_empty() {
            self.sentry_dsn
                .parse::<sentry::types::Dsn>()
                .map_err(|e| format!("--sentry-dsn (SENTRY_DSN) is not a valid DSN: {e}"))?;
        }
        if self.sentry_release.is_empty() {
            self.sentry_release = format!("roomcore@{}", env!("CARGO_PKG_VERSION"));
        }
        if self.trace_batch_size > self.trace_queue_size {
            self.trace_batch_size = self.trace_queue_size;
        }
        Ok(())
    }

    /// Where traces go, if anywhere: the traces URL, else `<endpoint>/v1/traces`.
    pub fn traces_url(&self) -> Option<String> {
        if !self.otlp_traces_endpoint.is_empty() {
            return Some(self.otlp_traces_endpoint.clone());
        }
        if self.otlp_endpoint.is_empty() {
            return None;
        }
        Some(format!(
            "{}/v1/traces",
            self.otlp_endpoint.trim_end_matches('/')
        ))
    }

    /// Whether anything of telemetry is on (an OTLP endpoint or a Sentry DSN).
    pub fn enabled(&self) -> bool {
        self.traces_url().is_some() || !self.sentry_dsn.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_values_decode_and_refuse_garbage() {
        assert_eq!(
            key_values("a=1, b = x%2Cy ,,").unwrap(),
            vec![("a".into(), "1".into()), ("b".into(), "x,y".into())]
        );
        assert!(key_values("novalue").is_err());
        assert!(key_values("=v").is_err());
        assert!(key_values("k=%zz").is_err());
    }

    fn parse(args: &[&str]) -> Result<crate::config::Config, String> {
        // A cheap password hash: validation computes one.
        let cheap = [
            "--password-hash-memory-kib",
            "64",
            "--password-hash-iterations",
            "1",
        ];
        let args = std::iter::once("roomcore")
            .chain(cheap)
            .chain(args.iter().copied());
        crate::config::Config::parse_from(args, None).map_err(|e| e.to_string())
    }

    #[test]
    fn endpoints_dsn_and_defaults() {
        let c = parse(&[]).unwrap();
        assert!(!c.telemetry.enabled());
        assert_eq!(c.telemetry.traces_url(), None);
        assert_eq!(c.telemetry.service_name, "roomcore");
        assert_eq!(c.telemetry.traces_sampler, SamplerKind::ParentBasedAlwaysOn);
        assert!(c.telemetry.sentry_release.starts_with("roomcore@"));
        let c = parse(&["--otlp-endpoint", "http://collector:4318/"]).unwrap();
        assert!(c.telemetry.enabled());
        assert_eq!(
            c.telemetry.traces_url().as_deref(),
            Some("http://collector:4318/v1/traces")
        );
        let c = parse(&[
            "--otlp-endpoint=http://a:4318",
            "--otlp-traces-endpoint=https://b/x/traces",
        ])
        .unwrap();
        assert_eq!(
            c.telemetry.traces_url().as_deref(),
            Some("https://b/x/traces")
        );
        let c = parse(&["--sentry-dsn", "https://key@sentry.example/7"]).unwrap();
        assert!(c.telemetry.enabled() && c.telemetry.traces_url().is_none());
        // Bad values stop start-up naming the flag and the variable.
        for (args, needle) in [
            (
                &["--otlp-endpoint", "collector:4318"][..],
                "OTEL_EXPORTER_OTLP_ENDPOINT",
            ),
            (&["--otlp-protocol", "grpc"][..], "http/protobuf"),
            (&["--sentry-dsn", "not a dsn"][..], "SENTRY_DSN"),
            (&["--traces-sampler-arg", "1.5"][..], "between 0 and 1"),
            (
                &["--resource-attributes", "novalue"][..],
                "OTEL_RESOURCE_ATTRIBUTES",
            ),
            (&["--trace-queue-size", "0"][..], "above 0"),
        ] {
            let e = parse(args).unwrap_err();
            assert!(e.contains(needle), "{args:?}: {e}");
        }
    }

    #[test]
    fn samplers_ratios_and_protocols() {
        assert_eq!(
            sampler("ParentBased_TraceIdRatio").unwrap(),
            SamplerKind::ParentBasedTraceIdRatio
        );
        assert!(sampler("sometimes").unwrap_err().contains("parentbased"));
        assert_eq!(ratio("0.01").unwrap(), 0.01);
        assert!(ratio("2").is_err());
        assert!(protocol("grpc").unwrap_err().contains("http/protobuf"));
        assert_eq!(protocol("").unwrap(), "http/protobuf");
    }
}
