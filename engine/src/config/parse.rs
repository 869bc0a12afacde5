//! Value parsers shared by the configuration parts: booleans written the way operators
//! write them, durations in a named unit, comma-separated lists. Pure functions, no I/O.

use std::time::Duration;

/// `1/true/yes/on` or `0/false/no/off` (any case).
pub fn bool_flag(v: &str) -> Result<bool, String> {
    match v.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(format!("expected true/false, got {v:?}")),
    }
}

fn number(v: &str) -> Result<u64, String> {
    v.trim()
        .parse()
        .map_err(|_| format!("not a valid number: {v:?}"))
}

/// A whole number of milliseconds.
pub fn millis(v: &str) -> Result<Duration, String> {
    number(v).map(Duration::from_millis)
}

/// A whole number of seconds.
pub fn secs(v: &str) -> Result<Duration, String> {
    number(v).map(Duration::from_secs)
}

/// A comma-separated list; blanks are dropped.
pub fn list(v: &str) -> Vec<String> {
    v.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsers() {
        assert_eq!(bool_flag("Yes"), Ok(true));
        assert_eq!(bool_flag("0"), Ok(false));
        assert!(bool_flag("maybe").unwrap_err().contains("true/false"));
        assert_eq!(millis("250"), Ok(Duration::from_millis(250)));
        assert_eq!(secs(" 3 "), Ok(Duration::from_secs(3)));
        assert!(secs("x").unwrap_err().contains("not a valid number"));
        assert_eq!(list(" a, ,b "), vec!["a", "b"]);
    }
}
