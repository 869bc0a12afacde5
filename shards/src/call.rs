//! The one way to ask another shard: [`Shard::call`].
//!
//! A call names the shard that owns the key and a message carrying a oneshot [`Reply`].
//! When this shard is the owner the message is handled in place ([`App::handle`], no mesh
//! hop); otherwise it crosses the mesh. Either way the caller waits at most
//! [`CALL_TIMEOUT`] for the answer: one timeout policy for every cross-shard request.
//! Handlers are synchronous, so a call never nests inside another shard's handler and no
//! cycle of shards waiting on each other can form.

use std::rc::Rc;
use std::time::Duration;

use futures_channel::oneshot;

use crate::app::App;
use crate::mesh::MeshError;
use crate::shard::Shard;

/// Longest wait for the answer of a call.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(2);

/// The answering half a request message carries.
pub type Reply<T> = oneshot::Sender<T>;

/// Why a call got no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallError {
    /// No such shard.
    NoRoute(usize),
    /// The shard has stopped (or dropped the request without answering).
    Stopped(usize),
    /// No answer within [`CALL_TIMEOUT`].
    Timeout(usize),
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallError::NoRoute(s) => write!(f, "no route to shard {s}"),
            CallError::Stopped(s) => write!(f, "shard {s} has stopped"),
            CallError::Timeout(s) => write!(f, "shard {s} did not answer in time"),
        }
    }
}

impl From<MeshError> for CallError {
    fn from(e: MeshError) -> Self {
        match e {
            MeshError::NoRoute(s) => CallError::NoRoute(s),
            MeshError::Closed(s) => CallError::Stopped(s),
        }
    }
}

impl<A: App> Shard<A> {
    /// Deliver `msg` to shard `to`: handled in place when `to` is this shard.
    pub async fn send(self: &Rc<Self>, to: usize, msg: A::Msg) -> Result<(), CallError> {
        if to == self.id {
            A::handle(self, msg);
            return Ok(());
        }
        Ok(self.mesh.send(to, msg).await?)
    }

    /// Ask shard `to` and wait for its answer (at most [`CALL_TIMEOUT`]).
    pub async fn call<T>(
        self: &Rc<Self>,
        to: usize,
        make: impl FnOnce(Reply<T>) -> A::Msg,
    ) -> Result<T, CallError> {
        let (tx, mut rx) = oneshot::channel();
        self.send(to, make(tx)).await?;
        // Handled in place: the answer is already there, no timer to arm.
        match rx.try_recv() {
            Ok(Some(v)) => return Ok(v),
            Ok(None) => {}
            Err(_) => return Err(CallError::Stopped(to)),
        }
        match glommio::timer::timeout(CALL_TIMEOUT, async { Ok(rx.await) }).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(_)) => Err(CallError::Stopped(to)),
            Err(_) => Err(CallError::Timeout(to)),
        }
    }

    /// Ask every shard (this one included) at once and collect the answers that arrived
    /// within [`CALL_TIMEOUT`], in shard order; a stopped or slow shard is skipped.
    pub async fn call_all<T>(self: &Rc<Self>, make: impl Fn(Reply<T>) -> A::Msg) -> Vec<T> {
        self.call_each(0..self.shards(), make).await
    }

    /// [`Shard::call_all`] without this shard: for a caller that reads its own shard directly.
    pub async fn call_others<T>(self: &Rc<Self>, make: impl Fn(Reply<T>) -> A::Msg) -> Vec<T> {
        let me = self.id;
        self.call_each((0..self.shards()).filter(|&to| to != me), make)
            .await
    }

    async fn call_each<T>(
        self: &Rc<Self>,
        targets: impl Iterator<Item = usize>,
        make: impl Fn(Reply<T>) -> A::Msg,
    ) -> Vec<T> {
        // Grown on the first target: `call_others` on one shard allocates nothing.
        let mut pending = Vec::new();
        for to in targets {
            let (tx, rx) = oneshot::channel();
            if self.send(to, make(tx)).await.is_ok() {
                pending.push(rx);
            }
        }
        let mut answers = Vec::with_capacity(pending.len());
        let mut deadline = None;
        for mut rx in pending {
            // Answered in place (this shard's own): no clock read, no timer to arm.
            match rx.try_recv() {
                Ok(Some(v)) => {
                    answers.push(v);
                    continue;
                }
                Ok(None) => {}
                Err(_) => continue,
            }
            let now = std::time::Instant::now();
            let left = deadline
                .get_or_insert(now + CALL_TIMEOUT)
                .saturating_duration_since(now);
            if let Ok(Ok(v)) = glommio::timer::timeout(left, async { Ok(rx.await) }).await {
                answers.push(v);
            }
        }
        answers
    }
}
