//! Whether the database can be reached, readable from any shard without
//! blocking: [`StorageHealth`] (what the engine's `/ready` and `/health`
//! report) and the shared [`HealthState`] the storage threads keep.
//!
//! Two parts can be down: the writer (the persistence thread's connection)
//! and, on PostgreSQL, the listener (the LISTEN connection that brings other
//! processes' board changes). A round running longer than
//! `StorageConfig::stuck_after` also reads as unhealthy. Reading is an
//! atomic load plus, only while a part is down, a `try_lock` of its reason
//! (never a wait).

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Mutex;

/// What `Storage::health` answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageHealth {
    /// Writes can be committed and boards are kept fresh.
    pub ok: bool,
    /// Why not, when `ok` is false.
    pub reason: Option<String>,
}

/// One connection's state.
#[derive(Debug, Default)]
pub(crate) struct Part {
    down: AtomicBool,
    reason: Mutex<Option<String>>,
}

impl Part {
    pub(crate) fn set_down(&self, reason: &str) {
        if let Ok(mut r) = self.reason.lock() {
            *r = Some(reason.to_string());
        }
        self.down.store(true, Ordering::Release);
    }

    pub(crate) fn set_up(&self) {
        self.down.store(false, Ordering::Release);
    }

    pub(crate) fn is_down(&self) -> bool {
        self.down.load(Ordering::Acquire)
    }

    /// The reason it is down (never waits: a racing writer yields a generic one).
    pub(crate) fn reason(&self) -> String {
        match self.reason.try_lock() {
            Ok(r) => r.clone().unwrap_or_else(|| "database unavailable".into()),
            Err(_) => "database unavailable".into(),
        }
    }
}

/// Shared by the handle and the storage threads.
#[derive(Debug)]
pub(crate) struct HealthState {
    pub writer: Part,
    pub listener: Part,
    /// When the writer began waiting on the database (a round, a reload of boards, a
    /// heartbeat; ms since the epoch), 0 when it is not waiting.
    round_since_ms: AtomicI64,
    stuck_after_ms: i64,
    /// When a round last failed for lack of space (ms since the epoch), 0 never; with why.
    full_at_ms: AtomicI64,
    full_reason: Mutex<String>,
}

/// How long a round that failed for lack of space keeps storage unhealthy: writes keep being
/// tried (the first one after space is freed succeeds), so the mark only has to outlive the
/// gap between failing writes.
const FULL_FOR_MS: i64 = 10_000;

impl HealthState {
    pub(crate) fn new(stuck_after_ms: i64) -> HealthState {
        HealthState {
            writer: Part::default(),
            listener: Part::default(),
            round_since_ms: AtomicI64::new(0),
            stuck_after_ms: stuck_after_ms.max(1),
            full_at_ms: AtomicI64::new(0),
            full_reason: Mutex::new(String::new()),
        }
    }

    /// A round failed because the database cannot grow (disk full).
    pub(crate) fn out_of_space(&self, reason: &str, now_ms: i64) {
        if let Ok(mut r) = self.full_reason.lock() {
            reason.clone_into(&mut r);
        }
        self.full_at_ms.store(now_ms.max(1), Ordering::Release);
    }

    /// The writer starts waiting on the database (a round, or another duty's queries).
    pub(crate) fn round_started(&self, now_ms: i64) {
        self.round_since_ms.store(now_ms.max(1), Ordering::Relaxed);
    }

    pub(crate) fn round_finished(&self) {
        self.round_since_ms.store(0, Ordering::Relaxed);
    }

    /// How long the writer has waited for the database, once that is longer than
    /// `stuck_after` (as of `now_ms`).
    pub(crate) fn stuck_for(&self, now_ms: i64) -> Option<i64> {
        let since = self.round_since_ms.load(Ordering::Relaxed);
        (since > 0 && now_ms - since > self.stuck_after_ms).then_some(now_ms - since)
    }

    /// The current state as of `now_ms`.
    pub(crate) fn snapshot(&self, now_ms: i64) -> StorageHealth {
        let down = |reason: String| StorageHealth {
            ok: false,
            reason: Some(reason),
        };
        if self.writer.is_down() {
            return down(self.writer.reason());
        }
        if self.listener.is_down() {
            return down(format!("board change listener: {}", self.listener.reason()));
        }
        if let Some(ms) = self.stuck_for(now_ms) {
            return down(stuck_reason(ms));
        }
        let full_at = self.full_at_ms.load(Ordering::Acquire);
        if full_at > 0 && now_ms - full_at < FULL_FOR_MS {
            let why = match self.full_reason.try_lock() {
                Ok(r) => r.clone(),
                Err(_) => "database or disk is full".into(),
            };
            return down(format!(
                "no space for the database ({} ms ago): {why}",
                now_ms - full_at
            ));
        }
        StorageHealth {
            ok: true,
            reason: None,
        }
    }
}

/// What a round stuck for `ms` reads as.
pub(crate) fn stuck_reason(ms: i64) -> String {
    format!("the database has not answered for {ms} ms")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_and_stuck_rounds_read_as_unhealthy() {
        let h = HealthState::new(1000);
        assert!(h.snapshot(5).ok);
        h.listener.set_down("gone");
        assert_eq!(
            h.snapshot(5).reason.as_deref(),
            Some("board change listener: gone")
        );
        h.writer.set_down("refused");
        assert_eq!(h.snapshot(5).reason.as_deref(), Some("refused"));
        h.writer.set_up();
        h.listener.set_up();
        h.round_started(10_000);
        assert!(h.snapshot(10_500).ok);
        assert!(!h.snapshot(11_500).ok);
        h.round_finished();
        assert!(h.snapshot(11_500).ok);
    }
}
