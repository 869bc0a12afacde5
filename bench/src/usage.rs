//! Resource accounting over a measured window: samples the server (/proc, when a pid is given)
//! and the load generator (getrusage) at the window's start and end, and turns the differences
//! into CPU %, CPU µs per delivered unit and units per server CPU-second.

use std::time::Instant;

use crate::model::{ClientUsage, ServerUsage};
use crate::procstat::{self, ProcSample};

/// A started measurement.
#[derive(Clone, Debug)]
pub struct Probe {
    /// The servers' pids (their figures are summed; the first names the run).
    pids: Vec<u32>,
    server0: Option<ProcSample>,
    /// Each pid's CPU at the start, µs (several pids only).
    parts0: Vec<u64>,
    self0: u64,
    t0: Instant,
}

/// Start and end readings turned into usage figures.
#[derive(Clone, Debug, Default)]
pub struct Usage {
    /// Server side, if a pid was given and readable.
    pub server: Option<ServerUsage>,
    /// Load generator side.
    pub client: ClientUsage,
}

impl Probe {
    /// Samples now.
    pub fn start(pid: Option<u32>) -> Self {
        Self::start_all(pid.into_iter().collect())
    }

    /// Samples now, several servers (a cluster's nodes) counted as one.
    pub fn start_all(pids: Vec<u32>) -> Self {
        let parts0 = if pids.len() > 1 {
            cpu_each(&pids)
        } else {
            Vec::new()
        };
        Self {
            server0: sample_all(&pids),
            parts0,
            pids,
            self0: procstat::self_cpu_us(),
            t0: Instant::now(),
        }
    }

    /// RSS at the start, KiB (0 without a pid).
    pub fn rss_before_kb(&self) -> u64 {
        self.server0.map_or(0, |s| s.rss_kb)
    }

    /// Samples again and computes usage for `units` of `unit` done in between.
    pub fn finish(&self, units: u64, unit: &str) -> Usage {
        let wall_us = self.t0.elapsed().as_micros().max(1) as f64;
        let self_cpu = procstat::self_cpu_us().saturating_sub(self.self0);
        let per = |cpu: u64| {
            if units == 0 {
                0.0
            } else {
                cpu as f64 / units as f64
            }
        };
        let client = ClientUsage {
            cpu_us: self_cpu,
            cpu_pct: 100.0 * self_cpu as f64 / wall_us,
            cpu_us_per_unit: per(self_cpu),
        };
        let server = match (self.pids.first().copied(), self.server0) {
            (Some(pid), Some(s0)) => sample_all(&self.pids).map(|s1| {
                let cpu = s1.cpu_us.saturating_sub(s0.cpu_us);
                ServerUsage {
                    pid,
                    cpu_us: cpu,
                    sys_us: s1.sys_us.saturating_sub(s0.sys_us).min(cpu),
                    cpu_pct: 100.0 * cpu as f64 / wall_us,
                    rss_before_kb: s0.rss_kb,
                    rss_held_kb: s1.rss_kb,
                    rss_after_kb: s1.rss_kb,
                    peak_rss_kb: s1.hwm_kb,
                    unit: unit.to_string(),
                    cpu_us_per_unit: per(cpu),
                    units_per_cpu_sec: if cpu == 0 {
                        0.0
                    } else {
                        units as f64 * 1e6 / cpu as f64
                    },
                    bytes_per_conn: None,
                    parts: if self.parts0.is_empty() {
                        Vec::new()
                    } else {
                        self.pids
                            .iter()
                            .zip(cpu_each(&self.pids).iter().zip(&self.parts0))
                            .map(|(&pid, (c1, c0))| crate::model::PidCpu {
                                pid,
                                cpu_us: c1.saturating_sub(*c0),
                            })
                            .collect()
                    },
                }
            }),
            _ => None,
        };
        Usage { server, client }
    }
}

/// Each pid's CPU, µs (0 when unreadable).
fn cpu_each(pids: &[u32]) -> Vec<u64> {
    pids.iter()
        .map(|&p| procstat::sample(p).map_or(0, |s| s.cpu_us))
        .collect()
}

/// CPU and memory of `pids` added up (`None` if one is unreadable or there is none).
fn sample_all(pids: &[u32]) -> Option<ProcSample> {
    let mut all: Option<ProcSample> = None;
    for &p in pids {
        let s = procstat::sample(p).ok()?;
        all = Some(match all {
            None => s,
            Some(a) => ProcSample {
                cpu_us: a.cpu_us + s.cpu_us,
                sys_us: a.sys_us + s.sys_us,
                rss_kb: a.rss_kb + s.rss_kb,
                hwm_kb: a.hwm_kb + s.hwm_kb,
            },
        });
    }
    all
}

/// Current RSS of `pid` in KiB (0 if unreadable or no pid).
pub fn rss_kb(pid: Option<u32>) -> u64 {
    pid.and_then(|p| procstat::sample(p).ok())
        .map_or(0, |s| s.rss_kb)
}

/// Peak RSS of `pid` in KiB (0 if unreadable or no pid).
pub fn hwm_kb(pid: Option<u32>) -> u64 {
    pid.and_then(|p| procstat::sample(p).ok())
        .map_or(0, |s| s.hwm_kb)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probing_own_process_gives_per_unit_figures() {
        let p = Probe::start(Some(std::process::id()));
        let mut x = 0u64;
        for i in 0..2_000_000u64 {
            x = x.wrapping_add(i * i);
        }
        assert!(x > 0);
        let u = p.finish(1000, "delivery");
        let s = u.server.unwrap();
        assert_eq!(s.unit, "delivery");
        assert!(s.rss_before_kb > 0);
        assert!(u.client.cpu_pct >= 0.0);
        let me = std::process::id();
        let two = Probe::start_all(vec![me, me]).finish(10, "delivery");
        let s2 = two.server.unwrap();
        assert_eq!(s2.parts.len(), 2);
        assert_eq!(s2.parts[0].pid, me);
        let none = Probe::start(None).finish(0, "request");
        assert!(none.server.is_none());
        assert_eq!(none.client.cpu_us_per_unit, 0.0);
    }
}
