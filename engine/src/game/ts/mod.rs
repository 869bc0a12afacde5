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
            d.push_str(&pretty::pretty(&T::decl(self.cfg)));
            if let Some(old) = self.decls.insert(name.clone(), d) {
                panic!("two protocol types are named {name} in TypeScript: {old}");
            }
        }
        T::visit_dependencies(self);
        T::visit_generics(self);
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

mod checks;
mod pretty;
