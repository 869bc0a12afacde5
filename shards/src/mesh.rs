//! The full mesh of bounded lock-free channels between shards.
//!
//! Built once, before the shards start ([`MeshBuilder::new`]); each shard takes
//! its [`MeshEnds`] and connects them on its own executor. Generic over the one
//! message type `M` the application defines. Sending to an out-of-range shard or
//! to oneself is an error, never a panic.

use glommio::channels::shared_channel::{
    self, ConnectedReceiver, ConnectedSender, SharedReceiver, SharedSender,
};

/// Why a mesh send failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MeshError {
    /// No such shard, or the shard itself.
    NoRoute(usize),
    /// The receiving shard has stopped.
    Closed(usize),
}

impl std::fmt::Display for MeshError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MeshError::NoRoute(s) => write!(f, "no route to shard {s}"),
            MeshError::Closed(s) => write!(f, "shard {s} has stopped"),
        }
    }
}

/// One shard's unconnected ends of the mesh (`Send`, handed to its thread).
pub struct MeshEnds<M: Send> {
    id: usize,
    senders: Vec<Option<SharedSender<M>>>,
    receivers: Vec<(usize, SharedReceiver<M>)>,
}

/// Creates every shard's ends of a full mesh.
pub struct MeshBuilder;

impl MeshBuilder {
    /// Channels for `shards` shards, each bounded to `capacity` messages.
    #[allow(clippy::new_ret_no_self)]
    pub fn new<M: Send + 'static>(shards: usize, capacity: usize) -> Vec<MeshEnds<M>> {
        let mut ends: Vec<MeshEnds<M>> = (0..shards)
            .map(|id| MeshEnds {
                id,
                senders: (0..shards).map(|_| None).collect(),
                receivers: Vec::new(),
            })
            .collect();
        for from in 0..shards {
            for to in 0..shards {
                if from == to {
                    continue;
                }
                let (tx, rx) = shared_channel::new_bounded(capacity);
                ends[from].senders[to] = Some(tx);
                ends[to].receivers.push((from, rx));
            }
        }
        ends
    }
}

impl<M: Send + 'static> MeshEnds<M> {
    /// This shard's id.
    pub fn id(&self) -> usize {
        self.id
    }

    /// Connect on the current executor: the sending half and one receiver per
    /// peer. Receivers connect in their own tasks so that every shard can wait
    /// for its senders' peers without a cycle.
    pub async fn connect(self) -> (Mesh<M>, Vec<(usize, ConnectedReceiver<M>)>) {
        let pending: Vec<_> = self
            .receivers
            .into_iter()
            .map(|(from, r)| (from, glommio::spawn_local(r.connect())))
            .collect();
        let mut senders = Vec::with_capacity(self.senders.len());
        for s in self.senders {
            senders.push(match s {
                Some(s) => Some(s.connect().await),
                None => None,
            });
        }
        let mut receivers = Vec::with_capacity(pending.len());
        for (from, task) in pending {
            receivers.push((from, task.await));
        }
        (
            Mesh {
                id: self.id,
                senders,
            },
            receivers,
        )
    }
}

/// A shard's sending half of the mesh.
pub struct Mesh<M: Send> {
    id: usize,
    senders: Vec<Option<ConnectedSender<M>>>,
}

impl<M: Send + 'static> Mesh<M> {
    /// This shard's id.
    pub fn id(&self) -> usize {
        self.id
    }

    /// Number of shards in the mesh.
    pub fn shards(&self) -> usize {
        self.senders.len()
    }

    /// Send `msg` to shard `to`, waiting while its channel is full.
    pub async fn send(&self, to: usize, msg: M) -> Result<(), MeshError> {
        let Some(Some(tx)) = self.senders.get(to) else {
            return Err(MeshError::NoRoute(to));
        };
        tx.send(msg).await.map_err(|_| MeshError::Closed(to))
    }
}
