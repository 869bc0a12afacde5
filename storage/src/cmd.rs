//! The private command enum shards send to the persistence thread. Each
//! request carries its own oneshot reply sender (no side table of pending
//! requests).

use std::time::Duration;

use futures_channel::oneshot;

use crate::error::StorageError;
use crate::model::{Account, Credentials, Period, RoomRow, ScoreAck, Standing};

/// Where a command's answer goes.
pub(crate) type Reply<T> = oneshot::Sender<Result<T, StorageError>>;

/// One domain operation for the persistence thread.
pub(crate) enum Cmd {
    /// Create an account; `username: None` makes a guest with a fresh name.
    CreateAccount {
        username: Option<String>,
        password_hash: Option<String>,
        reply: Reply<Account>,
    },
    FindAccount {
        username: String,
        reply: Reply<Option<Credentials>>,
    },
    AddScore {
        user_id: i64,
        game: String,
        score: i64,
        reply: Reply<ScoreAck>,
    },
    Standing {
        user_id: i64,
        game: String,
        period: Period,
        reply: Reply<Option<Standing>>,
    },
    SaveRooms {
        rows: Vec<RoomRow>,
        reply: Reply<()>,
    },
    LoadRooms {
        kind: String,
        reply: Reply<Vec<RoomRow>>,
    },
    DeleteRoom {
        id: String,
        reply: Reply<bool>,
    },
    SweepRooms {
        cutoff_ms: i64,
        reply: Reply<usize>,
    },
    /// A round trip through the thread (health check).
    Ping {
        reply: Reply<()>,
    },
    /// Test hook: the thread sleeps this long (the queue fills up behind it).
    Stall {
        pause: Duration,
        reply: Reply<()>,
    },
    /// Finished games and ratings (see `games`).
    Games(crate::games::GamesCmd),
    /// Commit what is queued, then stop.
    Shutdown,
}
