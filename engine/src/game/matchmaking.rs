//! Matchmaking queues as pure data (seed 001): no I/O, time passed in.
//!
//! One [`Queue`] per (mode, region); each queue lives on its owner shard
//! (`shard_for("mm:{mode}:{region}")`), so queue state is never shared. A
//! ticket is a solo player or a party (all members go to the same team). A
//! match is formed around the oldest ticket: candidates are taken by rating
//! distance and packed first-fit into the mode's teams; the match is kept only
//! if the rating spread of all its players fits the anchor's window, which
//! widens with its wait time (`base + per_sec * waited`, capped at `max`).

use serde::{Deserialize, Serialize};

/// How a mode's matches are shaped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModeSpec {
    pub name: &'static str,
    /// Room kind created for a match (`chess` or `party`).
    pub room_kind: &'static str,
    pub teams: usize,
    pub team_size: usize,
}

/// The modes this server matches.
pub const MODES: &[ModeSpec] = &[
    ModeSpec {
        name: "chess",
        room_kind: "chess",
        teams: 2,
        team_size: 1,
    },
    ModeSpec {
        name: "party",
        room_kind: "party",
        teams: 2,
        team_size: 2,
    },
];

/// The spec of `mode`, if it is one.
pub fn mode(name: &str) -> Option<ModeSpec> {
    MODES.iter().copied().find(|m| m.name == name)
}

/// Rating window settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Window {
    pub base: f64,
    pub per_sec: f64,
    pub max: f64,
}

impl Window {
    /// The window of a ticket that waited `waited_ms`.
    pub fn at(&self, waited_ms: u64) -> f64 {
        (self.base + self.per_sec * waited_ms as f64 / 1000.0).min(self.max)
    }
}

/// Where a matched player is told about the match.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "via")]
pub enum Notify {
    /// A typed WebSocket session: (shard, connection id).
    Ws { shard: usize, conn: u64 },
    /// An HTTP ticket (polled).
    Http,
}

/// One player of a ticket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct Member {
    pub user_id: i64,
    pub name: String,
    pub rating: f64,
}

/// A solo player or a party waiting in a queue.
#[derive(Debug, Clone, PartialEq)]
pub struct Ticket {
    pub id: String,
    pub members: Vec<Member>,
    pub enqueued_ms: u64,
    pub notify: Notify,
    /// The span of joining the queue: the match span links to it.
    pub trace: crate::telemetry::SpanLink,
}

impl Ticket {
    pub fn rating(&self) -> f64 {
        let n = self.members.len().max(1) as f64;
        self.members.iter().map(|m| m.rating).sum::<f64>() / n
    }
}

/// A formed match: teams of tickets.
#[derive(Debug, Clone, PartialEq)]
pub struct Formed {
    pub teams: Vec<Vec<Ticket>>,
    /// Highest minus lowest player rating.
    pub spread: f64,
}

/// Why a ticket was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueError {
    PartyTooLarge,
    AlreadyQueued,
    /// The queue holds `MM_MAX_QUEUE` tickets.
    Full,
}

/// One (mode, region) queue.
#[derive(Debug)]
pub struct Queue {
    pub spec: ModeSpec,
    /// Oldest first.
    tickets: Vec<Ticket>,
}

