//! The TypeScript types of the game protocol, generated from the Rust types (test builds only).
//!
//! Every server message type derives `ts_rs::TS` under `cfg(test)` (the release binary is
//! unaffected; `ts-rs` is a dev-dependency), with `#[ts(...)]` annotations where the Rust type
//! says less than the wire (a `&'static str` that is always a [`Side`], `free` that is always
//! `true` on a free seat, ...). [`generate`] walks every type reachable from the roots below and
//! writes one file, `clients/js/src/protocol.gen.ts`; the hand-written part of the client
//! (`clients/js/src/protocol.ts`) only names and narrows these types.
//!
//! Client messages are parsed by hand in two steps ([`protocol::parse`]: the envelope, then a
//! private body struct per type), so they are described here once more as a serde-typed wire
//! enum, [`ClientBody`], used only for generation. `client_wire_matches_the_parser` keeps the
//! two in step: a sample of every variant is accepted by both, and dropping any field or adding
//! an unknown one is accepted or refused by both alike.
//!
//! `protocol_ts_is_current` fails when the committed file is stale; refresh it with
//! `npm run gen` in `clients/js` (or `UPDATE_PROTOCOL_TS=1 cargo test -p roomcore --lib game::ts`).
//! A type newly used inside a protocol type needs `#[cfg_attr(test, derive(ts_rs::TS))]` too
//! (the test build says so), and a `&'static str` with a fixed set of values a `#[ts(as)]`.
//!
//! [`Side`]: super::chess::Side
//! [`protocol::parse`]: super::protocol::parse

use std::any::TypeId;
use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use ts_rs::{Config, TypeVisitor, TS};

use super::events::{RoomEvent, ServerEvent};
use super::protocol::{ChessSettings, JoinAs, Kind};
use super::tickets::TicketView;
use super::views::LiveGame;

/// A chess result as the server writes it (`Finish::result`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
pub enum GameResult {
    #[serde(rename = "1-0")]
    WhiteWon,
    #[serde(rename = "0-1")]
    BlackWon,
    #[serde(rename = "1/2-1/2")]
    Draw,
}

/// Party settings as a client sends them (`create_room`, `update_settings`): `rounds` may be
/// left out (0). The server always writes it (`PartySettings`).
#[derive(Debug, Deserialize, TS)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // read by serde and ts-rs only
struct PartySettingsInput {
    /// 2..8 (4 when no settings are given).
    slots: u8,
    /// 1..3600 (30).
    turn_secs: u32,
    /// 0..100 (0 = until one player is left).
    #[serde(default)]
    #[ts(optional)]
    rounds: Option<u32>,
}

/// `create_room`, by kind.
#[derive(Debug, Deserialize, TS)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
#[ts(rename = "CreateRoom")]
#[allow(dead_code)]
enum CreateRoomBody {
    Chess {
        name: String,
        #[serde(default)]
        #[ts(optional)]
        settings: Option<ChessSettings>,
    },
    Party {
        name: String,
        #[serde(default)]
        #[ts(optional)]
        settings: Option<PartySettingsInput>,
    },
}

