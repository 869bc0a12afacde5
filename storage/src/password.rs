//! argon2id password hashes (PHC strings). Pure CPU work: callers run it on
//! a blocking thread pool, never on a shard's event loop.
//!
//! [`Passwords::verify`] with no stored hash still verifies against a dummy
//! hash with the same parameters, so an unknown user costs the same time as a
//! wrong password.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

use crate::error::StorageError;

/// Hashing parameters and the dummy hash that matches them.
#[derive(Clone, Debug)]
pub struct Passwords {
    params: Params,
    dummy: String,
}

impl Passwords {
    /// argon2id with `memory_kib` KiB, `iterations` passes, one lane.
    pub fn new(memory_kib: u32, iterations: u32) -> Result<Passwords, StorageError> {
        let params = Params::new(memory_kib, iterations, 1, None)
            .map_err(|e| StorageError::Credentials(format!("argon2 parameters: {e}")))?;
        let mut p = Passwords {
            params,
            dummy: String::new(),
        };
        p.dummy = p.hash("not a real password: timing equaliser")?;
        Ok(p)
    }

    fn argon(&self) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params.clone())
    }

    /// A PHC string for `password` with a fresh random salt.
    pub fn hash(&self, password: &str) -> Result<String, StorageError> {
        let mut salt = [0u8; 16];
        getrandom::getrandom(&mut salt)
            .map_err(|e| StorageError::Credentials(format!("no randomness: {e}")))?;
        let salt = SaltString::encode_b64(&salt)
            .map_err(|e| StorageError::Credentials(format!("salt: {e}")))?;
        self.argon()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| StorageError::Credentials(format!("hash: {e}")))
    }

    /// Whether `password` matches `stored`; `None` burns the same time and fails.
    pub fn verify(&self, password: &str, stored: Option<&str>) -> bool {
        let (phc, real) = match stored {
            Some(s) => (s, true),
            None => (self.dummy.as_str(), false),
        };
        let Ok(parsed) = PasswordHash::new(phc) else {
            return false;
        };
        let ok = self
            .argon()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok();
        ok && real
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_then_verify() {
        let p = Passwords::new(256, 1).unwrap();
        let h = p.hash("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(p.verify("correct horse", Some(&h)));
        assert!(!p.verify("wrong horse", Some(&h)));
        assert!(!p.verify("correct horse", None));
        assert!(!p.verify("x", Some("not a phc string")));
        assert_ne!(h, p.hash("correct horse").unwrap(), "salts differ");
    }

    #[test]
    fn bad_parameters_are_an_error() {
        assert!(Passwords::new(1, 1).is_err());
    }
}
