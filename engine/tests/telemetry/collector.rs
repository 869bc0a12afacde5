//! A stand-in OpenTelemetry Collector: an OTLP/HTTP receiver on a loopback port that decodes
//! `POST /v1/traces` bodies with the OpenTelemetry proto definitions (`opentelemetry-proto`,
//! prost) and keeps every span it received, flattened for assertions. It can also refuse
//! (answer 503) or hang (never answer), to stand for a collector that is down or slow.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use prost::Message;

/// How the receiver answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// 200 with an empty `ExportTraceServiceResponse`.
    Accept,
    /// 503 to every export.
    Refuse,
    /// Read the request, never answer.
    Hang,
}

/// One received span, flattened.
#[derive(Debug, Clone)]
pub struct Span {
    pub trace_id: String,
    pub span_id: String,
    pub parent_span_id: String,
    pub name: String,
    /// `SPAN_KIND_*` number (2 = server, 3 = client).
    pub kind: i32,
    pub attrs: HashMap<String, String>,
    /// (name, attributes) of each event.
    pub events: Vec<(String, HashMap<String, String>)>,
    /// (trace id, span id) of each link.
    pub links: Vec<(String, String)>,
    /// `STATUS_CODE_*` number (2 = error).
    pub status: i32,
    pub resource: HashMap<String, String>,
}

impl Span {
    pub fn attr(&self, k: &str) -> Option<&str> {
        self.attrs.get(k).map(String::as_str)
    }

    pub fn links_to(&self, other: &Span) -> bool {
        self.links
            .iter()
            .any(|(t, s)| *t == other.trace_id && *s == other.span_id)
    }

    pub fn child_of(&self, parent: &Span) -> bool {
        self.trace_id == parent.trace_id && self.parent_span_id == parent.span_id
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn text(v: &Option<opentelemetry_proto::tonic::common::v1::AnyValue>) -> String {
    match v.as_ref().and_then(|v| v.value.as_ref()) {
        Some(Any::StringValue(s)) => s.clone(),
        Some(Any::BoolValue(b)) => b.to_string(),
        Some(Any::IntValue(i)) => i.to_string(),
        Some(Any::DoubleValue(d)) => d.to_string(),
        Some(other) => format!("{other:?}"),
        None => String::new(),
    }
}

fn map(kvs: &[KeyValue]) -> HashMap<String, String> {
    kvs.iter()
        .map(|kv| (kv.key.clone(), text(&kv.value)))
        .collect()
}

/// Every span of one export request.
pub fn decode(body: &[u8]) -> Vec<Span> {
    let req = ExportTraceServiceRequest::decode(body).expect("an OTLP protobuf body");
    let mut out = Vec::new();
    for rs in req.resource_spans {
        let resource = rs
            .resource
            .as_ref()
            .map(|r| map(&r.attributes))
            .unwrap_or_default();
        for ss in rs.scope_spans {
            for s in ss.spans {
                out.push(Span {
                    trace_id: hex(&s.trace_id),
                    span_id: hex(&s.span_id),
                    parent_span_id: hex(&s.parent_span_id),
                    name: s.name.clone(),
                    kind: s.kind,
                    attrs: map(&s.attributes),
                    events: s
                        .events
                        .iter()
                        .map(|e| (e.name.clone(), map(&e.attributes)))
                        .collect(),
                    links: s
                        .links
                        .iter()
                        .map(|l| (hex(&l.trace_id), hex(&l.span_id)))
                        .collect(),
                    status: s.status.as_ref().map_or(0, |st| st.code),
                    resource: resource.clone(),
                });
            }
        }
    }
    out
}

#[derive(Default)]
struct State {
    spans: Vec<Span>,
    requests: usize,
    content_types: Vec<String>,
}

/// The receiver; it stops serving when dropped (its thread ends with the test process).
pub struct Collector {
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
}

impl Collector {
    pub fn start(mode: Mode) -> Collector {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(State::default()));
        let st = state.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming().map_while(Result::ok) {
                let st = st.clone();
                std::thread::spawn(move || serve(conn, mode, st));
            }
        });
        Collector { addr, state }
    }

    /// `OTEL_EXPORTER_OTLP_ENDPOINT` for this receiver.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every span received so far.
    pub fn spans(&self) -> Vec<Span> {
        self.state.lock().unwrap().spans.clone()
    }

    /// Export requests received so far.
    pub fn requests(&self) -> usize {
        self.state.lock().unwrap().requests
    }

    pub fn content_types(&self) -> Vec<String> {
        self.state.lock().unwrap().content_types.clone()
    }

    /// Wait (up to 10 s) until `pick` finds something in the spans received.
    pub fn wait_for<T>(&self, what: &str, mut pick: impl FnMut(&[Span]) -> Option<T>) -> T {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let spans = self.spans();
            if let Some(v) = pick(&spans) {
                return v;
            }
            assert!(
                Instant::now() < deadline,
                "{what} never arrived; received {} spans: {:#?}",
                spans.len(),
                spans
                    .iter()
                    .map(|s| (&s.name, &s.attrs))
                    .collect::<Vec<_>>()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The first span named `name` whose attributes satisfy `f`.
    pub fn wait_span(&self, name: &str, f: impl Fn(&Span) -> bool) -> Span {
        self.wait_for(name, |spans| {
            spans.iter().find(|s| s.name == name && f(s)).cloned()
        })
    }
}

/// Read one HTTP/1.1 request (head and Content-Length body) from `buf` + `conn`.
fn read_request(conn: &mut TcpStream, buf: &mut Vec<u8>) -> Option<(String, Vec<u8>)> {
    let mut chunk = [0u8; 16384];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_string();
            let len: usize = head
                .lines()
                .filter_map(|l| l.split_once(':'))
                .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
                .and_then(|(_, v)| v.trim().parse().ok())
                .unwrap_or(0);
            while buf.len() < end + 4 + len {
                let n = conn.read(&mut chunk).ok()?;
                if n == 0 {
                    return None;
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            let body = buf[end + 4..end + 4 + len].to_vec();
            buf.drain(..end + 4 + len);
            return Some((head, body));
        }
        let n = conn.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn serve(mut conn: TcpStream, mode: Mode, state: Arc<Mutex<State>>) {
    let mut buf = Vec::new();
    while let Some((head, body)) = read_request(&mut conn, &mut buf) {
        let ctype = head
            .lines()
            .filter_map(|l| l.split_once(':'))
            .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-type"))
            .map(|(_, v)| v.trim().to_string())
            .unwrap_or_default();
        {
            let mut st = state.lock().unwrap();
            st.requests += 1;
            st.content_types.push(ctype);
        }
        match mode {
            Mode::Accept => {
                let spans = decode(&body);
                state.lock().unwrap().spans.extend(spans);
                let _ = conn.write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/x-protobuf\r\nContent-Length: 0\r\n\r\n",
                );
            }
            Mode::Refuse => {
                let _ = conn.write_all(
                    b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                );
                return;
            }
            Mode::Hang => {
                std::thread::sleep(Duration::from_secs(3600));
                return;
            }
        }
    }
}
