//! Leaderboard snapshots, from the persistence thread to every shard.
//!
//! After a transaction commits, the thread rebuilds the top of every board it
//! touched and publishes one `Arc<Board>` per board to each shard over that
//! shard's bounded channel. When a channel is full, the newest board per key
//! waits in a small coalescing map on the thread and is retried, so memory is
//! bounded by the number of boards and nothing older overtakes something newer.
//! A shard reads through its [`BoardView`], which drains the channel with
//! `try_recv` before answering: leaderboard reads never wait on SQLite.

use std::collections::HashMap;
use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender, TrySendError};

use crate::model::{Board, Period};

/// The shard end of the board feed.
pub type BoardReceiver = Receiver<Arc<Board>>;

type Key = (String, Period);

struct Out {
    tx: Sender<Arc<Board>>,
    pending: HashMap<Key, Arc<Board>>,
}

/// The publishing end, owned by the persistence thread.
pub(crate) struct BoardFeed {
    outs: Vec<Out>,
}

impl BoardFeed {
    /// A feed with `subscribers` channels of `capacity` boards each.
    pub(crate) fn new(subscribers: usize, capacity: usize) -> (BoardFeed, Vec<BoardReceiver>) {
        let mut outs = Vec::with_capacity(subscribers);
        let mut rxs = Vec::with_capacity(subscribers);
        for _ in 0..subscribers {
            let (tx, rx) = crossbeam_channel::bounded(capacity.max(1));
            outs.push(Out {
                tx,
                pending: HashMap::new(),
            });
            rxs.push(rx);
        }
        (BoardFeed { outs }, rxs)
    }

    /// Queue `board` for every subscriber and push what fits.
    pub(crate) fn publish(&mut self, board: Arc<Board>) {
        for out in &mut self.outs {
            out.pending
                .insert((board.game.clone(), board.period), board.clone());
        }
        self.flush();
    }

    /// Push waiting boards into channels that have room.
    pub(crate) fn flush(&mut self) {
        for out in &mut self.outs {
            if out.pending.is_empty() {
                continue;
            }
            let keys: Vec<Key> = out.pending.keys().cloned().collect();
            for k in keys {
                let Some(b) = out.pending.remove(&k) else {
                    continue;
                };
                match out.tx.try_send(b) {
                    Ok(()) | Err(TrySendError::Disconnected(_)) => {}
                    Err(TrySendError::Full(b)) => {
                        out.pending.insert(k, b);
                        break;
                    }
                }
            }
        }
    }

    /// Whether some board still waits for room in a channel.
    pub(crate) fn has_pending(&self) -> bool {
        self.outs.iter().any(|o| !o.pending.is_empty())
    }
}

/// One shard's copy of the leaderboards (plain data, owned by that shard).
#[derive(Debug)]
pub struct BoardView {
    rx: BoardReceiver,
    boards: HashMap<Key, Arc<Board>>,
}

impl BoardView {
    /// A view fed by `rx`.
    pub fn new(rx: BoardReceiver) -> BoardView {
        BoardView {
            rx,
            boards: HashMap::new(),
        }
    }

    /// Apply every board published so far (never blocks).
    pub fn refresh(&mut self) {
        while let Ok(b) = self.rx.try_recv() {
            let key = (b.game.clone(), b.period);
            match self.boards.get(&key) {
                Some(old) if old.version >= b.version => {}
                _ => {
                    self.boards.insert(key, b);
                }
            }
        }
    }

    /// The freshest copy of a board; a daily board of another day than
    /// `today` reads as absent.
    pub fn get(&mut self, game: &str, period: Period, today: i64) -> Option<Arc<Board>> {
        self.refresh();
        let b = self.boards.get(&(game.to_string(), period))?;
        if period == Period::Daily && b.day != Some(today) {
            return None;
        }
        Some(b.clone())
    }

    /// Number of boards held.
    pub fn len(&self) -> usize {
        self.boards.len()
    }

    /// Whether no board is held.
    pub fn is_empty(&self) -> bool {
        self.boards.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn board(game: &str, version: u64) -> Arc<Board> {
        Arc::new(Board {
            game: game.into(),
            period: Period::AllTime,
            day: None,
            entries: Vec::new(),
            updated_at_ms: 0,
            version,
        })
    }

    #[test]
    fn full_channels_coalesce_to_the_newest_board() {
        let (mut feed, rxs) = BoardFeed::new(2, 1);
        feed.publish(board("a", 1));
        feed.publish(board("a", 2));
        feed.publish(board("a", 3));
        assert!(feed.has_pending());
        let mut v = BoardView::new(rxs[0].clone());
        assert_eq!(v.get("a", Period::AllTime, 0).unwrap().version, 1);
        feed.flush();
        assert_eq!(v.get("a", Period::AllTime, 0).unwrap().version, 3);
        let mut w = BoardView::new(rxs[1].clone());
        w.refresh();
        feed.flush();
        assert!(!feed.has_pending());
        assert_eq!(w.get("a", Period::AllTime, 0).unwrap().version, 3);
    }

    #[test]
    fn stale_daily_board_reads_as_absent() {
        let (mut feed, rxs) = BoardFeed::new(1, 4);
        feed.publish(Arc::new(Board {
            game: "g".into(),
            period: Period::Daily,
            day: Some(10),
            entries: Vec::new(),
            updated_at_ms: 0,
            version: 1,
        }));
        let mut v = BoardView::new(rxs[0].clone());
        assert!(v.get("g", Period::Daily, 10).is_some());
        assert!(v.get("g", Period::Daily, 11).is_none());
    }
}