/// Every message a client may send, without the envelope's `seq` (see [`ClientEnvelope`]).
/// Mirrors `protocol::parse_body`; only for generation and its test.
#[derive(Debug, Deserialize, TS)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
#[allow(dead_code)]
enum ClientBody {
    Hello {
        /// From `/api/auth/guest`, `/login` or `/register`.
        token: String,
    },
    Ping {},
    ListRooms {
        #[serde(default)]
        #[ts(optional)]
        kind: Option<Kind>,
    },
    CreateRoom(CreateRoomBody),
    JoinRoom {
        room: String,
        /// `player` when left out.
        #[serde(default)]
        #[ts(optional)]
        role: Option<JoinAs>,
    },
    LeaveRoom {},
    State {},
    Move {
        /// UCI (`e2e4`, `e7e8q`) or SAN (`Nf3`).
        #[serde(rename = "move")]
        mv: String,
    },
    Resign {},
    OfferDraw {},
    AcceptDraw {},
    DeclineDraw {},
    ClaimSlot {
        slot: usize,
        /// The account's name when left out.
        #[serde(default)]
        #[ts(optional)]
        name: Option<String>,
    },
    UpdateSettings {
        settings: PartySettingsInput,
    },
    Start {},
    Switch {},
    Pause {},
    Resume {},
    Reset {},
    Eliminate {
        slot: usize,
    },
    Reconnect {
        token: String,
        /// The highest `room_seq` applied (0 when left out).
        #[serde(default)]
        #[ts(optional)]
        last_seq: Option<u64>,
    },
    Queue {
        mode: String,
        /// `any` when left out.
        #[serde(default)]
        #[ts(optional)]
        region: Option<String>,
        /// Account tokens of the other members of a party.
        #[serde(default)]
        #[ts(optional)]
        party: Option<Vec<String>>,
    },
    CancelQueue {},
}

/// A client message: a body and the optional `seq` echoed on its answer.
#[derive(TS)]
#[ts(rename = "ClientMessage")]
#[allow(dead_code)]
struct ClientEnvelope {
    /// Echoed on the answer.
    #[ts(optional)]
    seq: Option<u64>,
    #[ts(flatten)]
    body: ClientBody,
}

/// Where the generated file lives.
fn target() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../clients/js/src/protocol.gen.ts")
}

const HEADER: &str = "\
// GENERATED from the server's Rust protocol types by engine/src/game/ts.rs (ts-rs): do not edit.
// Refresh with `npm run gen` in clients/js; `cargo test -p roomcore --lib game::ts` fails while
// this file is stale. Hand-written names, narrowings and constants are in protocol.ts.
";

/// Collects the declaration of every type reachable from the roots, by TypeScript name.
struct Collect<'a> {
    cfg: &'a Config,
    seen: HashSet<TypeId>,
    decls: BTreeMap<String, String>,
}

impl TypeVisitor for Collect<'_> {
    fn visit<T: TS + 'static + ?Sized>(&mut self) {
        if !self.seen.insert(TypeId::of::<T>()) {
            return;
        }
        if T::output_path().is_some() {
            let name = T::ident(self.cfg);
            let mut d = T::docs().unwrap_or_default();
            d.push_str("export ");
            d.push_str(&pretty(&T::decl(self.cfg)));
            if let Some(old) = self.decls.insert(name.clone(), d) {
                panic!("two protocol types are named {name} in TypeScript: {old}");
            }
        }
        T::visit_dependencies(self);
        T::visit_generics(self);
    }
}

/// A piece of a ts-rs declaration.
#[derive(Debug, Clone, PartialEq)]
enum Tok {
    /// `{ } ( ) , | & ;`
    P(char),
    /// A JSDoc comment's lines.
    Doc(Vec<String>),
    /// Anything else up to white space or punctuation (`seq?:`, `"type":`, `Array<string>`).
    W(String),
}

fn tokens(s: &str) -> Vec<Tok> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(c) = rest.chars().next() {
        if c.is_whitespace() {
            rest = &rest[c.len_utf8()..];
        } else if let Some(body) = rest.strip_prefix("/**") {
            let end = body.find("*/").expect("a closed comment");
            let lines = body[..end]
                .lines()
                .map(|l| l.trim().trim_start_matches('*').trim().to_string())
                .filter(|l| !l.is_empty())
                .collect();
            out.push(Tok::Doc(lines));
            rest = &body[end + 2..];
        } else if "{}(),|&;".contains(c) {
            out.push(Tok::P(c));
            rest = &rest[1..];
        } else {
            let mut end = 0;
            let mut quoted = false;
            for (i, ch) in rest.char_indices() {
                if ch == '"' {
                    quoted = !quoted;
                } else if !quoted && (ch.is_whitespace() || "{}(),|&;".contains(ch)) {
                    break;
                }
                end = i + ch.len_utf8();
            }
            out.push(Tok::W(rest[..end].to_string()));
            rest = &rest[end..];
        }
    }
    out
}

