//! Accounts' cryptography and rules outside HTTP: password hashing (argon2id), access tokens
//! (JWT), refresh tokens (random, stored as SHA-256) and the signing key.

pub mod api_keys;
pub mod oauth;
pub mod passwords;
pub mod redirects;
pub mod tokens;

use std::sync::Arc;

use crate::cache::SharedKeyValue;
use crate::config::{AuthSettings, Settings};
use crate::storage::{Storage, StorageError};
use oauth::OAuthProviders;
use redirects::RedirectPolicy;
use tokens::TokenIssuer;

/// What the account routes share: the token issuer, the key-value store (revocations, sign-in
/// failures, OAuth states), the OAuth providers, the redirect allowlist and the settings.
pub struct Accounts {
    pub tokens: TokenIssuer,
    pub kv: SharedKeyValue,
    pub oauth: OAuthProviders,
    pub redirects: RedirectPolicy,
    pub settings: AuthSettings,
}

/// Why accounts could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum AccountsError {
    #[error(
        "a clustered node needs the shared signing key in WATTLINE_SECURITY__JWT_SECRET \
         (configuration key `security.jwt_secret`)"
    )]
    NoClusterKey,
    #[error("reading the stored signing key: {0}")]
    Storage(#[from] StorageError),
    #[error("OAuth providers: {0}")]
    OAuth(String),
}

impl Accounts {
    /// The signing key from the environment, or on a single node one generated on first start
    /// and kept in storage, so tokens survive restarts.
    pub async fn new(
        settings: &Settings,
        storage: &Storage,
        kv: SharedKeyValue,
        now: jiff::Timestamp,
    ) -> Result<Arc<Self>, AccountsError> {
        let key = match &settings.security.jwt_secret {
            Some(key) => key.expose().to_string(),
            None if settings.cluster.redis_url.is_some() => {
                return Err(AccountsError::NoClusterKey);
            }
            None => {
                storage
                    .secret_or_insert("jwt_signing_key", tokens::random_hex(), now)
                    .await?
            }
        };
        let auth = settings.auth.clone();
        Ok(Arc::new(Accounts {
            tokens: TokenIssuer::new(
                key.as_bytes(),
                &auth.issuer,
                auth.audience.as_deref(),
                auth.access_ttl,
            ),
            kv,
            oauth: OAuthProviders::new(&settings.oauth).map_err(AccountsError::OAuth)?,
            redirects: RedirectPolicy::new(&auth.redirect_allowlist, auth.redirect_allow_http)
                .map_err(AccountsError::OAuth)?,
            settings: auth,
        }))
    }
}
