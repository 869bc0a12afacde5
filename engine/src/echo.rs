//! Test hook `GET /ws/_test/echo` (only with `--test-hooks` / `ROOMCORE_TEST_HOOKS=1`;
//! otherwise the path answers 404): a WebSocket that sends every data message back to its
//! sender unchanged, text as text and binary as binary.
//!
//! It exists so a conformance suite (Autobahn|Testsuite cases 1–7 and 10, run by
//! `engine/tests/autobahn`) exercises the session driver every endpoint shares
//! ([`crate::session`]: decoder, limits, UTF-8, fragmentation, control frames, the close
//! handshake, rates, outbox and flusher). The session lives on the shard that accepted it
//! (no room, no hand-off).

use shards::stats::{self, Disconnect};
use shards::PushError;
use tungstenite::protocol::frame::coding::{Data, OpCode};

use crate::session::{Handler, Session};
use crate::stats::FrameOut;
use crate::ws::{self, Flow};

/// The path of the echo endpoint.
pub const PATH: &str = "/ws/_test/echo";

/// The echo endpoint's handler: no state.
#[derive(Debug, Default)]
pub struct Echo;

impl Handler for Echo {
    const IN_SPAN: bool = true;

    fn message(&mut self, s: &Session<'_>, text: bool, payload: &[u8]) -> Flow {
        let st = &s.shard.app.stats;
        let op = if text { Data::Text } else { Data::Binary };
        // Bounded by WS_MAX_BUFFERED_BYTES like a relayed message: a peer that does not read
        // its echoes is a slow consumer.
        match s.outbox.push(ws::encode(OpCode::Data(op), payload)) {
            Ok(()) => {
                st.frames_out.inc(FrameOut::Relay as usize);
                Flow::Continue
            }
            Err(PushError::Full) => {
                stats::inc(&st.slow_consumers_total);
                s.outbox.set_reason(Disconnect::SlowConsumer);
                s.outbox.kill(Some(ws::close_frame(1008, "slow consumer")));
                Flow::Stop
            }
            Err(PushError::Closed) => Flow::Stop,
        }
    }
}
