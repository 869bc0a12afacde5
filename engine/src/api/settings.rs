//! Knobs of the API and of the persistence thread, read from environment
//! variables once at start-up (each is a row of the README configuration
//! table). Owns parsing and validation only; no I/O besides reading the env.

use std::path::Path;
use std::time::Duration;

use storage::{StorageConfig, Synchronous};

/// Validated API settings.
#[derive(Debug, Clone)]
pub struct ApiSettings {
    /// Persistence thread settings (`STORAGE_*`, `LEADERBOARD_*`).
    pub storage: StorageConfig,
    /// `ROOMCORE_TOKEN_SECRET`: HMAC key (else generated in the data dir).
    pub token_secret: Option<String>,
    /// `TOKEN_TTL_SECS`: lifetime of a token.
    pub token_ttl: Duration,
    /// `PASSWORD_HASH_MEMORY_KIB`, `PASSWORD_HASH_ITERATIONS`: argon2id cost.
    pub hash_memory_kib: u32,
    pub hash_iterations: u32,
    /// `AUTH_MAX_INFLIGHT_HASHES`: password hashes in flight per shard; past it 503.
    pub max_inflight_hashes: usize,
    /// `SCORE_MAX`: highest score accepted (lowest is 0).
    pub score_max: i64,
    /// `STORAGE_RETRY_AFTER_SECS`: Retry-After sent with a 503 for a busy queue.
    pub retry_after_secs: u64,
    /// `ROOM_STATE_MAX_BYTES`: largest room state document.
    pub room_state_max_bytes: usize,
    /// `ROOM_STATE_MAX_ROOMS`: state rooms a shard holds; past it 409.
    pub room_max_per_shard: usize,
    /// `ROOM_SNAPSHOT_INTERVAL_SECS`: how often changed rooms are saved.
    pub snapshot_interval: Duration,
    /// `ROOM_SNAPSHOT_TTL_SECS`: snapshots not updated this long are swept at start.
    pub snapshot_ttl: Duration,
    /// `ROOMCORE_TEST_HOOKS=1`: enables `POST /api/_test/storage/stall`.
    pub test_hooks: bool,
}

fn num<T: std::str::FromStr>(
    env: &impl Fn(&str) -> Option<String>,
    key: &str,
    default: T,
) -> Result<T, String> {
    match env(key) {
        None => Ok(default),
        Some(v) => v
            .trim()
            .parse()
            .map_err(|_| format!("{key}: not a valid number: {v:?}")),
    }
}

impl ApiSettings {
    /// Read the settings from `env`, with the database in `data_dir`.
    pub fn from_env(
        env: impl Fn(&str) -> Option<String>,
        data_dir: &Path,
    ) -> Result<ApiSettings, String> {
        let mut st = StorageConfig::new(data_dir.join("roomcore.db"));
        if let Some(p) = env("STORAGE_DB_PATH").filter(|p| !p.is_empty()) {
            st.path = p.into();
        }
        if let Some(v) = env("STORAGE_SYNCHRONOUS") {
            st.synchronous = Synchronous::parse(&v).ok_or_else(|| {
                format!("STORAGE_SYNCHRONOUS: expected full or normal, got {v:?}")
            })?;
        }
        st.queue_capacity = num(&env, "STORAGE_QUEUE_CAPACITY", st.queue_capacity)?;
        st.batch_max = num(&env, "STORAGE_BATCH_MAX", st.batch_max)?;
        st.board_size = num(&env, "LEADERBOARD_SIZE", st.board_size)?;
        st.max_games = num(&env, "LEADERBOARD_MAX_GAMES", st.max_games)?;
        let s = ApiSettings {
            storage: st,
            token_secret: env("ROOMCORE_TOKEN_SECRET"),
            token_ttl: Duration::from_secs(num(&env, "TOKEN_TTL_SECS", 86_400)?),
            hash_memory_kib: num(&env, "PASSWORD_HASH_MEMORY_KIB", 19_456)?,
            hash_iterations: num(&env, "PASSWORD_HASH_ITERATIONS", 2)?,
            max_inflight_hashes: num(&env, "AUTH_MAX_INFLIGHT_HASHES", 16)?,
            score_max: num(&env, "SCORE_MAX", 1_000_000_000)?,
            retry_after_secs: num(&env, "STORAGE_RETRY_AFTER_SECS", 1)?,
            room_state_max_bytes: num(&env, "ROOM_STATE_MAX_BYTES", 8 * 1024)?,
            room_max_per_shard: num(&env, "ROOM_STATE_MAX_ROOMS", 10_000)?,
            snapshot_interval: Duration::from_secs(num(&env, "ROOM_SNAPSHOT_INTERVAL_SECS", 10)?),
            snapshot_ttl: Duration::from_secs(num(&env, "ROOM_SNAPSHOT_TTL_SECS", 7 * 86_400)?),
            test_hooks: env("ROOMCORE_TEST_HOOKS").is_some_and(|v| v.trim() == "1"),
        };
        s.validate()?;
        Ok(s)
    }

    fn validate(&self) -> Result<(), String> {
        let st = &self.storage;
        if st.queue_capacity == 0 || st.batch_max == 0 {
            return Err("STORAGE_QUEUE_CAPACITY and STORAGE_BATCH_MAX must be positive".into());
        }
        if st.board_size == 0 || st.board_size > 10_000 {
            return Err("LEADERBOARD_SIZE must be between 1 and 10000".into());
        }
        if self.token_ttl.is_zero() {
            return Err("TOKEN_TTL_SECS must be positive".into());
        }
        if self.score_max < 0 {
            return Err("SCORE_MAX must not be negative".into());
        }
        if self.max_inflight_hashes == 0 || self.snapshot_interval.is_zero() {
            return Err(
                "AUTH_MAX_INFLIGHT_HASHES and ROOM_SNAPSHOT_INTERVAL_SECS must be positive".into(),
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_overrides() {
        let s = ApiSettings::from_env(|_| None, Path::new("d")).unwrap();
        assert_eq!(s.storage.path, Path::new("d/roomcore.db"));
        assert_eq!(s.storage.synchronous, Synchronous::Full);
        assert_eq!(s.snapshot_interval, Duration::from_secs(10));
        let env = |k: &str| match k {
            "STORAGE_SYNCHRONOUS" => Some("normal".to_string()),
            "STORAGE_BATCH_MAX" => Some("1".to_string()),
            _ => None,
        };
        let s = ApiSettings::from_env(env, Path::new("d")).unwrap();
        assert_eq!(s.storage.synchronous, Synchronous::Normal);
        assert_eq!(s.storage.batch_max, 1);
        let bad = |k: &str| (k == "STORAGE_SYNCHRONOUS").then(|| "off".to_string());
        assert!(ApiSettings::from_env(bad, Path::new("d"))
            .unwrap_err()
            .contains("STORAGE_SYNCHRONOUS"));
        let zero = |k: &str| (k == "STORAGE_QUEUE_CAPACITY").then(|| "0".to_string());
        assert!(ApiSettings::from_env(zero, Path::new("d")).is_err());
    }
}
