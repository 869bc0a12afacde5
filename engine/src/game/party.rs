//! The turn-based party game (seed 003) as a pure state machine: time is
//! passed in (ms), identities are account ids, nothing here does I/O.
//!
//! Owns the game's owner, its settings, its slots (claimed by players), the
//! phase (lobby, running, paused, finished), whose turn it is and the turn
//! deadline. Authorization lives here so it is unit-tested: only the owner
//! changes settings (and only in the lobby), starts, pauses, resumes, resets
//! and eliminates; only the player who claimed the active slot switches the
//! turn. [`PartyGame::tick`] moves the turn on when its timer runs out.

use serde::{Deserialize, Serialize};

/// Game settings (locked once the game starts).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(deny_unknown_fields)]
pub struct PartySettings {
    /// Number of slots, 2..=8.
    pub slots: u8,
    /// Seconds a player has for one turn, 1..=3600.
    pub turn_secs: u32,
    /// Rounds before the game ends (0 = until one player is left), 0..=100.
    #[serde(default)]
    pub rounds: u32,
}

impl Default for PartySettings {
    fn default() -> Self {
        PartySettings {
            slots: 4,
            turn_secs: 30,
            rounds: 0,
        }
    }
}

impl PartySettings {
    /// Why these settings are refused, if they are.
    pub fn validate(&self) -> Result<(), &'static str> {
        if !(2..=8).contains(&self.slots) {
            return Err("slots must be 2 to 8");
        }
        if !(1..=3600).contains(&self.turn_secs) {
            return Err("turn_secs must be 1 to 3600");
        }
        if self.rounds > 100 {
            return Err("rounds must be 0 to 100");
        }
        Ok(())
    }
}

/// Lifecycle of a party game.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Lobby,
    Running,
    Paused,
    Finished,
}

/// One slot of the game.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct Slot {
    /// Display name (already sanitised by the protocol layer).
    pub name: Option<String>,
    /// Account that claimed the slot.
    pub user: Option<i64>,
    /// Out of the running game (eliminated, left, or not claimed at start).
    pub out: bool,
    /// Turns this slot has played.
    pub turns: u32,
}

/// Why an action was refused (nothing changed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartyError {
    Forbidden(&'static str),
    SettingsLocked,
    InvalidState(&'static str),
    InvalidSettings(&'static str),
    NoSuchSlot,
    SlotTaken,
    AlreadySeated,
}

impl PartyError {
    pub fn code(self) -> &'static str {
        match self {
            PartyError::Forbidden(_) => "forbidden",
            PartyError::SettingsLocked => "settings_locked",
            PartyError::InvalidState(_) => "invalid_state",
            PartyError::InvalidSettings(_) => "invalid_settings",
            PartyError::NoSuchSlot => "no_such_slot",
            PartyError::SlotTaken => "slot_taken",
            PartyError::AlreadySeated => "already_seated",
        }
    }
    pub fn message(self) -> &'static str {
        match self {
            PartyError::Forbidden(m) | PartyError::InvalidState(m) => m,
            PartyError::InvalidSettings(m) => m,
            PartyError::SettingsLocked => "settings are locked once the game has started",
            PartyError::NoSuchSlot => "no such slot",
            PartyError::SlotTaken => "slot is already claimed",
            PartyError::AlreadySeated => "you already hold a slot in this game",
        }
    }
}

/// A party game.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PartyGame {
    pub owner: i64,
    pub settings: PartySettings,
    pub phase: Phase,
    pub slots: Vec<Slot>,
    /// The slot whose turn it is (meaningful while running or paused).
    pub active: usize,
    /// When the running turn times out (ms).
    pub deadline: Option<u64>,
    /// Time left of the turn while paused (ms).
    pub paused_left: Option<u64>,
    /// Completed rounds.
    pub round: u32,
    /// The last slot standing (or the most turns when rounds run out).
    pub winner: Option<usize>,
}

type R<T = ()> = Result<T, PartyError>;

const OWNER_ONLY: &str = "only the game owner may do this";

