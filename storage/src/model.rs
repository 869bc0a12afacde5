//! Plain data types that cross the command channel: accounts, scores,
//! leaderboards and room rows. No SQL and no I/O here.

/// A stored identity (registered or guest).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub id: i64,
    pub username: String,
    pub guest: bool,
    pub created_at_ms: i64,
}

/// An account with its password hash, for sign-in.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub account: Account,
    /// PHC string; `None` for guests (who cannot sign in with a password).
    pub password_hash: Option<String>,
}

/// The answer to a stored score.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScoreAck {
    pub id: i64,
    pub game: String,
    pub score: i64,
    pub at_ms: i64,
    /// The score beat the player's previous all-time best (or was the first).
    pub personal_best: bool,
}

/// Which board.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Period {
    AllTime,
    /// The current UTC day.
    Daily,
}

impl Period {
    /// Parse `alltime` / `daily`.
    pub fn parse(s: &str) -> Option<Period> {
        match s {
            "alltime" | "all" => Some(Period::AllTime),
            "daily" | "day" => Some(Period::Daily),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Period::AllTime => "alltime",
            Period::Daily => "daily",
        }
    }
}

/// One line of a leaderboard: a player's best score.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoardEntry {
    pub rank: u32,
    pub user_id: i64,
    pub player: String,
    pub score: i64,
    /// When the best score was posted (ms since the epoch).
    pub at_ms: i64,
}

/// The top of one board as of a commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Board {
    pub game: String,
    pub period: Period,
    /// For daily boards, the UTC day number it covers.
    pub day: Option<i64>,
    /// Best first; at most `board_size` entries.
    pub entries: Vec<BoardEntry>,
    /// When the persistence thread built it.
    pub updated_at_ms: i64,
    /// Increases with every publication (per process).
    pub version: u64,
}

/// A player's own best and rank on a board.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Standing {
    pub rank: u64,
    pub score: i64,
    pub at_ms: i64,
}

/// A durable room snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomRow {
    pub id: String,
    pub kind: String,
    pub state: Vec<u8>,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
    /// The owner epoch that wrote it (cluster fencing; 0 on a single node).
    pub epoch: i64,
}
