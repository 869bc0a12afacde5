//! Matchmaking tickets as their queue's owner shard keeps them: a typed status
//! ([`TicketStatus`]) and what a poll of the ticket answers ([`TicketView`]). Queued tickets
//! stay until matched or cancelled; matched and cancelled ones leave `MM_TICKET_TTL_SECS`
//! after their last change. Plain data of one shard.

use std::cell::RefCell;
use std::collections::HashMap;

use serde::Serialize;

use super::events::MatchFound;
use super::matchmaking::Member;

/// Where a ticket stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum TicketStatus {
    Queued,
    Matched,
    Cancelled,
}

/// A ticket as a poll answers it (`GET /api/matchmaking/tickets/{id}`).
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct TicketView {
    pub ticket: String,
    pub status: TicketStatus,
    pub mode: &'static str,
    pub queue: String,
    pub members: Vec<Member>,
    /// The match, once formed.
    #[serde(rename = "match", skip_serializing_if = "Option::is_none")]
    #[cfg_attr(test, ts(optional))]
    pub matched: Option<MatchFound>,
}

/// The tickets of the queues one shard owns, with when each last changed (ms).
#[derive(Debug, Default)]
pub struct Tickets(RefCell<HashMap<String, (u64, TicketView)>>);

impl Tickets {
    /// A ticket entered its queue.
    pub fn queued(&self, view: TicketView, now: u64) {
        self.0.borrow_mut().insert(view.ticket.clone(), (now, view));
    }

    /// A ticket left its queue, withdrawn.
    pub fn cancelled(&self, id: &str, now: u64) {
        if let Some((at, v)) = self.0.borrow_mut().get_mut(id) {
            *at = now;
            v.status = TicketStatus::Cancelled;
        }
    }

    /// A ticket was matched.
    pub fn matched(&self, id: &str, m: MatchFound, now: u64) {
        if let Some((at, v)) = self.0.borrow_mut().get_mut(id) {
            *at = now;
            v.status = TicketStatus::Matched;
            v.matched = Some(m);
        }
    }

    /// Ticket `id` if `user` is one of its members.
    pub fn of_user(&self, id: &str, user: i64) -> Option<TicketView> {
        self.0
            .borrow()
            .get(id)
            .filter(|(_, v)| v.members.iter().any(|m| m.user_id == user))
            .map(|(_, v)| v.clone())
    }

    /// Drop finished tickets older than `ttl_ms`.
    pub fn sweep(&self, now: u64, ttl_ms: u64) {
        self.0.borrow_mut().retain(|_, (at, v)| {
            v.status == TicketStatus::Queued || now.saturating_sub(*at) < ttl_ms
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(id: &str, user: i64) -> TicketView {
        TicketView {
            ticket: id.into(),
            status: TicketStatus::Queued,
            mode: "chess",
            queue: "mm:chess:any".into(),
            members: vec![Member {
                user_id: user,
                name: "u".into(),
                rating: 1200.0,
            }],
            matched: None,
        }
    }

    #[test]
    fn status_moves_and_finished_tickets_expire() {
        let t = Tickets::default();
        t.queued(view("a", 1), 0);
        t.queued(view("b", 2), 0);
        assert_eq!(t.of_user("a", 2).map(|v| v.status), None, "not its member");
        t.cancelled("a", 10);
        assert_eq!(
            t.of_user("a", 1).map(|v| v.status),
            Some(TicketStatus::Cancelled)
        );
        t.sweep(200, 100);
        assert!(t.of_user("a", 1).is_none());
        assert!(t.of_user("b", 2).is_some(), "queued tickets stay");
        let j = serde_json::to_value(view("c", 3)).unwrap();
        assert_eq!(j["status"], "queued");
        assert!(j.get("match").is_none());
    }
}
