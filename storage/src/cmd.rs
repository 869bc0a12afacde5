//! The private command enum shards send to the persistence thread. Each
//! request carries its own oneshot reply sender (no side table of pending
//! requests).

use std::time::Duration;

use futures_channel::oneshot;

use crate::error::StorageError;
use crate::model::{Account, Credentials, Period, RoomRow, ScoreAck, Standing};

/// Where a command's answer goes, with the command's span (`storage.command`), which ends
/// when the answer is sent.
pub(crate) struct Reply<T> {
    tx: oneshot::Sender<Result<T, StorageError>>,
    span: tracing::Span,
}

impl<T> Reply<T> {
    pub(crate) fn new(tx: oneshot::Sender<Result<T, StorageError>>, span: tracing::Span) -> Self {
        Reply { tx, span }
    }

    /// Answer the command (and end its span).
    pub(crate) fn send(self, res: Result<T, StorageError>) -> Result<(), Result<T, StorageError>> {
        if let Err(e) = &res {
            crate::trace::failed(&self.span, e);
        }
        let Reply { tx, span } = self;
        let sent = tx.send(res);
        drop(span);
        sent
    }

    pub(crate) fn span(&self) -> &tracing::Span {
        &self.span
    }
}

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

impl Cmd {
    /// The command's span (`None` for `Shutdown`).
    pub(crate) fn span(&self) -> Option<&tracing::Span> {
        Some(match self {
            Cmd::CreateAccount { reply, .. } => reply.span(),
            Cmd::FindAccount { reply, .. } => reply.span(),
            Cmd::AddScore { reply, .. } => reply.span(),
            Cmd::Standing { reply, .. } => reply.span(),
            Cmd::SaveRooms { reply, .. } => reply.span(),
            Cmd::LoadRooms { reply, .. } => reply.span(),
            Cmd::DeleteRoom { reply, .. } => reply.span(),
            Cmd::SweepRooms { reply, .. } => reply.span(),
            Cmd::Ping { reply } => reply.span(),
            Cmd::Stall { reply, .. } => reply.span(),
            Cmd::Games(c) => c.span(),
            Cmd::Shutdown => return None,
        })
    }

    /// The command's name (`db.operation.name`).
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Cmd::CreateAccount { .. } => "create_account",
            Cmd::FindAccount { .. } => "find_account",
            Cmd::AddScore { .. } => "add_score",
            Cmd::Standing { .. } => "standing",
            Cmd::SaveRooms { .. } => "save_rooms",
            Cmd::LoadRooms { .. } => "load_rooms",
            Cmd::DeleteRoom { .. } => "delete_room",
            Cmd::SweepRooms { .. } => "sweep_rooms",
            Cmd::Ping { .. } => "ping",
            Cmd::Stall { .. } => "stall",
            Cmd::Games(c) => c.name(),
            Cmd::Shutdown => "shutdown",
        }
    }
}
