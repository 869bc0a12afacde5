//! The open-loop schedule shared by the typed scenarios (chess, matchmaking):
//! the measurement window, its pacer, the sends that came due and wait for a
//! ready client, and the server CPU probe around the measured part.
//!
//! It decides *when* work is due and measures; it never touches sockets or a
//! scenario's own bookkeeping.

use std::collections::VecDeque;

use crate::pacer::{Pacer, Phase, Window};
use crate::usage::{Probe, Usage};

/// A sent event is late when it left more than this after its intended time.
const LATE_NS: u64 = 1_000_000;

/// One scenario run's schedule.
pub struct OpenLoop {
    pub window: Window,
    pacer: Pacer,
    drain_ns: u64,
    /// Offered events per second.
    pub rate: f64,
    /// Intended times of events that came due and wait for a ready client.
    pub due: VecDeque<u64>,
    /// Events intended inside the measured window.
    pub sends: u64,
    /// Measured events that left more than 1 ms after their intended time.
    pub waits: u64,
    server_pid: Option<u32>,
    probe: Option<Probe>,
    usage: Option<Usage>,
}

impl OpenLoop {
    /// A window starting at `start_ns` (warm-up, then `measure_ns`), `rate`
    /// events per second, and `drain_ns` to wait for answers after the end.
    pub fn new(
        start_ns: u64,
        warmup_ns: u64,
        measure_ns: u64,
        rate: f64,
        drain_ns: u64,
        server_pid: Option<u32>,
    ) -> Self {
        let window = Window::new(start_ns, warmup_ns, measure_ns);
        OpenLoop {
            window,
            pacer: Pacer::new(window, rate),
            drain_ns,
            rate,
            due: VecDeque::new(),
            sends: 0,
            waits: 0,
            server_pid,
            probe: None,
            usage: None,
        }
    }

    /// Start the server probe when measuring begins and queue every event
    /// that came due by `now`.
    pub fn advance(&mut self, now: u64) {
        if self.probe.is_none() && now >= self.window.measure_from_ns {
            self.probe = Some(Probe::start(self.server_pid));
        }
        while let Some(t) = self.pacer.poll(now) {
            if self.window.phase(t) == Phase::Measured {
                self.sends += 1;
            }
            self.due.push_back(t);
        }
    }

    /// The event intended at `t` left at `now`; true when it is measured.
    pub fn sent(&mut self, t: u64, now: u64) -> bool {
        let measured = self.window.phase(t) == Phase::Measured;
        if measured && now.saturating_sub(t) > LATE_NS {
            self.waits += 1;
        }
        measured
    }

    /// Take the CPU usage once the window has ended (`units` delivered so far).
    pub fn settle(&mut self, now: u64, units: u64, unit: &str) {
        if self.usage.is_none() && now >= self.window.end_ns {
            let pid = self.server_pid;
            let probe = self.probe.get_or_insert_with(|| Probe::start(pid));
            self.usage = Some(probe.finish(units, unit));
        }
    }

    /// Whether the run is over: the window ended and nothing is outstanding
    /// (`idle`), or the drain time is up.
    pub fn finished(&self, now: u64, idle: bool) -> bool {
        self.pacer.done()
            && now >= self.window.end_ns
            && ((idle && self.due.is_empty()) || now >= self.window.end_ns + self.drain_ns)
    }

    /// How long the event loop may sleep (ns).
    pub fn poll_timeout(&self, now: u64) -> u64 {
        match self.pacer.next_due() {
            Some(t) => t.saturating_sub(now).min(10_000_000),
            None => 1_000_000,
        }
    }

    /// The measured usage, with the load generator's CPU per `units`.
    pub fn usage(&self, units: u64) -> Usage {
        let mut usage = self.usage.clone().unwrap_or_default();
        if units > 0 {
            usage.client.cpu_us_per_unit = usage.client.cpu_us as f64 / units as f64;
        }
        usage
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules_counts_and_finishes() {
        let ms = 1_000_000;
        // 1000 events/s: 100 ms warm-up, 200 ms measured.
        let mut ol = OpenLoop::new(0, 100 * ms, 200 * ms, 1000.0, 50 * ms, None);
        ol.advance(150 * ms);
        assert!(ol.due.len() >= 150);
        assert!(ol.sends >= 49 && ol.sends <= 51, "{}", ol.sends);
        let t = ol.due.pop_front().unwrap();
        assert!(!ol.sent(t, t), "warm-up events are not measured");
        let t = 120 * ms;
        assert!(ol.sent(t, t + 2 * ms));
        assert_eq!(ol.waits, 1);
        assert!(!ol.finished(250 * ms, true));
        ol.advance(400 * ms);
        ol.due.clear();
        assert!(ol.finished(400 * ms, true));
        assert!(!ol.finished(310 * ms, false));
        assert!(ol.finished(360 * ms, false), "drain over");
        assert!(ol.poll_timeout(400 * ms) <= 10 * ms);
    }
}
