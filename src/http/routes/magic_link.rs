//! `/api/v1/auth` magic-link sign-in: `POST /signin/magic-link` emails a single-use link (its
//! token stored only as a hash, valid `auth.magic_link_ttl`) through the outbox, with the same
//! answer whether or not the email has an account; `GET /magic-link/verify` uses it once and
//! signs in: tokens and the refresh cookie, or — when the link was asked for with a
//! `redirect_url` — a redirect there with a one-time code for `/oauth/exchange`.

use axum::Json;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use jiff::SignedDuration;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use wattline_actors::workers::email::EMAIL_QUEUE;

use super::auth::{normalise_email, start_session};
use crate::auth::tokens::{random_hex, secret_hash};
use crate::error::ApiError;
use crate::http::dto::ErrorResponse;
use crate::http::extract::{AppJson, AppQuery};
use crate::http::listener::ClientAddr;
use crate::http::state::AppState;
use crate::storage::jobs::NewJob;
use crate::storage::magic_links::MagicLinkRow;

/// Magic-link routes, nested under `/api/v1/auth`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(request_magic_link))
        .routes(routes!(verify_magic_link))
}

/// Ask for a sign-in link.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MagicLinkRequest {
    #[schema(max_length = 254)]
    email: String,
    /// Where to send the browser after sign-in (on the redirect allowlist); without it the
    /// verify call answers with the tokens.
    #[schema(max_length = 2048)]
    redirect_url: Option<String>,
}

/// The answer, the same whether or not the email has an account.
#[derive(Debug, Serialize, ToSchema)]
pub struct MagicLinkResponse {
    message: &'static str,
}

const SENT: &str = "If an account exists for this email, a sign-in link is on its way.";

/// Emails a single-use sign-in link to the account of `email`, if there is one.
#[utoipa::path(post, path = "/signin/magic-link", request_body = MagicLinkRequest, tag = "auth",
    responses((status = 200, body = MagicLinkResponse), (status = 400, body = ErrorResponse),
              (status = 422, body = ErrorResponse)))]
pub async fn request_magic_link(
    State(state): State<AppState>,
    AppJson(request): AppJson<MagicLinkRequest>,
) -> Result<Json<MagicLinkResponse>, ApiError> {
    let email = normalise_email(&request.email).map_err(|_| ApiError::InvalidParameter {
        name: "email",
        message: "not an email address".into(),
    })?;
    let accounts = state.accounts();
    let redirect_url = match &request.redirect_url {
        Some(url) => Some(accounts.redirects.check(url)?.to_string()),
        None => None,
    };
    let Some(user) = state.storage().user_by_email(&email).await? else {
        return Ok(Json(MagicLinkResponse { message: SENT }));
    };
    let now = state.now();
    let settings = &accounts.settings;
    let token = random_hex();
    let token_hash = secret_hash(&token);
    let mut link = url::Url::parse(&settings.magic_link_url)
        .map_err(|e| ApiError::Internal(format!("auth.magic_link_url: {e}")))?;
    link.query_pairs_mut().append_pair("token", &token);
    let ttl = SignedDuration::try_from(settings.magic_link_ttl)
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let row = MagicLinkRow {
        token_hash: token_hash.clone(),
        user_id: user.id.clone(),
        redirect_url,
        expires_at: now + ttl,
        used_at: None,
        created_at: now,
    };
    let email_job = NewJob {
        queue: EMAIL_QUEUE.into(),
        kind: "magic_link".into(),
        payload: serde_json::json!({
            "to": user.email,
            "link": link.as_str(),
            "expires_minutes": settings.magic_link_ttl.as_secs().div_ceil(60),
        }),
        idempotency_key: format!("magic-link:{token_hash}"),
        user_id: Some(user.id.clone()),
        run_at: now,
    };
    state.storage().create_magic_link(&row, email_job).await?;
    Ok(Json(MagicLinkResponse { message: SENT }))
}

/// The token from the emailed link.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct VerifyQuery {
    /// 64 hexadecimal characters.
    token: Option<String>,
}

/// Signs in with an emailed link, once: tokens and the refresh cookie, or a redirect to the
/// link's `redirect_url` with a one-time `code`. Unknown, used or expired → 401.
#[utoipa::path(get, path = "/magic-link/verify", params(VerifyQuery), tag = "auth",
    responses((status = 200, body = super::auth::TokenResponse),
              (status = 303, description = "To the redirect_url with a one-time `code` for /oauth/exchange",
                headers(("location" = String, description = "The redirect_url with its code"))),
              (status = 401, body = ErrorResponse)))]
pub async fn verify_magic_link(
    State(state): State<AppState>,
    ConnectInfo(client): ConnectInfo<ClientAddr>,
    headers: HeaderMap,
    AppQuery(query): AppQuery<VerifyQuery>,
) -> Result<Response, ApiError> {
    let token = query
        .token
        .filter(|t| t.len() == 64 && t.bytes().all(|b| b.is_ascii_hexdigit()))
        .ok_or(ApiError::InvalidMagicLink)?;
    let now = state.now();
    let storage = state.storage();
    let link = storage
        .use_magic_link(&secret_hash(&token.to_ascii_lowercase()), now)
        .await?
        .ok_or(ApiError::InvalidMagicLink)?;
    let user = storage
        .user_by_id(&link.user_id)
        .await?
        .ok_or(ApiError::InvalidMagicLink)?;
    // Following the link proves the address is theirs.
    storage.record_verified_login(&user.id, now).await?;
    let Some(redirect_url) = link.redirect_url else {
        return start_session(&state, &user, client, &headers).await;
    };
    let accounts = state.accounts();
    let code = accounts
        .oauth
        .issue_code(accounts.kv.as_ref(), &user.id)
        .await?;
    let mut target = url::Url::parse(&redirect_url).map_err(|_| ApiError::InvalidMagicLink)?;
    target.query_pairs_mut().append_pair("code", &code);
    let mut response = StatusCode::SEE_OTHER.into_response();
    let out = response.headers_mut();
    if let Ok(location) = HeaderValue::from_str(target.as_str()) {
        out.insert(header::LOCATION, location);
    }
    out.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}
