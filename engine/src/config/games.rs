//! Knobs of the game layer: room limits, reconnect grace, the tick and matchmaking.

use std::time::Duration;

use clap::Args;

use crate::game::matchmaking::Window;

/// Game rooms and matchmaking.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Games")]
pub struct GamesArgs {
    /// Game rooms in the process (each shard holds at most ceil(MAX_ROOMS / shards)); past it
    /// `create_room` answers `too_many_rooms`.
    #[arg(long = "max-rooms", env = "MAX_ROOMS", default_value_t = 10_000)]
    pub max_rooms: usize,
    /// How long a dropped player's seat (and reconnect token) is held, in seconds.
    #[arg(
        long = "reconnect-grace-secs",
        env = "RECONNECT_GRACE_SECS",
        default_value_t = 30
    )]
    pub reconnect_grace_secs: u64,
    /// Game tick period in ms (clamped to 10..1000): loss on time, turn timers, grace expiry,
    /// matchmaking.
    #[arg(long = "game-tick-ms", env = "GAME_TICK_MS", default_value_t = 100)]
    pub game_tick_ms: u64,
    /// Starting rating window of a matchmaking ticket.
    #[arg(
        long = "mm-window-base",
        env = "MM_WINDOW_BASE",
        default_value_t = 100.0
    )]
    pub mm_window_base: f64,
    /// How much the window widens per second waited.
    #[arg(
        long = "mm-window-per-sec",
        env = "MM_WINDOW_PER_SEC",
        default_value_t = 25.0
    )]
    pub mm_window_per_sec: f64,
    /// Widest window, and so the largest rating spread in a match.
    #[arg(long = "mm-window-max", env = "MM_WINDOW_MAX", default_value_t = 400.0)]
    pub mm_window_max: f64,
    /// How long a matched or cancelled ticket can still be polled, in seconds; an empty
    /// matched room waits this long for its players.
    #[arg(
        long = "mm-ticket-ttl-secs",
        env = "MM_TICKET_TTL_SECS",
        default_value_t = 120
    )]
    pub mm_ticket_ttl_secs: u64,
    /// Tickets one (mode, region) queue holds; past it `unavailable`.
    #[arg(long = "mm-max-queue", env = "MM_MAX_QUEUE", default_value_t = 10_000)]
    pub max_queue: usize,
}

impl GamesArgs {
    pub(super) fn validate(&self) -> Result<(), String> {
        if self.max_rooms == 0 {
            return Err("MAX_ROOMS must be positive".into());
        }
        Ok(())
    }

    /// How long a dropped player's seat is held, in ms.
    pub fn grace_ms(&self) -> u64 {
        self.reconnect_grace_secs.saturating_mul(1000)
    }

    /// Period of the game tick.
    pub fn tick(&self) -> Duration {
        Duration::from_millis(self.game_tick_ms.clamp(10, 1000))
    }

    /// The matchmaking rating window.
    pub fn window(&self) -> Window {
        Window {
            base: self.mm_window_base,
            per_sec: self.mm_window_per_sec,
            max: self.mm_window_max,
        }
    }

    /// How long a finished ticket can be polled, in ms.
    pub fn ticket_ttl_ms(&self) -> u64 {
        self.mm_ticket_ttl_secs.saturating_mul(1000)
    }

    /// Rooms one shard may hold.
    pub fn per_shard_limit(&self, shards: usize) -> usize {
        self.max_rooms.div_ceil(shards.max(1))
    }
}
