//! Password hashing with argon2id, off the async threads (one hash costs tens of milliseconds on
//! purpose). The parameters are the argon2 crate's defaults (OWASP's minimum: 19 MiB, 2 passes,
//! 1 lane); the cost per sign-in is in BENCHMARKS.md.

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};

/// Why a password could not be hashed.
#[derive(Debug, thiserror::Error)]
#[error("password hashing failed: {0}")]
pub struct HashError(String);

/// The PHC string of `password` with a fresh salt.
pub async fn hash(password: String) -> Result<String, HashError> {
    tokio::task::spawn_blocking(move || {
        let mut salt = [0u8; 16];
        getrandom::fill(&mut salt).map_err(|e| HashError(e.to_string()))?;
        let hash: PasswordHash = Argon2::default()
            .hash_password_with_salt(password.as_bytes(), &salt)
            .map_err(|e| HashError(e.to_string()))?;
        Ok(hash.to_string())
    })
    .await
    .map_err(|e| HashError(e.to_string()))?
}

/// A hash of no password, checked when an email is unknown so that answering takes as long as
/// for a known one (the answer must not tell whether an email has an account).
const DECOY: &str = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$2wPm4cZX7l0Q2yYdI9HqM7pQzrgZ0hA4lY5mE1zGZ9s";

/// Whether `password` matches `stored` (a PHC string); with no stored hash, the same work is
/// done against a decoy and the answer is no.
pub async fn verify(password: String, stored: Option<String>) -> bool {
    tokio::task::spawn_blocking(move || {
        let known = stored.is_some();
        let phc = stored.unwrap_or_else(|| DECOY.to_string());
        let Ok(parsed) = PasswordHash::new(&phc) else {
            return false;
        };
        let matches = Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok();
        known && matches
    })
    .await
    .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hash_verifies_its_password_only() {
        let stored = hash("ValidPassword123!".into()).await.unwrap();
        assert!(stored.starts_with("$argon2id$"));
        assert!(!stored.contains("ValidPassword123!"));
        assert!(verify("ValidPassword123!".into(), Some(stored.clone())).await);
        assert!(!verify("ValidPassword123?".into(), Some(stored)).await);
        assert!(!verify("anything".into(), None).await);
    }

    #[test]
    fn the_decoy_is_a_valid_hash() {
        assert!(PasswordHash::new(DECOY).is_ok());
    }
}