/// The index of the token closing the bracket opened at `open`.
fn closing(t: &[Tok], open: usize) -> usize {
    let mut depth = 0;
    for (i, x) in t.iter().enumerate().skip(open) {
        match x {
            Tok::P('{' | '(') => depth += 1,
            Tok::P('}' | ')') => {
                depth -= 1;
                if depth == 0 {
                    return i;
                }
            }
            _ => {}
        }
    }
    panic!("unbalanced declaration");
}

/// Whether `t[from..to]` has a `|` outside any bracket.
fn union_at(t: &[Tok], from: usize, to: usize) -> bool {
    let mut depth = 0;
    for x in &t[from..to] {
        match x {
            Tok::P('{' | '(') => depth += 1,
            Tok::P('}' | ')') => depth -= 1,
            Tok::P('|') if depth == 0 => return true,
            _ => {}
        }
    }
    false
}

/// One line per field and per union member (ts-rs writes a declaration on one line). Short
/// objects without comments stay on one line.
fn pretty(decl: &str) -> String {
    let t = tokens(decl);
    let eq = t
        .iter()
        .position(|x| *x == Tok::W("=".into()))
        .expect("a type declaration");
    let mut out = String::new();
    for x in &t[..=eq] {
        if let Tok::W(w) = x {
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(w);
        }
    }
    let end = t.len() - usize::from(t.last() == Some(&Tok::P(';')));
    let body = &t[eq + 1..end];
    let flat_len: usize = body
        .iter()
        .map(|x| match x {
            Tok::W(w) => w.len() + 1,
            _ => 2,
        })
        .sum();
    let nested = body.iter().any(|x| matches!(x, Tok::P('{' | '(')));
    if union_at(&t, eq + 1, end) && (nested || out.len() + flat_len > 96) {
        out.push_str("\n  | ");
        fmt(body, 1, Mode::Union, &mut out);
    } else {
        out.push(' ');
        fmt(body, 0, Mode::Block, &mut out);
    }
    out.push(';');
    out
}

/// How `fmt` lays out separators at its own level.
#[derive(Clone, Copy, PartialEq)]
enum Mode {
    /// `,` ends a line.
    Block,
    /// `|` starts a line.
    Union,
    /// Everything on one line.
    Inline,
}

fn indent(out: &mut String, level: usize) {
    out.push('\n');
    for _ in 0..level {
        out.push_str("  ");
    }
}

fn space(out: &mut String) {
    if !out.ends_with([' ', '\n', '(']) {
        out.push(' ');
    }
}

