//! Connection and rate limits without locks.
//!
//! Per-IP state lives on the IP's owner shard (`shard_for(ip)`): concurrent
//! WebSocket counts and one-minute request windows. Other shards ask it with
//! [`LimitMsg`] through the runtime's call path (a shard that does not answer
//! fails open). The process-wide WebSocket total is one atomic in `Global`
//! (touched on upgrade and close, never per message). Per-socket message rates
//! are plain fields of the session ([`WsRate`]). Stale windows are swept by the
//! housekeeping tick, so memory stays flat under an IP-spraying load.

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;
use std::time::{Duration, Instant};

use glommio::spawn_local;
use shards::{shard_for, Reply};

use crate::app::Shard;
use crate::config::{Config, LimitsArgs};
use crate::msg::ShardMsg;
use crate::stats::Reject;

/// Rate classes counted per IP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum RateClass {
    Api = 0,
    Auth = 1,
    RoomCreate = 2,
}

const WINDOW: Duration = Duration::from_secs(60);

/// Answer of a per-IP rate check (fixed one-minute window).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateDecision {
    pub allowed: bool,
    pub limit: u32,
    pub remaining: u32,
    /// Seconds until the window resets.
    pub reset_secs: u32,
}

/// Requests to the IP's owner shard (inside `ShardMsg::Limits`).
#[derive(Debug)]
pub enum LimitMsg {
    /// May `ip` open one more WebSocket (at most `max`)?
    Acquire {
        ip: IpAddr,
        max: u32,
        reply: Reply<bool>,
    },
    /// A WebSocket of `ip` closed.
    Release { ip: IpAddr },
    /// Count one event of `class` for `ip` in its per-minute window of `limit` events.
    Check {
        ip: IpAddr,
        class: RateClass,
        limit: u32,
        reply: Reply<RateDecision>,
    },
}

/// Handle a [`LimitMsg`] on the IP's owner shard.
pub fn handle(shard: &Rc<Shard>, msg: LimitMsg) {
    let ips = &shard.app.ips;
    match msg {
        LimitMsg::Acquire { ip, max, reply } => {
            let _ = reply.send(ips.acquire(ip, max));
        }
        LimitMsg::Release { ip } => ips.release(ip),
        LimitMsg::Check {
            ip,
            class,
            limit,
            reply,
        } => {
            let _ = reply.send(ips.check(ip, class as u8, limit, Instant::now()));
        }
    }
}

/// Per-IP state owned by this shard (for the IPs that hash to it).
#[derive(Debug, Default)]
pub struct IpTable {
    /// Open WebSockets per IP; entries leave when the count drops to 0.
    conns: RefCell<HashMap<IpAddr, u32>>,
    /// One-minute windows per (IP, class): (window start, count). Swept when stale.
    windows: RefCell<HashMap<(IpAddr, u8), (Instant, u32)>>,
}

impl IpTable {
    /// Take a WebSocket slot for `ip` if it has fewer than `max`.
    pub fn acquire(&self, ip: IpAddr, max: u32) -> bool {
        let mut c = self.conns.borrow_mut();
        let n = c.entry(ip).or_insert(0);
        if max > 0 && *n >= max {
            if *n == 0 {
                c.remove(&ip);
            }
            return false;
        }
        *n += 1;
        true
    }

    /// Give a slot back.
    pub fn release(&self, ip: IpAddr) {
        let mut c = self.conns.borrow_mut();
        if let Some(n) = c.get_mut(&ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                c.remove(&ip);
            }
        }
    }

    /// Count one event in the window of (`ip`, `class`).
    pub fn check(&self, ip: IpAddr, class: u8, limit: u32, now: Instant) -> RateDecision {
        let mut w = self.windows.borrow_mut();
        let e = w.entry((ip, class)).or_insert((now, 0));
        if now.duration_since(e.0) >= WINDOW {
            *e = (now, 0);
        }
        let reset = WINDOW
            .saturating_sub(now.duration_since(e.0))
            .as_secs()
            .max(1) as u32;
        if e.1 >= limit {
            return RateDecision {
                allowed: false,
                limit,
                remaining: 0,
                reset_secs: reset,
            };
        }
        e.1 += 1;
        RateDecision {
            allowed: true,
            limit,
            remaining: limit - e.1,
            reset_secs: reset,
        }
    }

    /// Drop windows that ended; returns how many remain.
    pub fn sweep(&self, now: Instant) -> usize {
        let mut w = self.windows.borrow_mut();
        w.retain(|_, (start, _)| now.duration_since(*start) < WINDOW);
        w.len()
    }

    /// Open WebSockets of every IP this shard owns (the cluster's counts are rewritten from
    /// these every few seconds).
    pub fn conn_counts(&self) -> Vec<(IpAddr, u32)> {
        self.conns
            .borrow()
            .iter()
            .map(|(ip, n)| (*ip, *n))
            .collect()
    }

    /// Number of IPs with open WebSockets (for tests and metrics).
    pub fn tracked_ips(&self) -> usize {
        self.conns.borrow().len()
    }

    /// Number of live rate windows.
    pub fn windows(&self) -> usize {
        self.windows.borrow().len()
    }
}

