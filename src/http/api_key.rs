//! Scopes of operator routes. The caller shows either an `X-API-Key` (the bootstrap key from the
//! environment, which has every scope, or a stored key from `wattline apikey create`) or a bearer
//! access token; either must carry the route's scope (`admin` carries all). A missing or unknown
//! credential is 401, one without the scope 403.

use axum::http::HeaderMap;

use crate::auth::tokens::secret_hash;
use crate::error::ApiError;
use crate::http::bearer::{bearer_token, verify_bearer};
use crate::http::state::AppState;

/// Scopes a key can carry.
pub const SCOPES: [&str; 3] = ["read", "refresh", "admin"];

/// Checks that the request's `X-API-Key`, or else its bearer token, carries `scope`.
pub async fn require_scope(
    state: &AppState,
    headers: &HeaderMap,
    scope: &str,
) -> Result<(), ApiError> {
    if !headers.contains_key("x-api-key") && bearer_token(headers).is_some() {
        let claims = verify_bearer(state, headers, None).await?;
        return if claims.scopes.iter().any(|s| s == scope || s == "admin") {
            Ok(())
        } else {
            Err(ApiError::InsufficientScope(scope.to_string()))
        };
    }
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
