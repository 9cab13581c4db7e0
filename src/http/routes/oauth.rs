//! `/api/v1/auth` OAuth sign-in: start (`/signin/oauth`), the provider's callback
//! (`/oauth/callback`) and the one-time code exchange (`/oauth/exchange`). The flow itself lives
//! in `crate::auth::oauth`; these handlers parse, call and shape.

use axum::Json;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::start_session;
use crate::auth::oauth::OAuthError;
use crate::error::ApiError;
use crate::http::dto::ErrorResponse;
use crate::http::extract::{AppJson, AppQuery};
use crate::http::listener::ClientAddr;
use crate::http::state::AppState;

/// OAuth routes, nested under `/api/v1/auth`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(start_oauth))
        .routes(routes!(oauth_callback))
        .routes(routes!(exchange_oauth_code))
}

/// Start an OAuth sign-in.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OAuthStartRequest {
    /// A configured provider's name, e.g. `github` or `google`.
    #[schema(max_length = 64)]
    provider: String,
    /// Where the browser returns after the callback (on the redirect allowlist).
    #[schema(max_length = 2048)]
    redirect_url: String,
    /// Scopes to ask for besides those the provider needs for a verified email.
    #[serde(default)]
    #[schema(max_items = 10)]
    scopes: Vec<String>,
}

/// The provider's authorize page to send the browser to.
#[derive(Debug, Serialize, ToSchema)]
pub struct OAuthStartResponse {
    url: String,
}

/// What the provider appends to the callback.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    /// Set by the provider when the user declined or the request was refused.
    error: Option<String>,
}

/// The one-time code from the redirect after the callback.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OAuthExchangeRequest {
    #[schema(max_length = 128)]
    code: String,
}

/// Starts a sign-in with `provider` (authorization code + PKCE + `state`): answers the URL of
/// its authorize page. The browser comes back through `/oauth/callback`.
#[utoipa::path(post, path = "/signin/oauth", request_body = OAuthStartRequest, tag = "auth",
    responses((status = 200, body = OAuthStartResponse), (status = 400, body = ErrorResponse),
              (status = 422, body = ErrorResponse)))]
pub async fn start_oauth(
    State(state): State<AppState>,
    AppJson(request): AppJson<OAuthStartRequest>,
) -> Result<Json<OAuthStartResponse>, ApiError> {
    let accounts = state.accounts();
    let valid_scope = |s: &String| {
        !s.is_empty() && s.len() <= 100 && s.bytes().all(|b| b.is_ascii_graphic() && b != b'"')
    };
    if request.scopes.len() > 10 || !request.scopes.iter().all(valid_scope) {
        return Err(ApiError::invalid_field(
            "scopes",
            "at most 10 scopes of 1 to 100 printable characters",
        ));
    }
    let redirect = accounts.redirects.check(&request.redirect_url)?;
    let url = accounts
        .oauth
        .begin(
            accounts.kv.as_ref(),
            &request.provider,
            redirect.as_str(),
            &request.scopes,
        )
        .await
        .map_err(|e| oauth_error(e, &state))?;
    Ok(Json(OAuthStartResponse { url }))
}

/// The provider sends the browser here. A valid `state` (single-use, expiring) leads back to
/// the sign-in's `redirect_url` with `code` (exchange it at `/oauth/exchange`) or `error`
/// (`access_denied`, `email_not_verified`, `provider_unavailable`, `server_error`).
#[utoipa::path(get, path = "/oauth/callback", params(CallbackQuery), tag = "auth",
    responses((status = 303, description = "Back to the sign-in's redirect_url with `code` or `error`",
                headers(("location" = String, description = "The redirect_url with its result"))),
              (status = 400, body = ErrorResponse)))]