fn ip_owner(shard: &Rc<Shard>, ip: IpAddr) -> usize {
    shard_for(&ip.to_string(), shard.shards())
}

/// The client IP: the peer, or the last untrusted hop of `X-Forwarded-For`
/// when the peer is a trusted proxy.
pub fn client_ip(cfg: &Config, peer: SocketAddr, forwarded_for: Option<&str>) -> IpAddr {
    let ip = peer.ip();
    if !cfg.limits.trusted_proxies.contains(&ip) {
        return ip;
    }
    let Some(xff) = forwarded_for else { return ip };
    xff.rsplit(',')
        .map(str::trim)
        .filter_map(|h| h.parse::<IpAddr>().ok())
        .find(|h| !cfg.limits.trusted_proxies.contains(h))
        .unwrap_or(ip)
}

/// Ask the IP's owner for a WebSocket slot (per-IP limit) and take one from the
/// process-wide total. Err is the rejection reason.
pub async fn acquire_ws_slot(shard: &Rc<Shard>, ip: IpAddr) -> Result<(), Reject> {
    let cfg = &shard.app.config;
    if !shard
        .app
        .global
        .take_ws_slot(cfg.limits.max_total_connections)
    {
        return Err(Reject::TotalLimit);
    }
    let max = cfg.limits.max_conns_per_ip;
    if max == 0 {
        return Ok(());
    }
    let owner = ip_owner(shard, ip);
    // In a cluster the count is the cluster's; the owner shard still counts this node's
    // slots, which is the limit when Redis does not answer.
    let mut local_max = max;
    if let Some(c) = &shard.app.cluster {
        match c.cluster.ip_acquire(ip, owner, max).await {
            Some(true) => local_max = 0,
            Some(false) => {
                shard.app.global.give_ws_slot();
                return Err(Reject::PerIpLimit);
            }
            None => shards::stats::inc(&shard.app.stats.limits_local_fallback_total),
        }
    }
    // If the owner cannot answer, fail open on the per-IP limit only.
    let ok = shard
        .call(owner, |reply| {
            ShardMsg::Limits(LimitMsg::Acquire {
                ip,
                max: local_max,
                reply,
            })
        })
        .await
        .unwrap_or(true);
    if ok {
        Ok(())
    } else {
        shard.app.global.give_ws_slot();
        Err(Reject::PerIpLimit)
    }
}

/// Give back the slot taken by [`acquire_ws_slot`] (from any shard).
pub fn release_ws_slot(shard: &Rc<Shard>, ip: IpAddr) {
    shard.app.global.give_ws_slot();
    if shard.app.config.limits.max_conns_per_ip == 0 {
        return;
    }
    let owner = ip_owner(shard, ip);
    if let Some(c) = &shard.app.cluster {
        c.cluster.ip_release(ip, owner);
    }
    if owner == shard.id {
        shard.app.ips.release(ip);
    } else {
        let shard = shard.clone();
        spawn_local(async move {
            let _ = shard
                .send(owner, ShardMsg::Limits(LimitMsg::Release { ip }))
                .await;
        })
        .detach();
    }
}

/// Count one `class` event for `ip` (on its owner shard); fails open when the owner does
/// not answer.
pub async fn rate_check(
    shard: &Rc<Shard>,
    ip: IpAddr,
    class: RateClass,
    limit: u32,
) -> RateDecision {
    if limit == 0 {
        return RateDecision {
            allowed: true,
            limit: 0,
            remaining: 0,
            reset_secs: 0,
        };
    }
    if let Some(c) = &shard.app.cluster {
        match c.cluster.rate(class as u8, ip, limit).await {
            Some(a) => {
                return RateDecision {
                    allowed: a.allowed,
                    limit,
                    remaining: if a.allowed {
                        limit.saturating_sub(a.count)
                    } else {
                        0
                    },
                    reset_secs: a.reset_ms.div_ceil(1000).clamp(1, 60) as u32,
                };
            }
            None => shards::stats::inc(&shard.app.stats.limits_local_fallback_total),
        }
    }
    shard
        .call(ip_owner(shard, ip), |reply| {
            ShardMsg::Limits(LimitMsg::Check {
                ip,
                class,
                limit,
                reply,
            })
        })
        .await
        .unwrap_or(RateDecision {
            allowed: true,
            limit,
            remaining: limit,
            reset_secs: 60,
        })
}

/// Per-socket WebSocket message rate (fixed 1 s and 10 s windows).
#[derive(Debug)]
pub struct WsRate {
    sec_start: Instant,
    sec_msgs: u32,
    ten_start: Instant,
    ten_msgs: u32,
    ten_bytes: u64,
    /// Messages refused in a row.
    pub strikes: u32,
}

