//! Relay rooms: opaque rooms whose members receive every message of the others.
//!
//! Owns the room table of one shard and each room's member list. A room exists while it
//! has members. Broadcast takes one already-encoded frame and pushes the same `Rc` to every
//! other member's outbox: the bytes are never copied per recipient. Payloads are never
//! parsed, stored or logged here.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use shards::outbox::{Frame, Outbox, PushError};

use crate::room_id::RoomId;

/// One member of a room: its connection id and outbound queue.
#[derive(Debug, Clone)]
pub struct Member {
    pub conn: u64,
    pub outbox: Rc<Outbox>,
}

/// One relay room (lives on its owner shard).
#[derive(Debug)]
pub struct RelayRoom {
    pub id: RoomId,
    members: RefCell<Vec<Member>>,
}

/// Result of one broadcast.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Delivery {
    /// Recipients whose outbox took the frame.
    pub delivered: u64,
    /// Recipients closed as slow consumers by this broadcast.
    pub slow: u64,
}

impl RelayRoom {
    /// Members currently in the room.
    pub fn len(&self) -> usize {
        self.members.borrow().len()
    }

    /// Whether the room has no members.
    pub fn is_empty(&self) -> bool {
        self.members.borrow().is_empty()
    }

    /// The members (a copy: handles to their outboxes).
    pub fn members(&self) -> Vec<Member> {
        self.members.borrow().clone()
    }

    /// Push `frame` to every member except `from`. A member whose queue is full
    /// is handed to `on_slow` (which closes it) and counted.
    pub fn broadcast(
        &self,
        from: u64,
        frame: &Frame,
        mut on_slow: impl FnMut(&Outbox),
    ) -> Delivery {
        let mut d = Delivery::default();
        for m in self.members.borrow().iter() {
            if m.conn == from {
                continue;
            }
            match m.outbox.push(frame.clone()) {
                Ok(()) => d.delivered += 1,
                Err(PushError::Full) => {
                    on_slow(&m.outbox);
                    d.slow += 1;
                }
                Err(PushError::Closed) => {}
            }
        }
        d
    }
}

/// The room table of one shard.
#[derive(Debug, Default)]
pub struct RelayRooms {
    rooms: RefCell<HashMap<RoomId, Rc<RelayRoom>>>,
}

impl RelayRooms {
    /// Add a member, creating the room if needed; returns the room.
    pub fn join(&self, id: &RoomId, member: Member) -> Rc<RelayRoom> {
        let mut rooms = self.rooms.borrow_mut();
        let room = rooms
            .entry(id.clone())
            .or_insert_with(|| {
                Rc::new(RelayRoom {
                    id: id.clone(),
                    members: RefCell::new(Vec::new()),
                })
            })
            .clone();
        room.members.borrow_mut().push(member);
        room
    }

    /// Remove a member; the room disappears with its last member.
    pub fn leave(&self, room: &RelayRoom, conn: u64) {
        let now_empty = {
            let mut members = room.members.borrow_mut();
            if let Some(pos) = members.iter().position(|m| m.conn == conn) {
                members.swap_remove(pos);
            }
            members.is_empty()
        };
        if now_empty {
            self.remove(room);
        }
    }

    /// Drop `room` from the table (only if the table still holds this very room).
    pub fn remove(&self, room: &RelayRoom) {
        let mut rooms = self.rooms.borrow_mut();
        if rooms
            .get(&room.id)
            .is_some_and(|r| std::ptr::eq(Rc::as_ptr(r), room))
        {
            rooms.remove(&room.id);
        }
    }

    /// The live room `id`.
    pub fn get(&self, id: &RoomId) -> Option<Rc<RelayRoom>> {
        self.rooms.borrow().get(id).cloned()
    }

    /// Whether a room with this id is live.
    pub fn contains(&self, id: &RoomId) -> bool {
        self.rooms.borrow().contains_key(id)
    }

    /// Number of live rooms.
    pub fn len(&self) -> usize {
        self.rooms.borrow().len()
    }

    /// Whether there are no rooms.
    pub fn is_empty(&self) -> bool {
        self.rooms.borrow().is_empty()
    }

    /// Members of `id` (0 if it does not exist).
    pub fn members(&self, id: &RoomId) -> usize {
        self.rooms.borrow().get(id).map_or(0, |r| r.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcast_skips_sender_and_flags_slow() {
        let rooms = RelayRooms::default();
        let id = RoomId::parse("r").unwrap();
        let a = Outbox::new(100);
        let b = Outbox::new(100);
        let c = Outbox::new(4);
        rooms.join(
            &id,
            Member {
                conn: 1,
                outbox: a.clone(),
            },
        );
        rooms.join(
            &id,
            Member {
                conn: 2,
                outbox: b.clone(),
            },
        );
        let room = rooms.join(
            &id,
            Member {
                conn: 3,
                outbox: c.clone(),
            },
        );
        let frame: Frame = vec![1u8; 10].into();
        let mut slow = 0;
        let d = room.broadcast(1, &frame, |o| {
            o.kill(None);
            slow += 1;
        });
        assert_eq!(
            d,
            Delivery {
                delivered: 1,
                slow: 1
            }
        );
        assert_eq!(slow, 1);
        assert!(a.is_empty());
        assert_eq!(b.queued_bytes(), 10);
        rooms.leave(&room, 1);
        rooms.leave(&room, 2);
        assert_eq!(rooms.len(), 1);
        rooms.leave(&room, 3);
        assert_eq!(rooms.len(), 0);
    }
}
