//! GDPR around storage: how an erased account is named when it is anonymised rather than
//! deleted, the hash the deletion log keeps instead of the user id, and the retention policy
//! the retention worker applies.

use std::sync::Arc;

use async_trait::async_trait;
use jiff::{SignedDuration, Timestamp};
use sha2::{Digest, Sha256};
use wattline_actors::ports::{Retention, StoreError};

use crate::storage::Storage;

/// The legal basis recorded with every erasure.
pub const ERASURE_BASIS: &str = "GDPR Art. 17 (right to erasure), at the data subject's request";

fn sha256_hex(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// What the deletion log keeps of a user id.
pub fn user_hash(user_id: &str) -> String {
    sha256_hex(user_id)
}

/// `anon_<8 hex of sha256(email)>@anonymized.local`.
pub fn anonymous_email(email: &str) -> String {
    format!("anon_{}@anonymized.local", &sha256_hex(email)[..8])
}

/// `Anonymous User <6 hex>`, from the user id.
pub fn anonymous_name(user_id: &str) -> String {
    format!("Anonymous User {}", &sha256_hex(user_id)[..6])
}

/// The retention policy: sessions and sign-in links when they expire; delivered jobs, alert
/// history and applied billing events after `keep`.
pub struct RetentionPolicy {
    pub storage: Arc<Storage>,
    pub keep: SignedDuration,
}

#[async_trait]
impl Retention for RetentionPolicy {
    async fn purge(&self, now: Timestamp) -> Result<Vec<(String, u64)>, StoreError> {
        let purged = self.storage.purge_expired(now, self.keep).await?;
        Ok(vec![
            ("expired_sessions".into(), purged.expired_sessions),
            ("expired_sign_in_links".into(), purged.expired_sign_in_links),
            ("delivered_jobs".into(), purged.delivered_jobs),
            ("alert_history".into(), purged.alert_history),
            ("billing_events".into(), purged.billing_events),
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anonymous_names_follow_the_spec_shapes() {
        let email = anonymous_email("ada@example.com");
        assert!(email.starts_with("anon_") && email.ends_with("@anonymized.local"));
        assert_eq!(email.len(), "anon_".len() + 8 + "@anonymized.local".len());
        let name = anonymous_name("u1");
        assert_eq!(name.len(), "Anonymous User ".len() + 6);
        assert_eq!(user_hash("u1").len(), 64);
        assert_ne!(user_hash("u1"), user_hash("u2"));
    }
}