/// Outcome of [`WsRate::admit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    Ok,
    /// Over the message-count limit.
    Messages,
    /// Over the byte limit.
    Bytes,
}

impl WsRate {
    /// Fresh windows starting `now`.
    pub fn new(now: Instant) -> WsRate {
        WsRate {
            sec_start: now,
            sec_msgs: 0,
            ten_start: now,
            ten_msgs: 0,
            ten_bytes: 0,
            strikes: 0,
        }
    }

    /// Count one message of `len` bytes at `now` against the limits of `cfg`.
    pub fn admit(&mut self, cfg: &LimitsArgs, len: usize, now: Instant) -> Admit {
        if now.duration_since(self.sec_start) >= Duration::from_secs(1) {
            self.sec_start = now;
            self.sec_msgs = 0;
        }
        if now.duration_since(self.ten_start) >= Duration::from_secs(10) {
            self.ten_start = now;
            self.ten_msgs = 0;
            self.ten_bytes = 0;
        }
        let over_sec = cfg.ws_max_msgs_per_sec > 0 && self.sec_msgs >= cfg.ws_max_msgs_per_sec;
        let over_ten = cfg.ws_max_msgs_per_10s > 0 && self.ten_msgs >= cfg.ws_max_msgs_per_10s;
        let over_bytes =
            cfg.ws_max_bytes_per_10s > 0 && self.ten_bytes + len as u64 > cfg.ws_max_bytes_per_10s;
        let verdict = if over_sec || over_ten {
            Admit::Messages
        } else if over_bytes {
            Admit::Bytes
        } else {
            Admit::Ok
        };
        if verdict == Admit::Ok {
            self.sec_msgs += 1;
            self.ten_msgs += 1;
            self.ten_bytes += len as u64;
            self.strikes = 0;
        } else {
            self.strikes += 1;
        }
        verdict
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_ip_slots() {
        let t = IpTable::default();
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        for _ in 0..3 {
            assert!(t.acquire(ip, 3));
        }
        assert!(!t.acquire(ip, 3));
        t.release(ip);
        assert!(t.acquire(ip, 3));
        for _ in 0..3 {
            t.release(ip);
        }
        assert_eq!(t.tracked_ips(), 0);
    }

    #[test]
    fn windows_count_and_reset() {
        let t = IpTable::default();
        let ip: IpAddr = "10.0.0.2".parse().unwrap();
        let now = Instant::now();
        for i in 0..10 {
            let d = t.check(ip, 1, 10, now);
            assert!(d.allowed);
            assert_eq!(d.remaining, 9 - i);
        }
        let d = t.check(ip, 1, 10, now);
        assert!(!d.allowed);
        assert!(d.reset_secs >= 59);
        // Another class is independent.
        assert!(t.check(ip, 0, 10, now).allowed);
        let later = now + Duration::from_secs(61);
        assert!(t.check(ip, 1, 10, later).allowed);
        assert_eq!(t.sweep(later + Duration::from_secs(61)), 0);
    }

    #[test]
    fn ws_rate_windows() {
        let cfg = LimitsArgs {
            ws_max_msgs_per_sec: 2,
            ws_max_msgs_per_10s: 3,
            ws_max_bytes_per_10s: 100,
            ..Config::default().limits
        };
        let t0 = Instant::now();
        let mut r = WsRate::new(t0);
        assert_eq!(r.admit(&cfg, 10, t0), Admit::Ok);
        assert_eq!(r.admit(&cfg, 10, t0), Admit::Ok);
        assert_eq!(r.admit(&cfg, 10, t0), Admit::Messages);
        assert_eq!(r.strikes, 1);
        let t1 = t0 + Duration::from_millis(1100);
        assert_eq!(r.admit(&cfg, 10, t1), Admit::Ok);
        assert_eq!(r.admit(&cfg, 10, t1), Admit::Messages, "10 s window");
        let t2 = t0 + Duration::from_secs(11);
        assert_eq!(r.admit(&cfg, 101, t2), Admit::Bytes);
        assert_eq!(r.admit(&cfg, 50, t2), Admit::Ok);
    }

    #[test]
    fn forwarded_for_only_from_trusted_proxies() {
        let mut cfg = Config::default();
        let peer: SocketAddr = "10.1.1.1:5000".parse().unwrap();
        assert_eq!(client_ip(&cfg, peer, Some("1.2.3.4")), peer.ip());
        cfg.limits.trusted_proxies = vec!["10.1.1.1".parse().unwrap()];
        assert_eq!(
            client_ip(&cfg, peer, Some("9.9.9.9, 1.2.3.4")),
            "1.2.3.4".parse::<IpAddr>().unwrap()
        );
        assert_eq!(client_ip(&cfg, peer, Some("junk")), peer.ip());
    }
}
