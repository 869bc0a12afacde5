//! Open-loop rate pacing. Event `i` of a run is *intended* at `start + i / rate`, fixed before
//! the run starts and never moved: when the load generator wakes late it issues every overdue
//! event at once (catch-up) and each keeps its original intended time, so latency measured from
//! the intended time includes any stall of the server, the kernel or the load generator itself
//! (no coordinated omission). A [`Window`] splits the schedule into warm-up and measured parts.

/// Phase of an intended time within a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Before the measured window: sent, but excluded from histograms and counts.
    Warmup,
    /// Inside the measured window.
    Measured,
}

/// The time layout of one run (all nanoseconds on the run's [`crate::clock::Clock`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    /// First intended send time.
    pub start_ns: u64,
    /// Intended times before this are warm-up.
    pub measure_from_ns: u64,
    /// No event is intended at or after this time.
    pub end_ns: u64,
}

impl Window {
    /// A window starting at `start_ns` with `warmup_ns` of warm-up then `measure_ns` measured.
    pub fn new(start_ns: u64, warmup_ns: u64, measure_ns: u64) -> Self {
        Self {
            start_ns,
            measure_from_ns: start_ns + warmup_ns,
            end_ns: start_ns + warmup_ns + measure_ns,
        }
    }

    /// Phase of an intended time.
    #[inline]
    pub fn phase(&self, intended_ns: u64) -> Phase {
        if intended_ns < self.measure_from_ns {
            Phase::Warmup
        } else {
            Phase::Measured
        }
    }

    /// Length of the measured part in seconds.
    pub fn measured_secs(&self) -> f64 {
        (self.end_ns - self.measure_from_ns) as f64 / 1e9
    }
}

/// Fixed-rate schedule of intended event times.
#[derive(Clone, Debug)]
pub struct Pacer {
    window: Window,
    period_ns: f64,
    issued: u64,
}

impl Pacer {
    /// A pacer issuing `rate` events per second over `window`. A non-positive rate issues nothing.
    pub fn new(window: Window, rate: f64) -> Self {
        let period_ns = if rate > 0.0 && rate.is_finite() {
            1e9 / rate
        } else {
            f64::INFINITY
        };
        Self {
            window,
            period_ns,
            issued: 0,
        }
    }

    /// The window this pacer runs in.
    pub fn window(&self) -> &Window {
        &self.window
    }

    /// Intended time of event `i` (saturating at `u64::MAX` for a zero rate).
    #[inline]
    pub fn intended(&self, i: u64) -> u64 {
        let off = i as f64 * self.period_ns;
        if off.is_finite() && off < (u64::MAX - self.window.start_ns) as f64 {
            self.window.start_ns + off as u64
        } else {
            u64::MAX
        }
    }

    /// Intended time of the next event, or `None` when the schedule is exhausted.
    #[inline]
    pub fn next_due(&self) -> Option<u64> {
        let t = self.intended(self.issued);
        (t < self.window.end_ns).then_some(t)
    }

    /// Takes the next event if it is due at `now_ns`, returning its intended time. Call in a
    /// loop: after a stall every overdue event is returned (catch-up), none is skipped.
    #[inline]
    pub fn poll(&mut self, now_ns: u64) -> Option<u64> {
        match self.next_due() {
            Some(t) if t <= now_ns => {
                self.issued += 1;
                Some(t)
            }
            _ => None,
        }
    }

    /// Events issued so far.
    pub fn issued(&self) -> u64 {
        self.issued
    }

    /// True once every event of the window has been issued.
    pub fn done(&self) -> bool {
        self.next_due().is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intended_times_are_evenly_spaced_from_start() {
        let p = Pacer::new(Window::new(1_000, 0, 1_000_000_000), 1000.0);
        assert_eq!(p.intended(0), 1_000);
        assert_eq!(p.intended(1), 1_001_000);
        assert_eq!(p.intended(10), 10_001_000);
        // no drift after many events
        assert_eq!(p.intended(999), 999_001_000);
    }

    #[test]
    fn nothing_is_issued_before_its_time() {
        let mut p = Pacer::new(Window::new(0, 0, 1_000_000_000), 1000.0);
        assert_eq!(p.poll(0), Some(0));
        assert_eq!(p.poll(999_999), None);
        assert_eq!(p.poll(1_000_000), Some(1_000_000));
        assert_eq!(p.issued(), 2);
    }

    #[test]
    fn catch_up_issues_every_overdue_event_with_its_original_time() {
        let mut p = Pacer::new(Window::new(0, 0, 1_000_000_000), 1000.0);
        // the loop stalls for 10.5 ms: all 11 events intended at 0..=10 ms come out at once,
        // each stamped with its intended time, not with the late wake-up time
        let mut got = Vec::new();
        while let Some(t) = p.poll(10_500_000) {
            got.push(t);
        }
        assert_eq!(got.len(), 11);
        for (i, t) in got.iter().enumerate() {
            assert_eq!(*t, i as u64 * 1_000_000);
        }
        assert_eq!(p.next_due(), Some(11_000_000));
    }

    #[test]
    fn schedule_ends_at_window_end_and_counts_match_rate() {
        let mut p = Pacer::new(Window::new(0, 500_000_000, 1_000_000_000), 2000.0);
        let mut warm = 0;
        let mut measured = 0;
        while let Some(t) = p.poll(u64::MAX) {
            match p.window().phase(t) {
                Phase::Warmup => warm += 1,
                Phase::Measured => measured += 1,
            }
        }
        assert_eq!(warm, 1000);
        assert_eq!(measured, 2000);
        assert!(p.done());
        assert_eq!(p.window().measured_secs(), 1.0);
    }

    #[test]
    fn zero_rate_issues_nothing() {
        let mut p = Pacer::new(Window::new(0, 0, 1_000_000_000), 0.0);
        assert_eq!(p.poll(u64::MAX), None);
        assert!(p.done());
    }

    #[test]
    fn fractional_rates_do_not_accumulate_error() {
        let p = Pacer::new(Window::new(0, 0, u64::MAX / 2), 3.0);
        // 3 per second: event 3_000_000 is at exactly 1_000_000 s
        assert_eq!(p.intended(3_000_000), 1_000_000_000_000_000);
    }
}