/// `t` at `level`, its separators laid out by `mode`.
fn fmt(t: &[Tok], level: usize, mode: Mode, out: &mut String) {
    let mut i = 0;
    while i < t.len() {
        match &t[i] {
            Tok::P(open @ ('{' | '(')) => {
                let close = closing(t, i);
                let inner = &t[i + 1..close];
                let flat = inner
                    .iter()
                    .all(|x| !matches!(x, Tok::Doc(_) | Tok::P('{' | '(')));
                let text_len: usize = inner
                    .iter()
                    .map(|x| match x {
                        Tok::W(w) => w.len() + 1,
                        _ => 2,
                    })
                    .sum();
                space(out);
                if *open == '{' && inner.is_empty() {
                    out.push_str("{}");
                } else if *open == '{' && flat && text_len + level * 2 <= 72 {
                    out.push_str("{ ");
                    let n = inner.len() - usize::from(inner.last() == Some(&Tok::P(',')));
                    fmt(&inner[..n], level, Mode::Inline, out);
                    out.push_str(" }");
                } else if *open == '{' {
                    out.push('{');
                    indent(out, level + 1);
                    fmt(inner, level + 1, Mode::Block, out);
                    let n = out.trim_end().len();
                    out.truncate(n);
                    if !out.ends_with(',') && !out.ends_with('{') {
                        out.push(',');
                    }
                    indent(out, level);
                    out.push('}');
                } else if union_at(inner, 0, inner.len()) {
                    out.push('(');
                    indent(out, level + 1);
                    out.push_str("| ");
                    fmt(inner, level + 1, Mode::Union, out);
                    indent(out, level);
                    out.push(')');
                } else {
                    out.push('(');
                    fmt(inner, level, Mode::Inline, out);
                    out.push(')');
                }
                i = close + 1;
                continue;
            }
            Tok::P(',') if mode == Mode::Block => {
                out.push(',');
                if i + 1 < t.len() {
                    indent(out, level);
                }
            }
            Tok::P(',') => out.push_str(", "),
            Tok::P('|') if mode == Mode::Union => {
                indent(out, level);
                out.push_str("| ");
            }
            Tok::P(c @ ('|' | '&')) => {
                space(out);
                out.push(*c);
                out.push(' ');
            }
            Tok::P(c) => out.push(*c),
            Tok::Doc(lines) => {
                if lines.len() == 1 {
                    out.push_str(&format!("/** {} */", lines[0]));
                } else {
                    out.push_str("/**");
                    for l in lines {
                        indent(out, level);
                        out.push_str(" * ");
                        out.push_str(l);
                    }
                    indent(out, level);
                    out.push_str(" */");
                }
                indent(out, level);
            }
            Tok::W(w) => {
                space(out);
                out.push_str(w);
            }
        }
        i += 1;
    }
}

/// The whole generated file.
fn generate() -> String {
    let cfg = Config::new().with_large_int("number");
    let mut c = Collect {
        cfg: &cfg,
        seen: HashSet::new(),
        decls: BTreeMap::new(),
    };
    c.visit::<ServerEvent>();
    c.visit::<RoomEvent>();
    c.visit::<ClientEnvelope>();
    c.visit::<TicketView>();
    c.visit::<LiveGame>();
    let mut out = String::from(HEADER);
    for d in c.decls.values() {
        out.push('\n');
        out.push_str(d);
        out.push('\n');
    }
    // `RoomEvent::encode` adds the room's numbering to every event (checked below).
    out.push_str(
        "\n/** A room event as it is sent: with its room and its number there (`RoomEvent::encode`). */\n\
         export type RoomEventMessage = RoomEvent & { room: string, room_seq: number, };\n",
    );
    out
}

#[test]
fn protocol_ts_is_current() {
    let want = generate();
    let path = target();
    let have = std::fs::read_to_string(&path).unwrap_or_default();
    if have == want {
        return;
    }
    if std::env::var_os("UPDATE_PROTOCOL_TS").is_some() {
        std::fs::write(&path, &want).expect("write clients/js/src/protocol.gen.ts");
        return;
    }
    let line = have
        .lines()
        .zip(want.lines())
        .position(|(a, b)| a != b)
        .unwrap_or_else(|| have.lines().count().min(want.lines().count()));
    panic!(
        "clients/js/src/protocol.gen.ts is stale (first difference at line {}): it does not match \
         the Rust protocol types. Refresh it with `npm run gen` in clients/js (or \
         `UPDATE_PROTOCOL_TS=1 cargo test -p roomcore --lib game::ts`), then rebuild the client \
         (`npm run build && npm run build:demo`) and commit both.",
        line + 1
    );
}

mod checks {
    use serde_json::{json, Map, Value};

    use super::super::chess::{Finish, Reason, Side};
    use super::super::events::RoomEvent;
    use super::super::protocol::{parse, ClientMsg, Kind};
    use super::{ClientBody, GameResult};

