//! API keys: operator and service keys (`wattline apikey create|list|revoke`) and the keys
//! business accounts make for themselves; printed once and stored hashed.

use jiff::Timestamp;

use crate::auth::tokens::{random_hex, secret_hash};
use crate::http::api_key::SCOPES;
use crate::storage::api_keys::ApiKeyRow;
use crate::storage::{Storage, StorageError};

/// Why a key could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ApiKeyError {
    #[error("unknown scope `{0}` (scopes: read, refresh, admin)")]
    UnknownScope(String),
    #[error("give at least one --scope")]
    NoScope,
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Creates a key named `name` with `scopes`, acting for `owner` (a business account) or for
/// nobody (an operator key); returns the key (shown once) and its row.
pub async fn create(
    storage: &Storage,
    name: &str,
    scopes: &[String],
    owner: Option<&str>,
    now: Timestamp,
) -> Result<(String, ApiKeyRow), ApiKeyError> {
    if scopes.is_empty() {
        return Err(ApiKeyError::NoScope);
    }
    if let Some(unknown) = scopes.iter().find(|s| !SCOPES.contains(&s.as_str())) {
        return Err(ApiKeyError::UnknownScope(unknown.clone()));
    }
    let key = format!("wl_{}", random_hex());
    let row = ApiKeyRow {
        id: uuid::Uuid::now_v7().to_string(),
        name: name.to_string(),
        key_hash: secret_hash(&key),
        prefix: key[..10].to_string(),
        scopes: scopes.join(","),
        created_at: now,
        revoked_at: None,
        user_id: owner.map(str::to_string),
    };
    storage.create_api_key(&row).await?;
    Ok((key, row))
}