impl Queue {
    pub fn new(spec: ModeSpec) -> Queue {
        Queue {
            spec,
            tickets: Vec::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.tickets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tickets.is_empty()
    }

    /// Players waiting (members of every ticket).
    pub fn players(&self) -> usize {
        self.tickets.iter().map(|t| t.members.len()).sum()
    }

    /// Add a ticket; a user may wait in a queue once.
    pub fn push(&mut self, t: Ticket) -> Result<(), QueueError> {
        if t.members.is_empty() || t.members.len() > self.spec.team_size {
            return Err(QueueError::PartyTooLarge);
        }
        let queued = |u: i64| {
            self.tickets
                .iter()
                .any(|q| q.members.iter().any(|m| m.user_id == u))
        };
        if t.members.iter().any(|m| queued(m.user_id)) {
            return Err(QueueError::AlreadyQueued);
        }
        self.tickets.push(t);
        Ok(())
    }

    /// Remove a ticket by id; returns it.
    pub fn cancel(&mut self, id: &str) -> Option<Ticket> {
        let i = self.tickets.iter().position(|t| t.id == id)?;
        Some(self.tickets.remove(i))
    }

    /// Remove every ticket holding `user`.
    pub fn cancel_user(&mut self, user: i64) -> Option<Ticket> {
        let i = self
            .tickets
            .iter()
            .position(|t| t.members.iter().any(|m| m.user_id == user))?;
        Some(self.tickets.remove(i))
    }

    /// Form every match possible at `now`.
    pub fn matches(&mut self, now: u64, w: &Window) -> Vec<Formed> {
        let mut out = Vec::new();
        let mut anchor = 0;
        while anchor < self.tickets.len() {
            match self.try_form(anchor, now, w) {
                Some((idx, formed)) => {
                    // Remove the used tickets (highest index first).
                    let mut idx = idx;
                    idx.sort_unstable_by(|a, b| b.cmp(a));
                    for i in idx {
                        self.tickets.remove(i);
                    }
                    out.push(formed);
                }
                None => anchor += 1,
            }
        }
        out
    }

    fn try_form(&self, anchor: usize, now: u64, w: &Window) -> Option<(Vec<usize>, Formed)> {
        let a = &self.tickets[anchor];
        let window = w.at(now.saturating_sub(a.enqueued_ms));
        let ar = a.rating();
        let mut cands: Vec<usize> = (0..self.tickets.len())
            .filter(|&i| i != anchor && (self.tickets[i].rating() - ar).abs() <= window)
            .collect();
        cands.sort_by(|&x, &y| {
            let dx = (self.tickets[x].rating() - ar).abs();
            let dy = (self.tickets[y].rating() - ar).abs();
            dx.total_cmp(&dy).then(x.cmp(&y))
        });
        let mut fill = vec![0usize; self.spec.teams];
        let mut teams: Vec<Vec<usize>> = vec![Vec::new(); self.spec.teams];
        let mut used = Vec::new();
        let mut lo = f64::MAX;
        let mut hi = f64::MIN;
        let full = self.spec.teams * self.spec.team_size;
        let mut placed = 0;
        for i in std::iter::once(anchor).chain(cands) {
            let t = &self.tickets[i];
            let (tlo, thi) = t
                .members
                .iter()
                .fold((lo, hi), |(l, h), m| (l.min(m.rating), h.max(m.rating)));
            if thi - tlo > window {
                if i == anchor {
                    return None;
                }
                continue;
            }
            let n = t.members.len();
            // First fit: the least-filled team that has room.
            let Some(team) = (0..self.spec.teams)
                .filter(|&k| fill[k] + n <= self.spec.team_size)
                .min_by_key(|&k| fill[k])
            else {
                continue;
            };
            fill[team] += n;
            teams[team].push(i);
            used.push(i);
            lo = tlo;
            hi = thi;
            placed += n;
            if placed == full {
                let formed = Formed {
                    teams: teams
                        .iter()
                        .map(|ix| ix.iter().map(|&i| self.tickets[i].clone()).collect())
                        .collect(),
                    spread: hi - lo,
                };
                return Some((used, formed));
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const W: Window = Window {
        base: 100.0,
        per_sec: 50.0,
        max: 400.0,
    };

    fn ticket(id: u32, ratings: &[f64], at: u64) -> Ticket {
        Ticket {
            id: format!("t{id}"),
            members: ratings
                .iter()
                .enumerate()
                .map(|(k, r)| Member {
                    user_id: i64::from(id) * 10 + k as i64,
                    name: format!("p{id}"),
                    rating: *r,
                })
                .collect(),
            enqueued_ms: at,
            notify: Notify::Http,
            trace: Default::default(),
        }
    }

    #[test]
    fn close_ratings_pair_at_once_far_ones_wait_for_the_window() {
        let mut q = Queue::new(mode("chess").unwrap());
        q.push(ticket(1, &[1500.0], 0)).unwrap();
        q.push(ticket(2, &[1800.0], 0)).unwrap();
        q.push(ticket(3, &[1550.0], 0)).unwrap();
        let m = q.matches(0, &W);
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].spread, 50.0);
        assert_eq!(q.len(), 1);
        q.push(ticket(4, &[2050.0], 0)).unwrap();
        assert!(q.matches(1_000, &W).is_empty(), "250 apart, window 150");
        let m = q.matches(4_000, &W);
        assert_eq!(m.len(), 1, "window widened to 300");
        assert!(q.is_empty());
    }

    #[test]
    fn parties_stay_together_and_fill_teams() {
        let mut q = Queue::new(mode("party").unwrap());
        assert_eq!(
            q.push(ticket(9, &[1.0, 2.0, 3.0], 0)),
            Err(QueueError::PartyTooLarge)
        );
        q.push(ticket(1, &[1500.0, 1520.0], 0)).unwrap();
        q.push(ticket(2, &[1510.0], 0)).unwrap();
        q.push(ticket(3, &[1490.0], 0)).unwrap();
        assert_eq!(q.push(ticket(3, &[1.0], 0)), Err(QueueError::AlreadyQueued));
        let m = q.matches(0, &W);
        assert_eq!(m.len(), 1);
        let teams = &m[0].teams;
        assert!(teams.iter().any(|t| t.len() == 1 && t[0].id == "t1"));
        assert!(teams
            .iter()
            .all(|t| t.iter().map(|x| x.members.len()).sum::<usize>() == 2));
    }

    #[test]
    fn cancel_removes_the_ticket() {
        let mut q = Queue::new(mode("chess").unwrap());
        q.push(ticket(1, &[1500.0], 0)).unwrap();
        assert!(q.cancel("t1").is_some());
        assert!(q.cancel("t1").is_none());
        q.push(ticket(2, &[1500.0], 0)).unwrap();
        assert!(q.cancel_user(20).is_some());
        assert!(q.is_empty());
    }

    #[test]
    fn many_players_all_match_with_bounded_spread() {
        let mut q = Queue::new(mode("chess").unwrap());
        let mut seed = 7u64;
        for i in 0..200 {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
            let r = 1000.0 + (seed >> 33) as f64 % 1000.0;
            q.push(ticket(i, &[r], 0)).unwrap();
        }
        let mut all = Vec::new();
        for t in 0..20 {
            all.extend(q.matches(t * 1000, &W));
        }
        assert!(all.iter().all(|m| m.spread <= W.max));
        // Whoever is left cannot be paired within the widest window.
        assert_eq!(all.len() * 2 + q.len(), 200);
        for a in &q.tickets {
            for b in &q.tickets {
                assert!(a.id == b.id || (a.rating() - b.rating()).abs() > W.max);
            }
        }
        assert!(all.len() >= 98, "{}", all.len());
    }
}