    /// Every client message with every optional field set.
    fn samples() -> Vec<Value> {
        let token = "r-1.0123456789abcdef0123456789abcdef";
        vec![
            json!({"type": "hello", "token": "t"}),
            json!({"type": "ping"}),
            json!({"type": "list_rooms", "kind": "chess"}),
            json!({"type": "create_room", "kind": "chess", "name": "g",
                   "settings": {"initial_secs": 60, "increment_secs": 1}}),
            json!({"type": "create_room", "kind": "party", "name": "g",
                   "settings": {"slots": 3, "turn_secs": 5, "rounds": 2}}),
            json!({"type": "join_room", "room": "c-1", "role": "spectator"}),
            json!({"type": "leave_room"}),
            json!({"type": "state"}),
            json!({"type": "move", "move": "e2e4"}),
            json!({"type": "resign"}),
            json!({"type": "offer_draw"}),
            json!({"type": "accept_draw"}),
            json!({"type": "decline_draw"}),
            json!({"type": "claim_slot", "slot": 1, "name": "Ann"}),
            json!({"type": "update_settings", "settings": {"slots": 3, "turn_secs": 5, "rounds": 1}}),
            json!({"type": "start"}),
            json!({"type": "switch"}),
            json!({"type": "pause"}),
            json!({"type": "resume"}),
            json!({"type": "reset"}),
            json!({"type": "eliminate", "slot": 0}),
            json!({"type": "reconnect", "token": token, "last_seq": 3}),
            json!({"type": "queue", "mode": "chess", "region": "eu", "party": ["t"]}),
            json!({"type": "cancel_queue"}),
        ]
    }

