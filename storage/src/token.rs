//! Signed, expiring bearer tokens: `rc1.<base64url(claims JSON)>.<base64url(HMAC-SHA256)>`.
//!
//! Verified on any shard from the key alone, without touching the database.
//! The key comes from `ROOMCORE_TOKEN_SECRET` or from a `token_secret` file in
//! the data directory, generated once (mode 0600). Owns no I/O besides that file.

use std::io::Write as _;
use std::path::Path;

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::error::StorageError;

const PREFIX: &str = "rc1.";
/// Longest token accepted (anything longer is malformed).
pub const MAX_TOKEN_LEN: usize = 1024;
/// Shortest secret accepted, in bytes.
pub const MIN_SECRET_LEN: usize = 32;
/// The secret's file name in the data directory.
pub const SECRET_FILE: &str = "token_secret";

/// What a token says about its bearer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Claims {
    /// Account id.
    pub sub: i64,
    /// Username at issue time.
    pub name: String,
    pub guest: bool,
    /// Issued at (seconds since the epoch).
    pub iat: i64,
    /// Expires at (seconds since the epoch).
    pub exp: i64,
}

/// Why a token was refused (all map to 401).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("malformed token")]
    Malformed,
    #[error("invalid token signature")]
    BadSignature,
    #[error("token expired")]
    Expired,
}

/// The HMAC key.
#[derive(Clone)]
pub struct TokenKey {
    key: Vec<u8>,
}

impl std::fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenKey(..)")
    }
}

impl TokenKey {
    /// A key from secret bytes (at least [`MIN_SECRET_LEN`]).
    pub fn from_secret(secret: &[u8]) -> Result<TokenKey, StorageError> {
        if secret.len() < MIN_SECRET_LEN {
            return Err(StorageError::Credentials(format!(
                "token secret must be at least {MIN_SECRET_LEN} bytes"
            )));
        }
        Ok(TokenKey {
            key: secret.to_vec(),
        })
    }

    /// The key from `env_secret` if set, else from `dir/token_secret`,
    /// creating that file (0600, 32 random bytes as hex) when absent.
    pub fn load_or_create(env_secret: Option<&str>, dir: &Path) -> Result<TokenKey, StorageError> {
        if let Some(s) = env_secret.filter(|s| !s.is_empty()) {
            return TokenKey::from_secret(s.as_bytes());
        }
        let path = dir.join(SECRET_FILE);
        let io = |source| StorageError::Io {
            path: path.clone(),
            source,
        };
        match std::fs::read_to_string(&path) {
            Ok(s) => return TokenKey::from_secret(s.trim().as_bytes()),
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io(e)),
            Err(_) => {}
        }
        let mut raw = [0u8; 32];
        getrandom::getrandom(&mut raw)
            .map_err(|e| StorageError::Credentials(format!("no randomness: {e}")))?;
        let hex: String = raw.iter().map(|b| format!("{b:02x}")).collect();
        std::fs::create_dir_all(dir).map_err(io)?;
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        match opts.open(&path) {
            Ok(mut f) => {
                f.write_all(hex.as_bytes()).map_err(io)?;
                f.sync_all().map_err(io)?;
                TokenKey::from_secret(hex.as_bytes())
            }
            // Another process won the race: use its secret.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let s = std::fs::read_to_string(&path).map_err(io)?;
                TokenKey::from_secret(s.trim().as_bytes())
            }
            Err(e) => Err(io(e)),
        }
    }

    fn mac(&self) -> Hmac<Sha256> {
        // HMAC accepts keys of any length.
        Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes any key length")
    }

    /// Sign `claims` into a token.
    pub fn sign(&self, claims: &Claims) -> String {
        let json = serde_json::to_vec(claims).unwrap_or_default();
        let mut t = String::with_capacity(PREFIX.len() + json.len() * 2 + 48);
        t.push_str(PREFIX);
        B64.encode_string(&json, &mut t);
        let mut mac = self.mac();
        mac.update(t.as_bytes());
        let sig = mac.finalize().into_bytes();
        t.push('.');
        B64.encode_string(sig, &mut t);
        t
    }

    /// Check the signature and expiry of `token` at `now_secs`.
    pub fn verify(&self, token: &str, now_secs: i64) -> Result<Claims, TokenError> {
        if token.len() > MAX_TOKEN_LEN || !token.starts_with(PREFIX) {
            return Err(TokenError::Malformed);
        }
        let (signed, sig) = token.rsplit_once('.').ok_or(TokenError::Malformed)?;
        let sig = B64.decode(sig).map_err(|_| TokenError::Malformed)?;
        let mut mac = self.mac();
        mac.update(signed.as_bytes());
        mac.verify_slice(&sig)
            .map_err(|_| TokenError::BadSignature)?;
        let payload = B64
            .decode(&signed[PREFIX.len()..])
            .map_err(|_| TokenError::Malformed)?;
        let claims: Claims = serde_json::from_slice(&payload).map_err(|_| TokenError::Malformed)?;
        if now_secs >= claims.exp {
            return Err(TokenError::Expired);
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(exp: i64) -> Claims {
        Claims {
            sub: 7,
            name: "ann".into(),
            guest: false,
            iat: 100,
            exp,
        }
    }

    #[test]
    fn sign_verify_and_expiry() {
        let k = TokenKey::from_secret(&[7u8; 32]).unwrap();
        let t = k.sign(&claims(200));
        assert_eq!(k.verify(&t, 150).unwrap(), claims(200));
        assert_eq!(k.verify(&t, 200), Err(TokenError::Expired));
        assert_eq!(k.verify(&t, 10_000), Err(TokenError::Expired));
    }

    #[test]
    fn tampering_and_other_keys_are_refused() {
        let k = TokenKey::from_secret(&[7u8; 32]).unwrap();
        let other = TokenKey::from_secret(&[8u8; 32]).unwrap();
        let t = k.sign(&claims(200));
        assert_eq!(other.verify(&t, 150), Err(TokenError::BadSignature));
        // Forge a payload with the old signature.
        let (_, sig) = t.rsplit_once('.').unwrap();
        let forged_payload = B64.encode(serde_json::to_vec(&claims(9_999)).unwrap());
        let forged = format!("{PREFIX}{forged_payload}.{sig}");
        assert_eq!(k.verify(&forged, 150), Err(TokenError::BadSignature));
        for bad in ["", "rc1.", "rc1.x.y", "abc.def", &"a".repeat(2000)] {
            assert!(k.verify(bad, 150).is_err(), "{bad}");
        }
    }

    #[test]
    fn short_secret_is_refused() {
        assert!(TokenKey::from_secret(b"short").is_err());
    }

    #[test]
    fn generated_secret_is_private_and_stable() {
        let dir = std::env::temp_dir().join(format!("rc-secret-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let a = TokenKey::load_or_create(None, &dir).unwrap();
        let b = TokenKey::load_or_create(None, &dir).unwrap();
        let t = a.sign(&claims(200));
        assert!(b.verify(&t, 150).is_ok(), "same secret after reload");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.join(SECRET_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let env = TokenKey::load_or_create(Some(&"s".repeat(40)), &dir).unwrap();
        assert_eq!(env.verify(&t, 150), Err(TokenError::BadSignature));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
