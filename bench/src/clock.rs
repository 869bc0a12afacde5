//! Monotonic nanosecond clock shared by every scenario: all intended send times, receive times
//! and latencies are nanoseconds since one process-wide base instant, so one-way latencies
//! measured inside this process need no clock synchronisation.

use std::time::Instant;

/// A monotonic clock reading nanoseconds since its creation.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    base: Instant,
}

impl Default for Clock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock {
    /// A clock whose zero is now.
    pub fn new() -> Self {
        Self {
            base: Instant::now(),
        }
    }

    /// Nanoseconds since the clock was created.
    #[inline]
    pub fn now_ns(&self) -> u64 {
        self.base.elapsed().as_nanos() as u64
    }
}

/// Seconds (f64) to nanoseconds, saturating at zero for negative input.
pub fn secs_to_ns(secs: f64) -> u64 {
    if secs <= 0.0 {
        0
    } else {
        (secs * 1e9) as u64
    }
}

/// Parses a duration such as `10s`, `500ms`, `2m` or a bare number of seconds.
pub fn parse_duration_secs(s: &str) -> Result<f64, String> {
    let s = s.trim();
    let (num, mul) = if let Some(v) = s.strip_suffix("ms") {
        (v, 0.001)
    } else if let Some(v) = s.strip_suffix("us") {
        (v, 0.000_001)
    } else if let Some(v) = s.strip_suffix('s') {
        (v, 1.0)
    } else if let Some(v) = s.strip_suffix('m') {
        (v, 60.0)
    } else {
        (s, 1.0)
    };
    let v: f64 = num
        .trim()
        .parse()
        .map_err(|e| format!("bad duration {s:?}: {e}"))?;
    if !v.is_finite() || v < 0.0 {
        return Err(format!("bad duration {s:?}: must be >= 0"));
    }
    Ok(v * mul)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration_secs("10s").unwrap(), 10.0);
        assert_eq!(parse_duration_secs("500ms").unwrap(), 0.5);
        assert_eq!(parse_duration_secs("2m").unwrap(), 120.0);
        assert_eq!(parse_duration_secs("3").unwrap(), 3.0);
        assert!(parse_duration_secs("-1s").is_err());
        assert!(parse_duration_secs("abc").is_err());
    }

    #[test]
    fn clock_is_monotonic() {
        let c = Clock::new();
        let a = c.now_ns();
        let b = c.now_ns();
        assert!(b >= a);
        assert_eq!(secs_to_ns(1.5), 1_500_000_000);
        assert_eq!(secs_to_ns(-1.0), 0);
    }
}
