//! Leaderboard snapshots, from the persistence thread to every shard.
//!
//! After a transaction commits, the thread rebuilds the top of every board it
//! touched and publishes one `Arc<Board>` per board to each shard over that
//! shard's bounded channel, before it answers the writes: a client that got
//! its acknowledgement sees its score on every shard. A shard that has not
//! read for a while leaves its channel full; the thread then compacts it by
//! draining it through its own receiver clone and re-sending only the newest
//! board per key, so the channel holds at most one entry per board (the
//! capacity is sized for that) and a shard never reads a stale board. Should
//! more boards exist than slots, the rest wait in a coalescing map on the
//! thread and are retried. A shard reads through its [`BoardView`], which
//! drains the channel with `try_recv` before answering: leaderboard reads never
//! wait on SQLite.

use std::collections::HashMap;
use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender, TrySendError};

use crate::model::{Board, Period};

/// The shard end of the board feed.
pub type BoardReceiver = Receiver<Arc<Board>>;

type Key = (String, Period);

struct Out {
    tx: Sender<Arc<Board>>,
    /// A clone of the shard's receiver, used only to compact a full channel.
    rx: Receiver<Arc<Board>>,
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
                rx: rx.clone(),
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

    /// Push waiting boards into the channels, compacting full ones.
    pub(crate) fn flush(&mut self) {
        for out in &mut self.outs {
            if out.pending.is_empty() {
                continue;
            }
            if out.tx.is_full() {
                // Take everything back and keep only the newest board per key.
                while let Ok(b) = out.rx.try_recv() {
                    let key = (b.game.clone(), b.period);
                    match out.pending.get(&key) {
                        Some(p) if p.version >= b.version => {}
                        _ => {
                            out.pending.insert(key, b);
                        }
                    }
                }
            }
            let mut waiting: Vec<(Key, Arc<Board>)> = out.pending.drain().collect();
            // Oldest first, so a reader that races us sees versions rise.
            waiting.sort_by_key(|(_, b)| b.version);
            let mut rest = waiting.into_iter();
            for (k, b) in rest.by_ref() {
                match out.tx.try_send(b) {
                    Ok(()) | Err(TrySendError::Disconnected(_)) => {}
                    Err(TrySendError::Full(b)) => {
                        out.pending.insert(k, b);
                        break;
                    }
                }
            }
            out.pending.extend(rest);
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
    fn a_full_channel_is_compacted_to_the_newest_board_per_key() {
        let (mut feed, rxs) = BoardFeed::new(2, 2);
        for v in 1..=5 {
            feed.publish(board("a", v));
            feed.publish(board("b", 10 + v));
        }
        assert!(!feed.has_pending());
        for rx in rxs {
            assert_eq!(rx.len(), 2, "one entry per board");
            let mut view = BoardView::new(rx);
            assert_eq!(view.get("a", Period::AllTime, 0).unwrap().version, 5);
            assert_eq!(view.get("b", Period::AllTime, 0).unwrap().version, 15);
        }
    }

    #[test]
    fn more_boards_than_slots_wait_and_are_retried() {
        let (mut feed, rxs) = BoardFeed::new(1, 1);
        feed.publish(board("a", 1));
        feed.publish(board("b", 2));
        assert!(feed.has_pending());
        let mut v = BoardView::new(rxs[0].clone());
        v.refresh();
        feed.flush();
        assert!(!feed.has_pending());
        assert_eq!(v.get("a", Period::AllTime, 0).unwrap().version, 1);
        assert_eq!(v.get("b", Period::AllTime, 0).unwrap().version, 2);
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
