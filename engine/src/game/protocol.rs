//! The typed JSON protocol of `GET /ws`: client messages, validation, and the
//! error codes. No I/O, no room state.
//!
//! A message is a JSON object `{"type": ..., "seq": n, ...}`. It is parsed in
//! two steps so that every failure can still echo the `seq`: first the
//! envelope (`type`, `seq`), then the rest of the object into the struct of
//! that type, which refuses unknown fields. Strings have length limits; names
//! shown to other clients are HTML-escaped ([`sanitize_name`], seed 003 3.1).

use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::chess::TimeControl;
use super::party::PartySettings;

/// Longest player or room name (characters, before escaping).
pub const NAME_MAX: usize = 32;
/// Longest token, room id or other identifier accepted.
pub const TOKEN_MAX: usize = 512;

/// A refused message: `{"type":"error","code":..,"message":..,"seq":..}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtoError {
    pub code: &'static str,
    pub message: String,
}

impl ProtoError {
    pub fn new(code: &'static str, message: impl Into<String>) -> ProtoError {
        ProtoError {
            code,
            message: message.into(),
        }
    }
    fn invalid(message: impl Into<String>) -> ProtoError {
        ProtoError::new("invalid_message", message)
    }
}

/// Room kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Chess,
    Party,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Chess => "chess",
            Kind::Party => "party",
        }
    }
}

/// How a client joins a room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum JoinAs {
    Player,
    Spectator,
}

/// Chess room settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(deny_unknown_fields)]
pub struct ChessSettings {
    #[serde(default = "default_initial")]
    #[cfg_attr(test, ts(as = "Option<u64>", optional))]
    pub initial_secs: u64,
    #[serde(default = "default_increment")]
    #[cfg_attr(test, ts(as = "Option<u64>", optional))]
    pub increment_secs: u64,
}

fn default_initial() -> u64 {
    300
}
fn default_increment() -> u64 {
    2
}

impl Default for ChessSettings {
    fn default() -> Self {
        ChessSettings {
            initial_secs: default_initial(),
            increment_secs: default_increment(),
        }
    }
}

impl ChessSettings {
    pub fn time_control(&self) -> Result<TimeControl, ProtoError> {
        if !(1..=10_800).contains(&self.initial_secs) || self.increment_secs > 180 {
            return Err(ProtoError::new(
                "invalid_settings",
                "initial_secs must be 1 to 10800 and increment_secs 0 to 180",
            ));
        }
        Ok(TimeControl {
            initial_ms: self.initial_secs * 1000,
            increment_ms: self.increment_secs * 1000,
        })
    }
}

/// Settings of `create_room`, by kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settings {
    Chess(ChessSettings),
    Party(PartySettings),
}

/// Every message a client may send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientMsg {
    Hello {
        token: String,
    },
    Ping,
    ListRooms {
        kind: Option<Kind>,
    },
    CreateRoom {
        name: String,
        settings: Settings,
    },
    JoinRoom {
        room: String,
        role: JoinAs,
    },
    LeaveRoom,
    State,
    Move {
        mv: String,
    },
    Resign,
    OfferDraw,
    AcceptDraw,
    DeclineDraw,
    ClaimSlot {
        slot: usize,
        name: Option<String>,
    },
    UpdateSettings {
        settings: PartySettings,
    },
    Start,
    Switch,
    Pause,
    Resume,
    Reset,
    Eliminate {
        slot: usize,
    },
    Reconnect {
        token: String,
        last_seq: u64,
    },
    Queue {
        mode: String,
        region: String,
        party: Vec<String>,
    },
    CancelQueue,
}

impl ClientMsg {
    /// Whether this message must be handled on the room's owner shard.
    pub fn room_bound(&self) -> Option<&str> {
        match self {
            ClientMsg::JoinRoom { room, .. } => Some(room),
            ClientMsg::Reconnect { token, .. } => token.split_once('.').map(|(r, _)| r),
            _ => None,
        }
    }
}

/// Escape what HTML would interpret, after trimming; refuse control
/// characters and names over [`NAME_MAX`] characters.
pub fn sanitize_name(raw: &str) -> Result<String, ProtoError> {
    let t = raw.trim();
    let n = t.chars().count();
    if n == 0 || n > NAME_MAX {
        return Err(ProtoError::invalid(format!(
            "names must be 1 to {NAME_MAX} characters"
        )));
    }
    if t.chars().any(char::is_control) {
        return Err(ProtoError::invalid(
            "names may not contain control characters",
        ));
    }
    let mut out = String::with_capacity(t.len());
    for c in t.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '/' => out.push_str("&#x2F;"),
            c => out.push(c),
        }
    }
    Ok(out)
}

