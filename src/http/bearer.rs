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

/// Claims an earlier layer (the rate limiter) already verified for this request, so they are
/// not verified twice, with the revocation status it read in the same store call (`None` when
/// it could not: then it is checked here).
#[derive(Debug, Clone)]
pub struct VerifiedToken {
    pub claims: Claims,
    pub revoked: Option<bool>,
}

/// The token of an `Authorization: Bearer <token>` header, if well formed.
pub fn bearer_token(headers: &axum::http::HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .filter(|t| !t.is_empty() && !t.contains(' '))
}

/// The key-value entry that marks a revoked access token.
pub fn revoked_key(jti: &str) -> String {
    format!("revoked-jti:{jti}")
}

/// Verifies the request's bearer token (or takes the claims an earlier layer verified) and
/// checks that it is not revoked.
pub async fn verify_bearer(
    state: &AppState,
    headers: &axum::http::HeaderMap,
    verified: Option<VerifiedToken>,
) -> Result<Claims, ApiError> {
    let accounts = state.accounts();
    let (claims, revoked) = match verified {
        Some(VerifiedToken { claims, revoked }) => (claims, revoked),
        None => {
            let token = bearer_token(headers).ok_or(ApiError::Unauthorized)?;
            let claims = accounts
                .tokens
                .verify(token, state.now())
                .map_err(|error| {
                    tracing::info!(%error, "Bearer token refused.");
                    ApiError::Unauthorized
                })?;
            (claims, None)
        }
    };
    // A revocation that cannot be checked is not assumed absent.
    let revoked = match revoked {
        Some(revoked) => revoked,
        None => accounts.kv.is_marked(&revoked_key(&claims.jti)).await?,
    };
    if revoked {
        return Err(ApiError::Unauthorized);
    }
    Ok(claims)
}

/// The account a verified token names; 401 when it is gone (erased since the token was made).
pub async fn account_of(
    state: &AppState,
    claims: &Claims,
) -> Result<crate::storage::users::UserRow, ApiError> {
    state
        .storage()
        .user_by_id(&claims.sub)
        .await?
        .ok_or(ApiError::Unauthorized)
}

impl FromRequestParts<AppState> for Bearer {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let verified = parts.extensions.remove::<VerifiedToken>();
        Ok(Bearer(
            verify_bearer(state, &parts.headers, verified).await?,
        ))
    }
}
