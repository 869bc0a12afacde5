//! Per-frame handling of the session driver: rates, control frames, protocol errors.

use std::time::Instant;

use shards::stats::{self as counters, Disconnect};
use tungstenite::protocol::frame::coding::{Control, OpCode};

use super::{Handler, Session};
use crate::limits::{Admit, WsRate};
use crate::stats::{FrameIn, FrameOut, Limit, Validation};
use crate::ws::{self, Flow, WsError, WsEvent};

/// A protocol violation: close with the codec's code.
pub(super) fn fail(ctx: &Session<'_>, e: WsError) {
    let s = &ctx.shard.app.stats;
    ctx.trace.span().in_scope(|| {
        log!(
            Debug,
            "websocket protocol error",
            conn = ctx.entry.id,
            reason = e.reason()
        )
    });
    counters::inc(&s.ws_protocol_errors_total);
    s.validation_errors.inc(Validation::Ws as usize);
    ctx.trace.close_code(e.close_code());
    ctx.outbox.set_reason(Disconnect::ProtocolError);
    ctx.outbox
        .close_with(Some(ws::close_frame(e.close_code(), e.reason())));
    s.frames_out.inc(FrameOut::Close as usize);
}

/// Count a data message or ping against the socket's rates; `false` = refused (the handler
/// was told, and past `WS_RATE_LIMIT_CLOSE_AFTER` refusals in a row the socket closes 1008).
fn admitted<H: Handler>(
    ctx: &Session<'_>,
    handler: &mut H,
    rate: &mut WsRate,
    now: Instant,
    len: usize,
    ping: bool,
) -> Result<bool, Flow> {
    let cfg = &ctx.shard.app.config.limits;
    let verdict = rate.admit(cfg, len, now);
    if verdict == Admit::Ok {
        return Ok(true);
    }
    let which = if verdict == Admit::Bytes {
        Limit::WsBytes
    } else {
        Limit::WsMessages
    };
    ctx.shard.app.stats.rate_limited.inc(which as usize);
    if cfg.ws_rate_limit_close_after > 0 && rate.strikes >= cfg.ws_rate_limit_close_after {
        ctx.trace.span().in_scope(|| {
            log!(
                Info,
                "websocket closed for flooding",
                conn = ctx.entry.id,
                client = ctx.client
            )
        });
        ctx.outbox.set_reason(Disconnect::RateLimited);
        ctx.trace.close_code(1008);
        ctx.outbox
            .close_with(Some(ws::close_frame(1008, "rate limit exceeded")));
        return Err(Flow::Stop);
    }
    handler.rate_limited(ctx, ping, rate.strikes);
    Ok(false)
}

/// One decoded event.
pub(super) fn on_event<H: Handler>(
    ctx: &Session<'_>,
    handler: &mut H,
    rate: &mut WsRate,
    now: Instant,
    ev: WsEvent<'_>,
) -> Flow {
    let s = &ctx.shard.app.stats;
    match ev {
        WsEvent::Message { text, payload } => {
            s.frames_in
                .inc(if text { FrameIn::Text } else { FrameIn::Binary } as usize);
            counters::inc(&s.ws_messages_in_total);
            ctx.trace.message_in(payload.len());
            match admitted(ctx, handler, rate, now, payload.len(), false) {
                Ok(true) => handler.message(ctx, text, payload),
                Ok(false) => Flow::Continue,
                Err(stop) => stop,
            }
        }
        WsEvent::Ping(p) => {
            s.frames_in.inc(FrameIn::Ping as usize);
            // Pings count against the message rate (a ping costs a pong); a refused one
            // gets no pong.
            match admitted(ctx, handler, rate, now, p.len(), true) {
                Ok(true) => {}
                Ok(false) => return Flow::Continue,
                Err(stop) => return stop,
            }
            // Refused only when the peer lets control frames pile up unread: the outbox then
            // treats it as a slow consumer and stops.
            match ctx
                .outbox
                .push_control(ws::encode(OpCode::Control(Control::Pong), p))
            {
                Ok(()) => {
                    s.frames_out.inc(FrameOut::Pong as usize);
                    Flow::Continue
                }
                Err(_) => Flow::Stop,
            }
        }
        WsEvent::Pong(_) => {
            s.frames_in.inc(FrameIn::Pong as usize);
            ctx.entry.pong();
            Flow::Continue
        }
        WsEvent::Close { code, .. } => {
            s.frames_in.inc(FrameIn::Close as usize);
            ctx.outbox.set_reason(Disconnect::ClientClose);
            ctx.trace.close_code(code.unwrap_or(1000));
            // Echo the peer's code (1000 for an empty close), then close.
            ctx.outbox
                .close_with(Some(ws::close_frame(code.unwrap_or(1000), "")));
            s.frames_out.inc(FrameOut::Close as usize);
            Flow::Stop
        }
    }
}
