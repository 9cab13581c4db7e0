//! `/api/v1/auth`: sign-up, sign-in, token refresh with rotation, sign-out, the signed-in user
//! and the password strength check (the rules live in `wattline_actors::domain::password`).

use std::time::Duration;

use axum::Json;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use wattline_actors::domain::password::{Checks, MAX_CHARS, MIN_CHARS, Strength, StrengthLabel};

use crate::auth::passwords;
use crate::auth::tokens::{new_refresh_token, secret_hash};
use crate::error::ApiError;
use crate::http::bearer::{Bearer, account_of, revoked_key};
use crate::http::dto::ErrorResponse;
use crate::http::extract::AppJson;
use crate::http::listener::ClientAddr;
use crate::http::state::AppState;
use crate::storage::StorageError;
use crate::storage::users::{RefreshTokenRow, Rotation, UserRow};

/// Routes under `/api/v1/auth`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(check_password_strength))
        .routes(routes!(sign_up))
        .routes(routes!(sign_in))
        .routes(routes!(refresh))
        .routes(routes!(sign_out))
        .routes(routes!(me))
}

/// A password to score (in the body only, never in a URL).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordCheckRequest {
    #[schema(max_length = 128)]
    password: String,
}

/// The password's score (rules met, plus one at 16 and one at 20 characters), its label, whether
/// it meets the policy and which rules it meets. The password itself is never echoed.
#[utoipa::path(post, path = "/password/check-strength", request_body = PasswordCheckRequest, tag = "auth",
    responses((status = 200, body = StrengthDto), (status = 422, body = ErrorResponse)))]
pub async fn check_password_strength(
    AppJson(request): AppJson<PasswordCheckRequest>,
) -> Result<Json<StrengthDto>, ApiError> {
    if request.password.chars().count() > MAX_CHARS {
        return Err(ApiError::invalid_field(
            "password",
            format!("must be at most {MAX_CHARS} characters"),
        ));
    }
    Ok(Json(Strength::of(&request.password).into()))
}

/// The answer of `check-strength`.
#[derive(Debug, Serialize, ToSchema)]
pub struct StrengthDto {
    #[schema(minimum = 0, maximum = 7)]
    score: u8,
    #[schema(minimum = 7, maximum = 7)]
    max_score: u8,
    /// `very_weak`, `weak`, `medium`, `strong` or `very_strong`.
    #[schema(value_type = String)]
    strength: StrengthLabel,
    /// Whether every rule of the policy is met.
    valid: bool,
    checks: ChecksDto,
}

/// Which rules the password meets.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChecksDto {
    /// At least 12 characters.
    length: bool,
    uppercase: bool,
    lowercase: bool,
    digit: bool,
    /// One of `! @ # $ % ^ & * ( ) _ + - = [ ] { } | ; : , . < > ?`.
    special: bool,
}

impl From<Strength> for StrengthDto {
    fn from(s: Strength) -> Self {
        let c = s.checks;
        StrengthDto {
            score: s.score,
            max_score: s.max_score,
            strength: s.strength,
            valid: s.valid,
            checks: ChecksDto {
                length: c.length,
                uppercase: c.uppercase,
                lowercase: c.lowercase,
                digit: c.digit,
                special: c.special,
            },
        }
    }
}

/// Sign-up request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignUpRequest {
    #[schema(max_length = 254)]
    email: String,
    /// 12–128 characters with an uppercase and a lowercase letter, a digit and a special character.
    #[schema(max_length = 128)]
    password: String,
    #[schema(max_length = 100)]
    name: Option<String>,
}

/// Sign-in request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignInRequest {
    #[schema(max_length = 254)]
    email: String,
    #[schema(min_length = 1, max_length = 128)]
    password: String,
}

/// Refresh request (or send the refresh cookie and an empty object).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    refresh_token: Option<String>,
}

/// A token pair. The refresh token also arrives as the `refresh_token` cookie.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenResponse {
    access_token: String,
    refresh_token: String,
    token_type: &'static str,
    /// Seconds the access token lives.
    expires_in: u64,
}

/// The signed-in user.
#[derive(Debug, Serialize, ToSchema)]
pub struct MeResponse {
    id: String,
    email: String,
    name: Option<String>,
    email_verified: bool,
    #[schema(value_type = String, format = DateTime)]
    created_at: Timestamp,
    /// `free`, `pro` or `business`.
    tier: String,
}

/// Signed out.
#[derive(Debug, Serialize, ToSchema)]
pub struct SignOutResponse {
    message: &'static str,
}

/// Scopes every signed-in user has.
const USER_SCOPES: [&str; 1] = ["read"];

/// Creates an account and signs it in.
#[utoipa::path(post, path = "/signup", request_body = SignUpRequest, tag = "auth",
    responses((status = 201, body = TokenResponse), (status = 400, body = ErrorResponse),
              (status = 409, body = ErrorResponse), (status = 422, body = ErrorResponse)))]
