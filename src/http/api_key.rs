//! `X-API-Key` for operators and services: the bootstrap key from the environment (every scope)
//! or a stored key (`wattline apikey create`) carrying the scope the route needs. A missing or
//! unknown key is 401, a key without the scope 403.

use axum::http::HeaderMap;

use crate::auth::tokens::secret_hash;
use crate::error::ApiError;
use crate::http::state::AppState;

/// Scopes a key can carry.
pub const SCOPES: [&str; 3] = ["read", "refresh", "admin"];

/// Checks the request's `X-API-Key` for `scope`.
pub async fn require_scope(
    state: &AppState,
    headers: &HeaderMap,
    scope: &str,
) -> Result<(), ApiError> {
    let given = headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty())
        .ok_or(ApiError::MissingApiKey)?;
    let bootstrap = state.settings().security.api_key.as_ref();
    if bootstrap.is_some_and(|key| key.matches(given)) {
        return Ok(());
    }
    // Stored keys are looked up by their SHA-256: the comparison is the index's, on a hash.
    match state.storage().live_api_key(&secret_hash(given)).await? {
        Some(key) if key.allows(scope) => Ok(()),
        Some(_) => Err(ApiError::InsufficientScope(scope.to_string())),
        None if bootstrap.is_none() && state.storage().api_keys().await?.is_empty() => {
            Err(ApiError::ApiKeyNotConfigured)
        }
        None => Err(ApiError::InvalidApiKey),
    }
}