impl PartyGame {
    pub fn new(owner: i64, settings: PartySettings) -> Result<PartyGame, PartyError> {
        settings.validate().map_err(PartyError::InvalidSettings)?;
        Ok(PartyGame {
            owner,
            settings,
            phase: Phase::Lobby,
            slots: vec![
                Slot {
                    name: None,
                    user: None,
                    out: false,
                    turns: 0
                };
                settings.slots as usize
            ],
            active: 0,
            deadline: None,
            paused_left: None,
            round: 0,
            winner: None,
        })
    }

    fn owner_only(&self, user: i64) -> R {
        if user == self.owner {
            Ok(())
        } else {
            Err(PartyError::Forbidden(OWNER_ONLY))
        }
    }

    /// The slot `user` holds.
    pub fn slot_of(&self, user: i64) -> Option<usize> {
        self.slots.iter().position(|s| s.user == Some(user))
    }

    fn turn_ms(&self) -> u64 {
        u64::from(self.settings.turn_secs) * 1000
    }

    /// `user` claims `slot` under `name` (lobby only).
    pub fn claim(&mut self, user: i64, slot: usize, name: &str) -> R {
        if self.phase != Phase::Lobby {
            return Err(PartyError::InvalidState(
                "slots are claimed before the game starts",
            ));
        }
        if self.slot_of(user).is_some() {
            return Err(PartyError::AlreadySeated);
        }
        let s = self.slots.get_mut(slot).ok_or(PartyError::NoSuchSlot)?;
        if s.user.is_some() {
            return Err(PartyError::SlotTaken);
        }
        s.user = Some(user);
        s.name = Some(name.to_string());
        Ok(())
    }

    /// Owner only, lobby only.
    pub fn update_settings(&mut self, user: i64, settings: PartySettings) -> R {
        self.owner_only(user)?;
        if self.phase != Phase::Lobby {
            return Err(PartyError::SettingsLocked);
        }
        settings.validate().map_err(PartyError::InvalidSettings)?;
        let n = settings.slots as usize;
        if self.slots[n.min(self.slots.len())..]
            .iter()
            .any(|s| s.user.is_some())
        {
            return Err(PartyError::InvalidSettings(
                "cannot remove slots that are claimed",
            ));
        }
        self.slots.resize(
            n,
            Slot {
                name: None,
                user: None,
                out: false,
                turns: 0,
            },
        );
        self.settings = settings;
        Ok(())
    }