pub async fn sign_up(
    State(state): State<AppState>,
    ConnectInfo(client): ConnectInfo<ClientAddr>,
    headers: HeaderMap,
    AppJson(request): AppJson<SignUpRequest>,
) -> Result<Response, ApiError> {
    let email = normalise_email(&request.email)?;
    let chars = request.password.chars().count();
    if !(MIN_CHARS..=MAX_CHARS).contains(&chars) {
        return Err(ApiError::invalid_field(
            "password",
            format!("must be {MIN_CHARS} to {MAX_CHARS} characters"),
        ));
    }
    let missing = Checks::of(&request.password).missing();
    if !missing.is_empty() {
        return Err(ApiError::WeakPassword { missing });
    }
    let name = request
        .name
        .map(|n| n.trim().to_string())
        .filter(|n| !n.is_empty());
    if name.as_ref().is_some_and(|n| n.chars().count() > 100) {
        return Err(ApiError::invalid_field(
            "name",
            "must be at most 100 characters",
        ));
    }
    let now = state.now();
    let user = UserRow {
        id: uuid::Uuid::now_v7().to_string(),
        email,
        password_hash: Some(
            passwords::hash(request.password)
                .await
                .map_err(|e| ApiError::Internal(e.to_string()))?,
        ),
        name,
        email_verified: false,
        tier: "free".into(),
        created_at: now,
        last_login_at: Some(now),
    };
    match state.storage().create_user(&user).await {
        Ok(()) => {}
        Err(StorageError::Conflict(_)) => return Err(ApiError::EmailTaken),
        Err(other) => return Err(other.into()),
    }
    let tokens = start_session(&state, &user, client, &headers).await?;
    Ok((StatusCode::CREATED, tokens).into_response())
}

/// Signs in with email and password. Five failures for one email within the lockout window lock
/// it (429 with the seconds left); the answer does not tell whether the email has an account.
#[utoipa::path(post, path = "/signin", request_body = SignInRequest, tag = "auth",
    responses((status = 200, body = TokenResponse), (status = 401, body = ErrorResponse),
              (status = 429, body = ErrorResponse)))]
pub async fn sign_in(
    State(state): State<AppState>,
    ConnectInfo(client): ConnectInfo<ClientAddr>,
    headers: HeaderMap,
    AppJson(request): AppJson<SignInRequest>,
) -> Result<Response, ApiError> {
    let chars = request.password.chars().count();
    if !(1..=MAX_CHARS).contains(&chars) {
        return Err(ApiError::invalid_field(
            "password",
            format!("must be 1 to {MAX_CHARS} characters"),
        ));
    }
    // A malformed email cannot have an account: the same answer as a wrong password.
    let email = normalise_email(&request.email).unwrap_or_default();
    let accounts = state.accounts();
    let failures = format!("signin-failures:{email}");
    let settings = &accounts.settings;
    let count = accounts.kv.count(&failures).await?;
    if count.value >= u64::from(settings.lockout_attempts.get()) {
        return Err(ApiError::SignInLocked {
            retry_after_secs: count.resets_in.as_secs_f64().ceil() as u64,
        });
    }
    let user = state.storage().user_by_email(&email).await?;
    let stored = user.as_ref().and_then(|u| u.password_hash.clone());
    if !passwords::verify(request.password, stored).await {
        accounts
            .kv
            .increment(&failures, settings.lockout_window)
            .await?;
        return Err(ApiError::InvalidCredentials);
    }
    let user = user.ok_or(ApiError::InvalidCredentials)?;
    accounts.kv.remove(&failures).await?;
    state.storage().record_login(&user.id, state.now()).await?;
    Ok(start_session(&state, &user, client, &headers)
        .await?
        .into_response())
}

/// Exchanges a refresh token (body or cookie) for a new pair. Each refresh token works once; a
/// used one presented again revokes its whole session.
#[utoipa::path(post, path = "/refresh", request_body = RefreshRequest, tag = "auth",
    responses((status = 200, body = TokenResponse), (status = 400, body = ErrorResponse),
              (status = 401, body = ErrorResponse)))]
