//! One PostgreSQL connection seen through [`Db`]: a per-connection cache of
//! prepared statements, NOTIFY of changed boards inside the open
//! transaction, and the memory of why the connection broke (so the loop
//! answers `Unavailable` and reconnects).

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use postgres::types::ToSql;
use postgres::{Client, Statement};

use fallible_iterator::FallibleIterator;

use crate::error::StorageError;
use crate::sql::{Arg, Db, DbError, Row, Q};

/// The LISTEN/NOTIFY channel of board changes. A payload is
/// `<origin as 16 hex digits> <game>`, or `<origin> *` for "every board".
pub(crate) const CHANNEL: &str = "roomcore_scores";
/// Longest payload PostgreSQL carries is 8000 bytes; past this, announce "*".
const MAX_PAYLOAD: usize = 7900;

/// A live (or just broken) connection of the persistence thread.
pub(crate) struct PgDb {
    client: Client,
    stmts: HashMap<&'static str, Statement>,
    /// Identifies this process's notifications (its listener skips them).
    origin: u64,
    broken: Option<String>,
    /// `begin` was called: the next message opens with `BEGIN`.
    begin_pending: bool,
    /// The round's `NOTIFY` statements, sent with its COMMIT.
    notify_pending: String,
    /// A command's savepoint was kept but not yet released: the next command's `SAVEPOINT`
    /// sends `RELEASE cmd; SAVEPOINT cmd` in one message, and COMMIT releases it anyway.
    release_pending: bool,
}

impl PgDb {
    pub(crate) fn new(client: Client, origin: u64) -> PgDb {
        PgDb {
            client,
            stmts: HashMap::new(),
            origin,
            broken: None,
            begin_pending: false,
            notify_pending: String::new(),
            release_pending: false,
        }
    }

    /// Note a connection-level failure (the loop then reconnects).
    fn check<T>(&mut self, r: Result<T, postgres::Error>) -> Result<T, DbError> {
        r.map_err(|e| {
            let e = DbError::Pg(e);
            if self.broken.is_none() && (self.client.is_closed() || e.is_connection_lost()) {
                self.broken = Some(e.message());
            }
            e
        })
    }

    fn prepared(&mut self, q: &Q) -> Result<Statement, DbError> {
        // Keyed by the text PostgreSQL runs (its own, or the shared one).
        let key = q.postgres.unwrap_or(q.sqlite);
        if let Some(st) = self.stmts.get(key) {
            return Ok(st.clone());
        }
        let r = self.client.prepare(&q.postgres_text());
        let st = self.check(r)?;
        self.stmts.insert(key, st.clone());
        Ok(st)
    }

    /// Send a pending `BEGIN` before a statement with parameters (which cannot share its
    /// message).
    fn open_pending(&mut self) -> Result<(), DbError> {
        if std::mem::take(&mut self.begin_pending) {
            let r = self.client.batch_execute("BEGIN");
            self.check(r)?;
        }
        Ok(())
    }

    /// A round trip to the server (heartbeat); the reason it failed.
    pub(crate) fn ping(&mut self, timeout: Duration) -> Result<(), String> {
        let r = self.client.is_valid(timeout);
        self.check(r).map_err(|e| e.message())?;
        match self.broken.clone() {
            Some(reason) => Err(reason),
            None => Ok(()),
        }
    }
}

