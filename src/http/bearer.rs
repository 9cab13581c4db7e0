//! The one verifier of bearer access tokens: every protected route takes [`Bearer`]. A missing
//! or malformed `Authorization` header, a token this server did not sign, an expired, revoked or
//! non-access token all answer 401 with `WWW-Authenticate: Bearer` and the error envelope.

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;

use crate::auth::tokens::Claims;
use crate::error::ApiError;
use crate::http::state::AppState;

/// The verified claims of the request's access token.
#[derive(Debug, Clone)]
pub struct Bearer(pub Claims);

/// The key-value entry that marks a revoked access token.
pub fn revoked_key(jti: &str) -> String {
    format!("revoked-jti:{jti}")
}

impl FromRequestParts<AppState> for Bearer {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .filter(|t| !t.is_empty() && !t.contains(' '))
            .ok_or(ApiError::Unauthorized)?;
        let accounts = state.accounts();
        let claims = accounts
            .tokens
            .verify(token, state.now())
            .map_err(|error| {
                tracing::info!(%error, "Bearer token refused.");
                ApiError::Unauthorized
            })?;
        // A revocation that cannot be checked is not assumed absent.
        let revoked = accounts
            .kv
            .is_marked(&revoked_key(&claims.jti))
            .await
            .map_err(|error| ApiError::Internal(error.to_string()))?;
        if revoked {
            return Err(ApiError::Unauthorized);
        }
        Ok(Bearer(claims))
    }
}