pub async fn refresh(
    State(state): State<AppState>,
    ConnectInfo(client): ConnectInfo<ClientAddr>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    // The body is optional: a browser sends only the cookie.
    let from_body = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        let is_json = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        if !is_json {
            return Err(ApiError::UnsupportedMediaType);
        }
        let request: RefreshRequest = serde_json::from_slice(&body)
            .map_err(|e| ApiError::InvalidBody(format!("invalid refresh request: {e}")))?;
        request.refresh_token
    };
    let presented = from_body
        .or_else(|| refresh_cookie(&headers))
        .filter(|t| !t.is_empty())
        .ok_or(ApiError::MissingRefreshToken)?;
    let now = state.now();
    let (token, hash) = new_refresh_token();
    let refresh_ttl = state.accounts().settings.refresh_ttl;
    let rotation = state
        .storage()
        .rotate_session(&secret_hash(&presented), now, |current| {
            session_row(
                hash,
                &current.family_id,
                &current.user_id,
                now,
                refresh_ttl,
                client,
                &headers,
            )
        })
        .await?;
    let (user_id, family) = match rotation {
        Rotation::Rotated { user_id, family_id } => (user_id, family_id),
        Rotation::Reused => {
            tracing::warn!("A used refresh token was presented again; its session is revoked.");
            return Err(ApiError::InvalidRefreshToken);
        }
        Rotation::Invalid => return Err(ApiError::InvalidRefreshToken),
    };
    let user = state
        .storage()
        .user_by_id(&user_id)
        .await?
        .ok_or(ApiError::InvalidRefreshToken)?;
    Ok(token_pair(&state, &user, &family, token).into_response())
}

/// Signs out: revokes this session's refresh tokens and this access token, clears the cookie.
#[utoipa::path(post, path = "/signout", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = SignOutResponse), (status = 401, body = ErrorResponse)))]
pub async fn sign_out(
    State(state): State<AppState>,
    Bearer(claims): Bearer,
) -> Result<Response, ApiError> {
    if let Some(family) = &claims.sid {
        state.storage().revoke_family(family).await?;
    }
    let left = (claims.exp - state.now().as_second()).max(1) as u64;
    state
        .accounts()
        .kv
        .mark(&revoked_key(&claims.jti), Duration::from_secs(left))
        .await?;
    let mut response = Json(SignOutResponse {
        message: "signed out",
    })
    .into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static(
            "refresh_token=; Path=/api/v1/auth; HttpOnly; Secure; SameSite=Lax; Max-Age=0",
        ),
    );
    Ok(response)
}

/// The signed-in user, from storage.
#[utoipa::path(get, path = "/me", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = MeResponse), (status = 401, body = ErrorResponse)))]
pub async fn me(
    State(state): State<AppState>,
    Bearer(claims): Bearer,
) -> Result<Json<MeResponse>, ApiError> {
    let user = account_of(&state, &claims).await?;
    Ok(Json(MeResponse {
        id: user.id,
        email: user.email,
        name: user.name,
        email_verified: user.email_verified,
        created_at: user.created_at,
        tier: user.tier,
    }))
}

/// Trimmed, lower case, and shaped like an address (`local@domain.tld`, at most 254 bytes).
pub(super) fn normalise_email(email: &str) -> Result<String, ApiError> {
    let email = email.trim().to_lowercase();
    let valid = email.len() <= 254
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        });
    if valid {
        Ok(email)
    } else {
        Err(ApiError::invalid_field("email", "not an email address"))
    }
}

/// The refresh token of the `refresh_token` cookie, if sent.
fn refresh_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == "refresh_token")
        .map(|(_, value)| value.to_string())
}

fn session_row(
    token_hash: String,
    family: &str,
    user_id: &str,
    now: Timestamp,
    ttl: Duration,
    client: ClientAddr,
    headers: &HeaderMap,
) -> RefreshTokenRow {
    RefreshTokenRow {
        token_hash,
        family_id: family.to_string(),
        user_id: user_id.to_string(),
        expires_at: now + SignedDuration::try_from(ttl).unwrap_or(SignedDuration::MAX),
        used_at: None,
        revoked: false,
        ip: Some(client.0.ip().to_string()),
        user_agent: headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.chars().take(200).collect()),
        created_at: now,
    }
}

/// Starts a new session family for `user` and answers with its first token pair.
pub(super) async fn start_session(
    state: &AppState,
    user: &UserRow,
    client: ClientAddr,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let now = state.now();
    let (token, hash) = new_refresh_token();
    let family = uuid::Uuid::now_v7().to_string();
    let ttl = state.accounts().settings.refresh_ttl;
    state
        .storage()
        .start_session(&session_row(
            hash, &family, &user.id, now, ttl, client, headers,
        ))
        .await?;
    Ok(token_pair(state, user, &family, token).into_response())
}

/// The answer carrying a new pair: JSON body and the refresh cookie.
fn token_pair(state: &AppState, user: &UserRow, family: &str, refresh_token: String) -> Response {
    let accounts = state.accounts();
    let access = accounts.tokens.issue(
        &user.id,
        &user.email,
        &USER_SCOPES,
        Some(family),
        state.now(),
    );
    let settings = &accounts.settings;
    let cookie = format!(
        "refresh_token={refresh_token}; Path=/api/v1/auth; HttpOnly;{} SameSite=Lax; Max-Age={}",
        if settings.cookie_secure {
            " Secure;"
        } else {
            ""
        },
        settings.refresh_ttl.as_secs()
    );
    let mut response = Json(TokenResponse {
        access_token: access,
        refresh_token,
        token_type: "bearer",
        expires_in: accounts.tokens.access_ttl().as_secs(),
    })
    .into_response();
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