fn check_len(what: &str, s: &str, max: usize) -> Result<(), ProtoError> {
    if s.is_empty() || s.len() > max {
        return Err(ProtoError::invalid(format!(
            "{what} must be 1 to {max} bytes"
        )));
    }
    Ok(())
}

fn body<T: DeserializeOwned>(rest: Map<String, Value>) -> Result<T, ProtoError> {
    serde_json::from_value(Value::Object(rest)).map_err(|e| ProtoError::invalid(e.to_string()))
}

fn empty(rest: Map<String, Value>) -> Result<(), ProtoError> {
    match rest.keys().next() {
        None => Ok(()),
        Some(k) => Err(ProtoError::invalid(format!("unknown field `{k}`"))),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HelloB {
    token: String,
}
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListB {
    kind: Option<Kind>,
}
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateB {
    kind: Kind,
    name: String,
    #[serde(default)]
    settings: Option<Value>,
}
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JoinB {
    room: String,
    #[serde(default)]
    role: Option<JoinAs>,
}
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MoveB {
    #[serde(rename = "move")]
    mv: String,
}
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClaimB {
    slot: usize,
    #[serde(default)]
    name: Option<String>,
}
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SettingsB {
    settings: PartySettings,
}
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SlotB {
    slot: usize,
}
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReconnectB {
    token: String,
    #[serde(default)]
    last_seq: u64,
}
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct QueueB {
    mode: String,
    #[serde(default = "default_region")]
    region: String,
    #[serde(default)]
    party: Vec<String>,
}
fn default_region() -> String {
    "any".into()
}

/// Parse one text message: the echoed `seq` (if any could be read) and the
/// message or why it was refused.
pub fn parse(text: &[u8]) -> (Option<u64>, Result<ClientMsg, ProtoError>) {
    let (env, msg) = parse_envelope(text);
    (env.seq, msg)
}

/// The envelope of a message: what every message may carry besides its body.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// The `seq` replies echo.
    pub seq: Option<u64>,
    /// The `type`.
    pub kind: Option<String>,
    /// An optional W3C `traceparent` (`00-<trace id>-<span id>-<flags>`): the message's span
    /// becomes its child. A malformed value is ignored, as the W3C specification asks.
    pub traceparent: Option<String>,
}

/// [`parse`], with the whole envelope.
pub fn parse_envelope(text: &[u8]) -> (Envelope, Result<ClientMsg, ProtoError>) {
    let mut env = Envelope::default();
    let mut obj = match serde_json::from_slice::<Value>(text) {
        Ok(Value::Object(o)) => o,
        Ok(_) => return (env, Err(ProtoError::invalid("a message is a JSON object"))),
        Err(e) => return (env, Err(ProtoError::invalid(format!("invalid JSON: {e}")))),
    };
    env.seq = match obj.remove("seq") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) if n.as_u64().is_some() => n.as_u64(),
        Some(_) => {
            return (
                env,
                Err(ProtoError::invalid("seq must be a non-negative integer")),
            )
        }
    };
    env.traceparent = match obj.remove("traceparent") {
        None | Some(Value::Null) => None,
        Some(Value::String(t)) => Some(t),
        Some(_) => {
            return (
                env,
                Err(ProtoError::invalid(
                    "traceparent must be a W3C traceparent string",
                )),
            )
        }
    };
    let ty = match obj.remove("type") {
        Some(Value::String(s)) => s,
        _ => return (env, Err(ProtoError::invalid("missing string field `type`"))),
    };
    let msg = parse_body(&ty, obj);
    env.kind = Some(ty);
    (env, msg)
}