    fn alive(&self) -> impl Iterator<Item = usize> + '_ {
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, s)| !s.out && s.user.is_some())
            .map(|(i, _)| i)
    }

    /// Owner only: at least two claimed slots.
    pub fn start(&mut self, user: i64, now: u64) -> R {
        self.owner_only(user)?;
        if self.phase != Phase::Lobby {
            return Err(PartyError::InvalidState("the game has already started"));
        }
        if self.slots.iter().filter(|s| s.user.is_some()).count() < 2 {
            return Err(PartyError::InvalidState(
                "at least two slots must be claimed",
            ));
        }
        for s in &mut self.slots {
            s.out = s.user.is_none();
            s.turns = 0;
        }
        let first = self.alive().next().unwrap_or(0);
        self.active = first;
        self.phase = Phase::Running;
        self.deadline = Some(now + self.turn_ms());
        self.round = 0;
        self.winner = None;
        Ok(())
    }

    /// Move the turn to the next player still in; ends the game if needed.
    fn advance(&mut self, now: u64) {
        if let Some(s) = self.slots.get_mut(self.active) {
            s.turns += 1;
        }
        let n = self.slots.len();
        let mut next = None;
        for k in 1..=n {
            let i = (self.active + k) % n;
            if !self.slots[i].out && self.slots[i].user.is_some() {
                if i <= self.active {
                    self.round += 1;
                }
                next = Some(i);
                break;
            }
        }
        let rounds_done = self.settings.rounds > 0 && self.round >= self.settings.rounds;
        match next {
            Some(i) if !rounds_done && self.alive().count() > 1 => {
                self.active = i;
                if self.phase == Phase::Running {
                    self.deadline = Some(now + self.turn_ms());
                } else {
                    self.paused_left = Some(self.turn_ms());
                }
            }
            _ => self.finish(),
        }
    }

    fn finish(&mut self) {
        self.phase = Phase::Finished;
        self.deadline = None;
        self.paused_left = None;
        let alive: Vec<usize> = self.alive().collect();
        self.winner = if alive.len() == 1 {
            Some(alive[0])
        } else {
            alive.into_iter().max_by_key(|i| self.slots[*i].turns)
        };
    }

    /// Only the player holding the active slot ends its turn.
    pub fn switch(&mut self, user: i64, now: u64) -> R {
        if self.phase != Phase::Running {
            return Err(PartyError::InvalidState("the game is not running"));
        }
        if self.slots[self.active].user != Some(user) {
            return Err(PartyError::Forbidden(
                "only the active player may end the turn",
            ));
        }
        self.advance(now);
        Ok(())
    }

    pub fn pause(&mut self, user: i64, now: u64) -> R {
        self.owner_only(user)?;
        if self.phase != Phase::Running {
            return Err(PartyError::InvalidState("the game is not running"));
        }
        self.paused_left = Some(self.deadline.map_or(0, |d| d.saturating_sub(now)));
        self.deadline = None;
        self.phase = Phase::Paused;
        Ok(())
    }

    pub fn resume(&mut self, user: i64, now: u64) -> R {
        self.owner_only(user)?;
        if self.phase != Phase::Paused {
            return Err(PartyError::InvalidState("the game is not paused"));
        }
        self.deadline = Some(now + self.paused_left.take().unwrap_or(0));
        self.phase = Phase::Running;
        Ok(())
    }

    /// Back to the lobby with the same players (settings unlock again).
    pub fn reset(&mut self, user: i64) -> R {
        self.owner_only(user)?;
        if self.phase == Phase::Lobby {
            return Err(PartyError::InvalidState("the game has not started"));
        }
        for s in &mut self.slots {
            s.out = false;
            s.turns = 0;
        }
        self.phase = Phase::Lobby;
        self.deadline = None;
        self.paused_left = None;
        self.round = 0;
        self.winner = None;
        self.active = 0;
        Ok(())
    }

    /// Owner only: take `slot` out of the running game.
    pub fn eliminate(&mut self, user: i64, slot: usize, now: u64) -> R {
        self.owner_only(user)?;
        if !matches!(self.phase, Phase::Running | Phase::Paused) {
            return Err(PartyError::InvalidState("the game is not running"));
        }
        let s = self.slots.get_mut(slot).ok_or(PartyError::NoSuchSlot)?;
        if s.out || s.user.is_none() {
            return Err(PartyError::InvalidState("that slot is not in the game"));
        }
        s.out = true;
        self.after_removal(slot, now);
        Ok(())
    }

    fn after_removal(&mut self, slot: usize, now: u64) {
        if self.alive().count() <= 1 {
            self.finish();
        } else if slot == self.active {
            self.advance(now);
        }
    }

    /// A player's seat is freed (reconnect grace expired): out of the game.
    pub fn release(&mut self, slot: usize, now: u64) {
        let Some(s) = self.slots.get_mut(slot) else {
            return;
        };
        s.user = None;
        let was_in = !s.out;
        s.out = true;
        if self.phase == Phase::Lobby {
            s.out = false;
            s.name = None;
        } else if was_in && matches!(self.phase, Phase::Running | Phase::Paused) {
            self.after_removal(slot, now);
        }
    }

    /// Server tick: a turn past its deadline times out (the turn moves on).
    /// Returns the slot that timed out.
    pub fn tick(&mut self, now: u64) -> Option<usize> {
        match (self.phase, self.deadline) {
            (Phase::Running, Some(d)) if now >= d => {
                let slot = self.active;
                self.advance(now);
                Some(slot)
            }
            _ => None,
        }
    }

    /// Ms left in the current turn at `now`.
    pub fn turn_left(&self, now: u64) -> Option<u64> {
        match self.phase {
            Phase::Running => self.deadline.map(|d| d.saturating_sub(now)),
            Phase::Paused => self.paused_left,
            _ => None,
        }
    }

    /// Restore after a restart: the running turn's remaining time restarts at `now`.
    pub fn restored(mut self, saved_at: u64, now: u64) -> PartyGame {
        if let (Phase::Running, Some(d)) = (self.phase, self.deadline) {
            self.deadline = Some(now + d.saturating_sub(saved_at));
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OWNER: i64 = 1;
    const P2: i64 = 2;
    const P3: i64 = 3;

    fn lobby() -> PartyGame {
        let mut g = PartyGame::new(
            OWNER,
            PartySettings {
                slots: 3,
                turn_secs: 10,
                rounds: 0,
            },
        )
        .unwrap();
        g.claim(OWNER, 0, "own").unwrap();
        g.claim(P2, 1, "two").unwrap();
        g.claim(P3, 2, "three").unwrap();
        g
    }

    #[test]
    fn claims_are_one_per_player_and_slot() {
        let mut g = PartyGame::new(OWNER, PartySettings::default()).unwrap();
        g.claim(P2, 1, "x").unwrap();
        assert_eq!(g.claim(P3, 1, "y"), Err(PartyError::SlotTaken));
        assert_eq!(g.claim(P2, 2, "x"), Err(PartyError::AlreadySeated));
        assert_eq!(g.claim(P3, 9, "y"), Err(PartyError::NoSuchSlot));
    }

    #[test]
    fn only_the_owner_manages_and_settings_lock_at_start() {
        let mut g = lobby();
        let s = PartySettings {
            slots: 4,
            turn_secs: 5,
            rounds: 2,
        };
        assert_eq!(g.update_settings(P2, s).unwrap_err().code(), "forbidden");
        assert_eq!(g.start(P2, 0).unwrap_err().code(), "forbidden");
        g.update_settings(OWNER, s).unwrap();
        g.start(OWNER, 0).unwrap();
        assert_eq!(g.update_settings(OWNER, s), Err(PartyError::SettingsLocked));
        assert_eq!(g.pause(P2, 1).unwrap_err().code(), "forbidden");
        assert_eq!(g.reset(P3).unwrap_err().code(), "forbidden");
        assert_eq!(g.eliminate(P2, 2, 1).unwrap_err().code(), "forbidden");
        // Only the active slot's player switches.
        assert_eq!(g.active, 0);
        assert_eq!(g.switch(P2, 1).unwrap_err().code(), "forbidden");
        g.switch(OWNER, 1).unwrap();
        assert_eq!(g.active, 1);
        assert_eq!(g.switch(OWNER, 2).unwrap_err().code(), "forbidden");
        g.switch(P2, 2).unwrap();
        assert_eq!(g.active, 2);
    }

    #[test]
    fn tick_times_out_turns_and_pause_freezes_them() {
        let mut g = lobby();
        g.start(OWNER, 0).unwrap();
        assert_eq!(g.tick(9_999), None);
        assert_eq!(g.tick(10_000), Some(0));
        assert_eq!(g.active, 1);
        g.pause(OWNER, 14_000).unwrap();
        assert_eq!(g.tick(100_000), None);
        assert_eq!(g.turn_left(100_000), Some(6_000));
        g.resume(OWNER, 100_000).unwrap();
        assert_eq!(g.tick(105_999), None);
        assert_eq!(g.tick(106_000), Some(1));
    }

    #[test]
    fn elimination_ends_with_a_winner_and_reset_unlocks() {
        let mut g = lobby();
        g.start(OWNER, 0).unwrap();
        g.eliminate(OWNER, 0, 1).unwrap();
        assert_eq!(
            g.active, 1,
            "the active player was eliminated: turn moves on"
        );
        g.eliminate(OWNER, 2, 2).unwrap();
        assert_eq!(g.phase, Phase::Finished);
        assert_eq!(g.winner, Some(1));
        g.reset(OWNER).unwrap();
        assert_eq!(g.phase, Phase::Lobby);
        g.update_settings(OWNER, PartySettings::default()).unwrap();
    }

    #[test]
    fn rounds_limit_and_release() {
        let mut g = lobby();
        g.update_settings(
            OWNER,
            PartySettings {
                slots: 3,
                turn_secs: 10,
                rounds: 1,
            },
        )
        .unwrap();
        g.start(OWNER, 0).unwrap();
        g.release(1, 1);
        assert!(g.slots[1].user.is_none());
        g.switch(OWNER, 2).unwrap();
        assert_eq!(g.active, 2);
        g.switch(P3, 3).unwrap();
        assert_eq!(g.phase, Phase::Finished);
    }
}