pub async fn oauth_callback(
    State(state): State<AppState>,
    AppQuery(query): AppQuery<CallbackQuery>,
) -> Result<Response, ApiError> {
    let accounts = state.accounts();
    let given = query
        .state
        .filter(|s| !s.is_empty() && s.len() <= 256)
        .ok_or(ApiError::InvalidOAuthState)?;
    let pending = accounts
        .oauth
        .take_state(accounts.kv.as_ref(), &given)
        .await
        .map_err(|e| oauth_error(e, &state))?;
    let outcome = match (query.error, query.code) {
        (Some(error), _) => {
            tracing::info!(provider = %pending.provider, %error, "The provider refused the sign-in.");
            Err(if error == "access_denied" {
                "access_denied"
            } else {
                "provider_error"
            })
        }
        (None, None) => Err("invalid_request"),
        (None, Some(code)) => finish(&state, &pending, &code).await,
    };
    let mut target =
        url::Url::parse(&pending.redirect_url).map_err(|_| ApiError::InvalidOAuthState)?;
    match outcome {
        Ok(code) => target.query_pairs_mut().append_pair("code", &code),
        Err(error) => target.query_pairs_mut().append_pair("error", error),
    };
    let mut response = StatusCode::SEE_OTHER.into_response();
    let headers = response.headers_mut();
    if let Ok(location) = HeaderValue::from_str(target.as_str()) {
        headers.insert(header::LOCATION, location);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// Exchanges the code, finds or creates the user and hands out a one-time code; or the short
/// error code for the client's redirect.
async fn finish(
    state: &AppState,
    pending: &crate::auth::oauth::PendingSignIn,
    code: &str,
) -> Result<String, &'static str> {
    let provider = pending.provider.as_str();
    let result = sign_in_user(state, pending, code).await;
    result.map_err(|error| {
        match &error {
            OAuthError::Store(_) | OAuthError::Storage(_) => {
                tracing::error!(%error, provider, "OAuth sign-in failed on our side.")
            }
            _ => tracing::info!(%error, provider, "OAuth sign-in refused."),
        }
        error.code()
    })
}

async fn sign_in_user(
    state: &AppState,
    pending: &crate::auth::oauth::PendingSignIn,
    code: &str,
) -> Result<String, OAuthError> {
    let accounts = state.accounts();
    let identity = accounts.oauth.identify(pending, code).await?;
    let user = accounts
        .oauth
        .user_for(state.storage(), &pending.provider, identity, state.now())
        .await?;
    Ok(accounts
        .oauth
        .issue_code(accounts.kv.as_ref(), &user.id)
        .await?)
}

/// Exchanges the one-time code of an OAuth sign-in for a token pair (and the refresh cookie).
#[utoipa::path(post, path = "/oauth/exchange", request_body = OAuthExchangeRequest, tag = "auth",
    responses((status = 200, body = super::auth::TokenResponse), (status = 400, body = ErrorResponse)))]
pub async fn exchange_oauth_code(
    State(state): State<AppState>,
    ConnectInfo(client): ConnectInfo<ClientAddr>,
    headers: HeaderMap,
    AppJson(request): AppJson<OAuthExchangeRequest>,
) -> Result<Response, ApiError> {
    if request.code.is_empty() || request.code.len() > 128 {
        return Err(ApiError::InvalidOAuthCode);
    }
    let accounts = state.accounts();
    let user_id = accounts
        .oauth
        .redeem_code(accounts.kv.as_ref(), &request.code)
        .await?
        .ok_or(ApiError::InvalidOAuthCode)?;
    let user = state
        .storage()
        .user_by_id(&user_id)
        .await?
        .ok_or(ApiError::InvalidOAuthCode)?;
    start_session(&state, &user, client, &headers).await
}

fn oauth_error(error: OAuthError, state: &AppState) -> ApiError {
    match error {
        OAuthError::UnknownProvider(name) => {
            let offered: Vec<&str> = state.accounts().oauth.names().collect();
            let offered = if offered.is_empty() {
                "none".to_string()
            } else {
                offered.join(", ")
            };
            ApiError::UnknownOAuthProvider(name.chars().take(64).collect(), offered)
        }
        OAuthError::InvalidState => ApiError::InvalidOAuthState,
        OAuthError::Storage(e) => ApiError::Storage(e),
        other => ApiError::Internal(other.to_string()),
    }
}
