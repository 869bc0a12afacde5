//! Tracing of the persistence path (`tracing` spans only; the engine turns them into
//! OpenTelemetry spans when tracing is on, and otherwise their callsites are disabled).
//!
//! - `storage.command`: one span per command, opened on the caller's thread as a child of
//!   the caller's current span (a game's save, a request; a command issued outside any span,
//!   such as a periodic snapshot, has none), carried in the command's
//!   [`Reply`] and closed when the answer is sent, after COMMIT: its duration is the queue
//!   wait, the transaction and the commit.
//! - `storage.commit`: one span per group-commit transaction (a round) on the persistence
//!   thread, with `db.system` and `db.operation.batch.size`. The round and each command it
//!   carried are linked both ways (`follows_from`); the round is sampled when one of its
//!   commands is (`roomcore.sampled_by = "links"`).

use tracing::field::Empty;
use tracing::Span;

use crate::cmd::Cmd;
use crate::error::StorageError;

/// Links per round span (the SDK keeps 128 per span).
const MAX_LINKS: usize = 128;

/// `db.system` of an engine name (`sqlite`, `postgres`).
pub(crate) fn db_system(engine: &str) -> &'static str {
    if engine == "postgres" {
        "postgresql"
    } else {
        "sqlite"
    }
}

/// A command's span, a child of the current span; none when tracing is off or when the
/// command is issued outside any span (periodic snapshots, sweeps: no one's operation).
pub(crate) fn command(system: &'static str) -> Span {
    if !tracing::span_enabled!(target: "storage::command", tracing::Level::INFO) {
        return Span::none();
    }
    let parent = Span::current();
    if parent.is_none() {
        return Span::none();
    }
    tracing::info_span!(
        target: "storage::command",
        parent: &parent,
        "storage.command",
        otel.name = Empty,
        otel.kind = "client",
        db.system = system,
        db.operation.name = Empty,
        "error.type" = Empty,
    )
}

/// Name a command's span after its command.
pub(crate) fn named(cmd: &Cmd) {
    if let Some(s) = cmd.span().filter(|s| !s.is_disabled()) {
        let name = cmd.name();
        s.record("otel.name", name);
        s.record("db.operation.name", name);
    }
}

/// Record why a command failed on its span.
pub(crate) fn failed(span: &Span, e: &StorageError) {
    if span.is_disabled() {
        return;
    }
    let kind = format!("{e:?}");
    let kind = kind
        .split(|c: char| !c.is_ascii_alphanumeric())
        .next()
        .unwrap_or("error");
    span.record("error.type", kind);
}

/// The span of one round of `n` commands, linked both ways to the commands' spans.
pub(crate) fn round(system: &'static str, batch: &[Cmd]) -> Span {
    let round = tracing::info_span!(
        target: "storage::round",
        parent: None,
        "storage.commit",
        otel.name = "COMMIT",
        otel.kind = "client",
        db.system = system,
        db.operation.name = "COMMIT",
        db.operation.batch.size = batch.len(),
        roomcore.sampled_by = "links",
        "error.type" = Empty,
        otel.status_code = Empty,
    );
    if round.is_disabled() {
        return round;
    }
    let spans = || {
        batch
            .iter()
            .filter_map(Cmd::span)
            .filter(|s| !s.is_disabled())
    };
    // The round's links first (it is sampled on them), then each command's link to it.
    for s in spans().take(MAX_LINKS) {
        round.follows_from(s);
    }
    for s in spans() {
        s.follows_from(&round);
    }
    round
}