    /// The wire name of a parsed message. Exhaustive: a new `ClientMsg` variant does not
    /// compile here until it has a name (then add it to `ClientBody` and `samples`).
    fn name(m: &ClientMsg) -> &'static str {
        match m {
            ClientMsg::Hello { .. } => "hello",
            ClientMsg::Ping => "ping",
            ClientMsg::ListRooms { .. } => "list_rooms",
            ClientMsg::CreateRoom { .. } => "create_room",
            ClientMsg::JoinRoom { .. } => "join_room",
            ClientMsg::LeaveRoom => "leave_room",
            ClientMsg::State => "state",
            ClientMsg::Move { .. } => "move",
            ClientMsg::Resign => "resign",
            ClientMsg::OfferDraw => "offer_draw",
            ClientMsg::AcceptDraw => "accept_draw",
            ClientMsg::DeclineDraw => "decline_draw",
            ClientMsg::ClaimSlot { .. } => "claim_slot",
            ClientMsg::UpdateSettings { .. } => "update_settings",
            ClientMsg::Start => "start",
            ClientMsg::Switch => "switch",
            ClientMsg::Pause => "pause",
            ClientMsg::Resume => "resume",
            ClientMsg::Reset => "reset",
            ClientMsg::Eliminate { .. } => "eliminate",
            ClientMsg::Reconnect { .. } => "reconnect",
            ClientMsg::Queue { .. } => "queue",
            ClientMsg::CancelQueue => "cancel_queue",
        }
    }

    /// Whether the real parser accepts `v` (with a `seq`, which the wire enum does not carry).
    fn real(v: &Value) -> Result<&'static str, String> {
        let mut o = v.as_object().unwrap().clone();
        o.insert("seq".into(), json!(9));
        let (seq, m) = parse(Value::Object(o).to_string().as_bytes());
        assert_eq!(seq, Some(9), "seq is echoed for {v}");
        m.map(|m| name(&m))
            .map_err(|e| format!("{}: {}", e.code, e.message))
    }

    fn wire(v: &Value) -> Result<(), String> {
        serde_json::from_value::<ClientBody>(v.clone())
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    /// The paths of every object in `v` (the root first).
    fn objects(v: &Value, path: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
        let Value::Object(o) = v else { return };
        out.push(path.clone());
        for (k, child) in o {
            path.push(k.clone());
            objects(child, path, out);
            path.pop();
        }
    }

    /// `v` with an unknown field added to one of its objects, or one field removed.
    fn mutations(v: &Value) -> Vec<(String, Value)> {
        let mut paths = Vec::new();
        objects(v, &mut Vec::new(), &mut paths);
        let mut out = Vec::new();
        for p in paths {
            let at = if p.is_empty() {
                "the message".to_string()
            } else {
                p.join(".")
            };
            let mut extra = v.clone();
            object_at(&mut extra, &p).insert("zz_unknown".into(), json!(1));
            out.push((format!("an unknown field in {at}"), extra));
            let keys: Vec<String> = object_at(&mut v.clone(), &p).keys().cloned().collect();
            for k in keys {
                if p.is_empty() && k == "type" {
                    continue;
                }
                let mut dropped = v.clone();
                object_at(&mut dropped, &p).remove(&k);
                out.push((format!("`{k}` left out of {at}"), dropped));
            }
        }
        out
    }

    fn object_at<'a>(v: &'a mut Value, path: &[String]) -> &'a mut Map<String, Value> {
        let mut cur = v;
        for k in path {
            cur = cur.get_mut(k).unwrap();
        }
        cur.as_object_mut().unwrap()
    }

    #[test]
    fn client_wire_matches_the_parser() {
        let samples = samples();
        // Every variant of the wire enum has a sample (serde lists them on an unknown one).
        let err = serde_json::from_value::<ClientBody>(json!({"type": "zz"}))
            .unwrap_err()
            .to_string();
        let listed = err.split("expected one of ").nth(1).expect(&err);
        for ty in listed
            .split(", ")
            .map(|s| s.trim_matches(|c| c == '`' || c == ' '))
        {
            assert!(
                samples.iter().any(|s| s["type"] == ty),
                "no sample of `{ty}`"
            );
        }
        for s in &samples {
            let ty = s["type"].as_str().unwrap();
            assert_eq!(real(s), Ok(ty), "the parser accepts the sample {s}");
            assert_eq!(wire(s), Ok(()), "the wire enum accepts the sample {s}");
            for (what, v) in mutations(s) {
                assert_eq!(
                    real(&v).is_ok(),
                    wire(&v).is_ok(),
                    "`{ty}` with {what}: the parser says {:?}, the wire enum {:?}",
                    real(&v),
                    wire(&v)
                );
            }
        }
    }

    #[test]
    fn annotated_strings_are_what_the_server_writes() {
        // `#[ts(as = "Side")]` on the `&'static str` sides, `GameResult` on the results.
        for s in [Side::White, Side::Black] {
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        for (winner, r) in [
            (Some(Side::White), GameResult::WhiteWon),
            (Some(Side::Black), GameResult::BlackWon),
            (None, GameResult::Draw),
        ] {
            let f = Finish {
                winner,
                reason: Reason::Resignation,
            };
            assert_eq!(serde_json::to_value(r).unwrap(), f.result());
        }
        // `#[ts(as = "Kind")]` on `match_found.kind`.
        for k in [Kind::Chess, Kind::Party] {
            assert_eq!(serde_json::to_value(k).unwrap(), k.as_str());
        }
        // `RoomEventMessage`: an event's own fields plus `room` and `room_seq`.
        let ev = RoomEvent::DrawOffered { by: "white" };
        let alone = serde_json::to_value(&ev).unwrap();
        let (_, text) = ev.encode("c-1", 4);
        let mut sent: Value = serde_json::from_str(&text).unwrap();
        let o = sent.as_object_mut().unwrap();
        assert_eq!(o.remove("room"), Some(json!("c-1")));
        assert_eq!(o.remove("room_seq"), Some(json!(4)));
        assert_eq!(sent, alone);
    }
}