fn parse_body(ty: &str, rest: Map<String, Value>) -> Result<ClientMsg, ProtoError> {
    let m = match ty {
        "hello" => {
            let b: HelloB = body(rest)?;
            check_len("token", &b.token, TOKEN_MAX)?;
            ClientMsg::Hello { token: b.token }
        }
        "ping" => empty(rest).map(|_| ClientMsg::Ping)?,
        "list_rooms" => ClientMsg::ListRooms {
            kind: body::<ListB>(rest)?.kind,
        },
        "create_room" => {
            let b: CreateB = body(rest)?;
            let name = sanitize_name(&b.name)?;
            let raw = b.settings.unwrap_or(Value::Object(Map::new()));
            let settings = match b.kind {
                Kind::Chess => Settings::Chess(
                    serde_json::from_value(raw)
                        .map_err(|e| ProtoError::new("invalid_settings", e.to_string()))?,
                ),
                Kind::Party => {
                    let s: PartySettings = if raw.as_object().is_some_and(|o| o.is_empty()) {
                        PartySettings::default()
                    } else {
                        serde_json::from_value(raw)
                            .map_err(|e| ProtoError::new("invalid_settings", e.to_string()))?
                    };
                    s.validate()
                        .map_err(|e| ProtoError::new("invalid_settings", e))?;
                    Settings::Party(s)
                }
            };
            if let Settings::Chess(c) = settings {
                c.time_control()?;
            }
            ClientMsg::CreateRoom { name, settings }
        }
        "join_room" => {
            let b: JoinB = body(rest)?;
            check_len("room", &b.room, 64)?;
            ClientMsg::JoinRoom {
                room: b.room,
                role: b.role.unwrap_or(JoinAs::Player),
            }
        }
        "leave_room" => empty(rest).map(|_| ClientMsg::LeaveRoom)?,
        "state" => empty(rest).map(|_| ClientMsg::State)?,
        "move" => {
            let b: MoveB = body(rest)?;
            check_len("move", &b.mv, 10)?;
            ClientMsg::Move { mv: b.mv }
        }
        "resign" => empty(rest).map(|_| ClientMsg::Resign)?,
        "offer_draw" => empty(rest).map(|_| ClientMsg::OfferDraw)?,
        "accept_draw" => empty(rest).map(|_| ClientMsg::AcceptDraw)?,
        "decline_draw" => empty(rest).map(|_| ClientMsg::DeclineDraw)?,
        "claim_slot" => {
            let b: ClaimB = body(rest)?;
            let name = b.name.as_deref().map(sanitize_name).transpose()?;
            ClientMsg::ClaimSlot { slot: b.slot, name }
        }
        "update_settings" => {
            let b: SettingsB = body(rest)?;
            ClientMsg::UpdateSettings {
                settings: b.settings,
            }
        }
        "start" => empty(rest).map(|_| ClientMsg::Start)?,
        "switch" => empty(rest).map(|_| ClientMsg::Switch)?,
        "pause" => empty(rest).map(|_| ClientMsg::Pause)?,
        "resume" => empty(rest).map(|_| ClientMsg::Resume)?,
        "reset" => empty(rest).map(|_| ClientMsg::Reset)?,
        "eliminate" => ClientMsg::Eliminate {
            slot: body::<SlotB>(rest)?.slot,
        },
        "reconnect" => {
            let b: ReconnectB = body(rest)?;
            check_len("token", &b.token, 128)?;
            if !b.token.contains('.') {
                return Err(ProtoError::new(
                    "invalid_token",
                    "malformed reconnect token",
                ));
            }
            ClientMsg::Reconnect {
                token: b.token,
                last_seq: b.last_seq,
            }
        }
        "queue" => {
            let b: QueueB = body(rest)?;
            let ok = |s: &str| {
                !s.is_empty()
                    && s.len() <= 32
                    && s.bytes()
                        .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-')
            };
            if !ok(&b.mode) || !ok(&b.region) {
                return Err(ProtoError::invalid(
                    "mode and region are 1 to 32 of [A-Za-z0-9_-]",
                ));
            }
            if b.party.len() > 8 {
                return Err(ProtoError::invalid("a party has at most 8 members"));
            }
            for t in &b.party {
                check_len("party token", t, TOKEN_MAX)?;
            }
            ClientMsg::Queue {
                mode: b.mode,
                region: b.region,
                party: b.party,
            }
        }
        "cancel_queue" => empty(rest).map(|_| ClientMsg::CancelQueue)?,
        other => {
            let shown: String = other.chars().take(32).collect();
            return Err(ProtoError::new(
                "unknown_type",
                format!("unknown message type `{shown}`"),
            ));
        }
    };
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_and_bodies() {
        let (seq, m) = parse(br#"{"type":"move","seq":7,"move":"e2e4"}"#);
        assert_eq!(seq, Some(7));
        assert_eq!(m.unwrap(), ClientMsg::Move { mv: "e2e4".into() });
        let (seq, m) = parse(br#"{"type":"move","seq":8,"move":"e2e4","x":1}"#);
        assert_eq!(seq, Some(8));
        let e = m.unwrap_err();
        assert_eq!(e.code, "invalid_message");
        assert!(e.message.contains("unknown field"), "{e:?}");
        let (_, m) = parse(br#"{"type":"resign","seq":1,"why":"x"}"#);
        assert_eq!(m.unwrap_err().code, "invalid_message");
        let (seq, m) = parse(br#"{"type":"fly","seq":3}"#);
        assert_eq!((seq, m.unwrap_err().code), (Some(3), "unknown_type"));
        assert_eq!(parse(b"[1]").1.unwrap_err().code, "invalid_message");
        assert_eq!(parse(b"{").1.unwrap_err().code, "invalid_message");
        let long = format!(r#"{{"type":"move","move":"{}"}}"#, "a".repeat(11));
        assert_eq!(
            parse(long.as_bytes()).1.unwrap_err().code,
            "invalid_message"
        );
    }

    #[test]
    fn the_envelope_carries_an_optional_traceparent() {
        let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let raw = format!(r#"{{"type":"move","seq":4,"move":"e2e4","traceparent":"{tp}"}}"#);
        let (env, m) = parse_envelope(raw.as_bytes());
        assert!(m.is_ok(), "{m:?}");
        assert_eq!(env.seq, Some(4));
        assert_eq!(env.kind.as_deref(), Some("move"));
        assert_eq!(env.traceparent.as_deref(), Some(tp));
        let (env, m) = parse_envelope(br#"{"type":"ping","seq":5,"traceparent":7}"#);
        assert_eq!(env.seq, Some(5));
        assert_eq!(m.unwrap_err().code, "invalid_message");
        let (env, m) = parse_envelope(br#"{"type":"ping"}"#);
        assert!(m.is_ok() && env.traceparent.is_none());
    }

    #[test]
    fn garbage_and_mutations_never_panic() {
        let valid: &[&[u8]] = &[
            br#"{"type":"move","seq":1,"move":"e2e4"}"#,
            br#"{"type":"create_room","kind":"party","name":"x","settings":{"slots":3,"turn_secs":5}}"#,
            br#"{"type":"queue","mode":"chess","region":"eu","party":["t"]}"#,
            br#"{"type":"reconnect","token":"r.0123456789abcdef0123456789abcdef","last_seq":3}"#,
        ];
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for _ in 0..20_000 {
            let base = valid[(next() % valid.len() as u64) as usize];
            let mut m = base.to_vec();
            for _ in 0..(next() % 4) {
                let i = (next() % m.len() as u64) as usize;
                m[i] = (next() & 0xff) as u8;
            }
            if next() % 3 == 0 {
                m.truncate((next() % m.len() as u64) as usize);
            }
            let _ = parse(&m);
        }
    }

    #[test]
    fn names_are_escaped_and_bounded() {
        assert_eq!(
            sanitize_name(" <b>Bob</b> ").unwrap(),
            "&lt;b&gt;Bob&lt;&#x2F;b&gt;"
        );
        assert!(sanitize_name("").is_err());
        assert!(sanitize_name(&"x".repeat(33)).is_err());
        assert!(sanitize_name("a\u{7}b").is_err());
        let (_, m) = parse(br#"{"type":"create_room","kind":"party","name":"<img src=x>"}"#);
        match m.unwrap() {
            ClientMsg::CreateRoom { name, .. } => assert!(!name.contains('<')),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn settings_are_validated_per_kind() {
        let (_, m) = parse(
            br#"{"type":"create_room","kind":"chess","name":"g","settings":{"initial_secs":0}}"#,
        );
        assert_eq!(m.unwrap_err().code, "invalid_settings");
        let (_, m) = parse(
            br#"{"type":"create_room","kind":"party","name":"g","settings":{"slots":9,"turn_secs":5}}"#,
        );
        assert_eq!(m.unwrap_err().code, "invalid_settings");
        let (_, m) = parse(br#"{"type":"create_room","kind":"chess","name":"g"}"#);
        assert!(matches!(
            m.unwrap(),
            ClientMsg::CreateRoom {
                settings: Settings::Chess(_),
                ..
            }
        ));
    }
}