fn params<'a>(args: &'a [Arg<'a>]) -> Vec<&'a (dyn ToSql + Sync)> {
    args.iter().map(|a| a as &(dyn ToSql + Sync)).collect()
}

impl Db for PgDb {
    fn execute(&mut self, q: &Q, args: &[Arg<'_>]) -> Result<u64, DbError> {
        self.open_pending()?;
        let st = self.prepared(q)?;
        let r = self.client.execute(&st, &params(args));
        self.check(r)
    }

    fn query(&mut self, q: &Q, args: &[Arg<'_>]) -> Result<Vec<Row>, DbError> {
        self.open_pending()?;
        let st = self.prepared(q)?;
        let r = self.client.query(&st, &params(args));
        let rows = self.check(r)?;
        rows.iter()
            .map(|r| Row::from_pg(q.op, r).map_err(DbError::Decode))
            .collect()
    }

    fn each(
        &mut self,
        q: &Q,
        args: &[Arg<'_>],
        f: &mut dyn FnMut(Row) -> Result<(), StorageError>,
    ) -> Result<(), StorageError> {
        self.open_pending().map_err(|e| e.into_storage(q.op))?;
        let st = self.prepared(q).map_err(|e| e.into_storage(q.op))?;
        let failed = match self.client.query_raw(&st, params(args)) {
            Ok(mut rows) => loop {
                match rows.next() {
                    Ok(Some(r)) => f(Row::from_pg(q.op, &r)?)?,
                    Ok(None) => return Ok(()),
                    Err(e) => break e,
                }
            },
            Err(e) => e,
        };
        Err(self
            .check::<()>(Err(failed))
            .unwrap_err()
            .into_storage(q.op))
    }

    fn batch(&mut self, sql: &str) -> Result<(), DbError> {
        // The transaction's first statement carries its BEGIN.
        let r = if std::mem::take(&mut self.begin_pending) {
            self.client.batch_execute(&format!("BEGIN; {sql}"))
        } else {
            self.client.batch_execute(sql)
        };
        self.check(r)
    }

    fn commit(&mut self) -> Result<(), DbError> {
        self.release_pending = false; // COMMIT releases every savepoint
        let notify = std::mem::take(&mut self.notify_pending);
        if std::mem::take(&mut self.begin_pending) {
            return Ok(()); // nothing ran: there is no transaction to end
        }
        // The round's NOTIFYs ride on its COMMIT: no round trip of their own.
        let r = self.client.batch_execute(&format!("{notify}COMMIT"));
        self.check(r)
    }

    fn rollback(&mut self) {
        self.release_pending = false;
        self.notify_pending.clear();
        if !std::mem::take(&mut self.begin_pending) {
            let r = self.client.batch_execute("ROLLBACK");
            let _ = self.check(r);
        }
    }

    fn begin(&mut self) -> Result<(), DbError> {
        self.release_pending = false;
        self.notify_pending.clear();
        self.begin_pending = true;
        Ok(())
    }

    fn savepoint(&mut self) -> Result<(), DbError> {
        if std::mem::take(&mut self.release_pending) {
            self.batch("RELEASE cmd; SAVEPOINT cmd")
        } else {
            self.batch("SAVEPOINT cmd")
        }
    }

    fn release(&mut self) -> Result<(), DbError> {
        self.release_pending = true;
        Ok(())
    }

    fn rollback_savepoint(&mut self) {
        self.release_pending = false;
        let _ = self.batch("ROLLBACK TO cmd; RELEASE cmd");
    }

    fn postgres(&self) -> bool {
        true
    }

    fn announce(&mut self, games: &BTreeSet<String>) -> Result<(), DbError> {
        for game in games {
            let mut payload = format!("{:016x} {game}", self.origin);
            if payload.len() > MAX_PAYLOAD {
                payload = format!("{:016x} *", self.origin);
            }
            self.notify_pending.push_str(&notify_statement(&payload));
        }
        Ok(())
    }

    fn lost(&self) -> Option<String> {
        self.broken.clone()
    }
}

/// `NOTIFY` of `payload` on [`CHANNEL`], as a statement of a simple-query message: the
/// payload is an escape-string literal (`E'...'`, whatever `standard_conforming_strings` is).
fn notify_statement(payload: &str) -> String {
    let mut s = format!("NOTIFY {CHANNEL}, E'");
    for c in payload.chars() {
        match c {
            '\\' => s.push_str("\\\\"),
            '\'' => s.push_str("''"),
            '\0' => {} // text cannot hold NUL; game names never do
            c => s.push(c),
        }
    }
    s.push_str("'; ");
    s
}

/// Split a notification payload into (origin, game); `None` game = every board.
pub(crate) fn parse_payload(payload: &str) -> Option<(u64, Option<&str>)> {
    let (origin, game) = payload.split_once(' ')?;
    let origin = u64::from_str_radix(origin, 16).ok()?;
    Some((origin, (game != "*").then_some(game)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_carry_origin_and_game() {
        assert_eq!(
            parse_payload("00000000000000ff chess blitz"),
            Some((255, Some("chess blitz")))
        );
        assert_eq!(parse_payload("0000000000000001 *"), Some((1, None)));
        assert_eq!(parse_payload("nonsense"), None);
    }

    #[test]
    fn notify_payloads_are_escaped_literals() {
        assert_eq!(
            notify_statement("00000000000000ff it's a \\ game"),
            "NOTIFY roomcore_scores, E'00000000000000ff it''s a \\\\ game'; "
        );
    }
}
