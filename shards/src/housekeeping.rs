//! The housekeeping tick of one shard: deadlines, heartbeats, loop lag and the drain.
//!
//! Timeouts never use a timer per connection: every `Settings::tick` the tick walks the
//! connection table and `shutdown(2)`s sockets past their deadline (the owning task then
//! reads EOF), pings message sessions that were quiet for the heartbeat interval and drops
//! those that did not answer. It also measures how late its own timer fired. When the
//! process drains it stops the accept loop, lets the application tell its sessions, closes
//! idle keep-alive connections and waits until the table is empty or the drain deadline
//! passed.

use std::rc::Rc;
use std::time::{Duration, Instant};

use glommio::Task;

use crate::app::App;
use crate::io;
use crate::shard::Shard;
use crate::stats::{self, Disconnect};

/// A housekeeping tick this late means the shard could not run for that long: logged.
const STALL_LOG_AFTER: Duration = Duration::from_millis(100);
/// At most one stall line per shard per this long (with the count of stalls held back).
const STALL_LOG_EVERY: Duration = Duration::from_secs(10);
/// How long an idle keep-alive connection may stay once the drain started.
const IDLE_GRACE: Duration = Duration::from_secs(1);

/// One pass over the table: deadlines and heartbeats.
fn sweep<A: App>(shard: &Shard<A>, now: Instant) {
    let hb = &shard.settings.heartbeat;
    let mut expired = Vec::new();
    shard.conns.for_each(|e| {
        if e.deadline.get().is_some_and(|d| now >= d) {
            e.deadline.set(None);
            expired.push(e.fd);
            stats::inc(&shard.counters.timeouts_total);
            return;
        }
        let session = e.session.borrow();
        let Some(ob) = session.as_ref() else { return };
        match e.ping_sent.get() {
            Some(sent) if now.duration_since(sent) >= hb.timeout => {
                tracing::info!(conn = e.id, peer = %e.peer, "websocket ping timeout");
                ob.set_reason(Disconnect::PingTimeout);
                ob.kill(None);
                expired.push(e.fd);
                stats::inc(&shard.counters.timeouts_total);
            }
            None if now.duration_since(e.last_ping.get()) >= hb.interval
                && ob.push_control(shard.ping.clone()).is_ok() =>
            {
                stats::inc(&shard.counters.pings_sent_total);
                e.ping_sent.set(Some(now));
                e.last_ping.set(now);
            }
            _ => {}
        }
    });
    for fd in expired {
        io::shutdown(fd);
    }
}

/// First drain pass: the application tells its sessions; idle connections get a short grace.
fn start_drain<A: App>(shard: &Rc<Shard<A>>, now: Instant) {
    shard.set_draining();
    tracing::info!(connections = shard.conns.len(), "draining");
    let grace = IDLE_GRACE.min(shard.settings.drain);
    shard.conns.for_each(|e| {
        if e.session.borrow().is_none() && e.idle.get() {
            e.deadline.set(Some(now + grace));
        }
    });
    A::drain(shard, now);
}

/// Close whatever is still open when the drain deadline passed, give the tasks a moment.
async fn force_close<A: App>(shard: &Shard<A>) {
    tracing::warn!(
        remaining = shard.conns.len(),
        "drain deadline reached, closing remaining connections"
    );
    shard.conns.for_each(|e| {
        if let Some(ob) = e.session.borrow().as_ref() {
            ob.kill(None);
        }
        io::shutdown(e.fd);
    });
    let stop = Instant::now() + Duration::from_millis(500);
    while !shard.conns.is_empty() && Instant::now() < stop {
        glommio::timer::sleep(Duration::from_millis(10)).await;
    }
}

/// Run the tick until the drain completes.
pub(crate) async fn run<A: App>(shard: Rc<Shard<A>>, acceptor: Task<()>) {
    let period = shard.settings.tick;
    let mut acceptor = Some(acceptor);
    let mut drain_deadline: Option<Instant> = None;
    let mut last_stall_log: Option<Instant> = None;
    let mut stalls_held_back = 0u64;
    loop {
        let due = Instant::now() + period;
        glommio::timer::sleep(period).await;
        let now = Instant::now();
        let lag = now.saturating_duration_since(due);
        shard.loop_lag.observe(lag.as_secs_f64());
        if lag >= STALL_LOG_AFTER {
            if last_stall_log.is_none_or(|t| now.duration_since(t) >= STALL_LOG_EVERY) {
                tracing::warn!(
                    lag_ms = lag.as_millis() as u64,
                    suppressed = stalls_held_back,
                    "shard event loop stalled"
                );
                last_stall_log = Some(now);
                stalls_held_back = 0;
            } else {
                stalls_held_back += 1;
            }
        }
        if shard.lifecycle.draining() && !shard.draining() {
            if let Some(a) = acceptor.take() {
                a.cancel().await;
            }
            start_drain(&shard, now);
            drain_deadline = Some(now + shard.settings.drain);
        }
        sweep(&shard, now);
        A::tick(&shard, now);
        if let Some(deadline) = drain_deadline {
            if shard.conns.is_empty() {
                break;
            }
            if now >= deadline {
                force_close(&shard).await;
                break;
            }
        }
    }
    tracing::info!("shard stopped");
}
