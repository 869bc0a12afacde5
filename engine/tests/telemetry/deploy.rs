//! The observability stack of `deploy/` (no Docker engine runs here, so what can be checked
//! without one is): the Prometheus configuration passes `promtool check config` with its rules,
//! every file `compose.yml` mounts exists, the collector receives OTLP/HTTP where roomcore sends
//! it and exports to Jaeger and Prometheus, and the dashboard's latency panels link to traces.

use std::path::PathBuf;
use std::process::Command;

fn deploy() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../deploy")
}

fn read(name: &str) -> String {
    std::fs::read_to_string(deploy().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn the_compose_stack_is_consistent() {
    let out = Command::new("promtool")
        .args(["check", "config"])
        .arg(deploy().join("prometheus.yml"))
        .output()
        .expect("promtool (scripts/test installs it)");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    let compose = read("compose.yml");
    for line in compose.lines() {
        let l = line.trim().trim_start_matches("- ");
        if let Some(src) = l.strip_prefix("./").and_then(|r| r.split(':').next()) {
            assert!(
                deploy().join(src).exists(),
                "compose.yml mounts missing ./{src}"
            );
        }
    }
    for needle in [
        "OTEL_EXPORTER_OTLP_ENDPOINT: http://otel-collector:4318",
        "--enable-feature=exemplar-storage",
        "seccomp=unconfined",
        "memlock",
        "jaegertracing/all-in-one",
        "grafana/grafana",
        "prom/prometheus",
        "otel/opentelemetry-collector-contrib",
    ] {
        assert!(compose.contains(needle), "compose.yml lacks {needle}");
    }

    let col = read("otel-collector.yaml");
    for needle in [
        "endpoint: 0.0.0.0:4318",
        "endpoint: jaeger:4317",
        "endpoint: 0.0.0.0:8889",
        "enable_open_metrics: true",
        "exporters: [otlp/jaeger, spanmetrics]",
        "receivers: [spanmetrics]",
    ] {
        assert!(col.contains(needle), "otel-collector.yaml lacks {needle}");
    }
    let prom = read("prometheus.yml");
    assert!(prom.contains("otel-collector:8889") && prom.contains("roomcore:8080"));
    let ds = read("grafana/provisioning/datasources/datasources.yml");
    assert!(ds.contains("exemplarTraceIdDestinations") && ds.contains("datasourceUid: jaeger"));
    assert!(ds.contains("uid: jaeger"));

    let dash: serde_json::Value = serde_json::from_str(&read("grafana/roomcore.json")).unwrap();
    let panels = dash["panels"].as_array().unwrap();
    let latency: Vec<&serde_json::Value> = panels
        .iter()
        .filter(|p| p["title"].as_str().is_some_and(|t| t.contains("atency")))
        .collect();
    assert!(latency.len() >= 4, "latency panels: {}", latency.len());
    for p in &latency {
        let links = p["fieldConfig"]["defaults"]["links"].as_array();
        assert!(
            links.is_some_and(|l| l
                .iter()
                .any(|l| l["url"].as_str().unwrap().contains("${jaeger_url}/search"))),
            "{} has no link to traces",
            p["title"]
        );
    }
    assert!(
        panels.iter().any(|p| p["targets"]
            .as_array()
            .is_some_and(|t| t.iter().any(|t| t["exemplar"] == true))),
        "no panel shows exemplars"
    );
}
