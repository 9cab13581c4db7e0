//! `/api/v1/beta`: sign-up (stored, its welcome email queued in the outbox in the same
//! transaction), progress and statistics for admins, and code verification.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use wattline_actors::domain::beta::{bill_range, uk_postcode};

use crate::auth::tokens::random_hex;
use crate::config::Secret;
use crate::error::ApiError;
use crate::http::api_key::require_scope;
use crate::http::dto::ErrorResponse;
use crate::http::extract::AppJson;
use crate::http::routes::auth::normalise_email;
use crate::http::state::AppState;
use crate::storage::StorageError;
use crate::storage::beta::BetaSignupRow;
use crate::storage::jobs::NewJob;

/// Routes under `/api/v1/beta`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(sign_up))
        .routes(routes!(count))
        .routes(routes!(stats))
        .routes(routes!(verify_code))
}

/// A beta sign-up (the older API's camelCase fields).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct BetaSignupRequest {
    #[schema(max_length = 254)]
    email: String,
    #[schema(min_length = 2, max_length = 100)]
    name: String,
    /// A UK postcode.
    #[schema(min_length = 5, max_length = 10)]
    postcode: String,
    #[schema(min_length = 1, max_length = 100)]
    current_supplier: String,
    #[schema(min_length = 1, max_length = 50)]
    monthly_bill: String,
    #[schema(min_length = 1, max_length = 200)]
    hear_about: String,
}

/// Signed up.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BetaSignupResponse {
    success: bool,
    message: String,
    /// `BETA-<year>-<8 upper-case hex>`.
    beta_code: String,
}

fn length(field: &str, value: &str, min: usize, max: usize) -> Result<String, ApiError> {
    let trimmed = value.trim();
    let n = trimmed.chars().count();
    if (min..=max).contains(&n) {
        Ok(trimmed.to_string())
    } else {
        Err(ApiError::invalid_field(
            field,
            format!("must be {min} to {max} characters"),
        ))
    }
}

/// Joins the beta: stored once per email, with a code from the operating system's CSPRNG; the
/// welcome email is queued in the outbox with the sign-up.
#[utoipa::path(post, path = "/signup", request_body = BetaSignupRequest, tag = "beta",
    responses((status = 201, body = BetaSignupResponse), (status = 400, body = ErrorResponse),
              (status = 409, body = ErrorResponse), (status = 422, body = ErrorResponse)))]
pub async fn sign_up(
    State(state): State<AppState>,
    AppJson(request): AppJson<BetaSignupRequest>,
) -> Result<(StatusCode, Json<BetaSignupResponse>), ApiError> {
    let email = normalise_email(&request.email)?;
    let name = length("name", &request.name, 2, 100)?;
    length("postcode", &request.postcode, 5, 10)?;
    let postcode = uk_postcode(&request.postcode).ok_or(ApiError::InvalidPostcode)?;
    let current_supplier = length("currentSupplier", &request.current_supplier, 1, 100)?;
    let monthly_bill = length("monthlyBill", &request.monthly_bill, 1, 50)?;
    let hear_about = length("hearAbout", &request.hear_about, 1, 200)?;
    let now = state.now();
    let year = now.to_zoned(jiff::tz::TimeZone::UTC).year();
    let code = format!("BETA-{year}-{}", random_hex()[..8].to_ascii_uppercase());
    let signup = BetaSignupRow {
        id: uuid::Uuid::now_v7().to_string(),
        email: email.clone(),
        name: name.clone(),
        postcode,
        current_supplier,
        monthly_bill,
        hear_about,
        beta_code: code.clone(),
        created_at: now,
    };
    let welcome = NewJob {
        queue: "email".into(),
        kind: "beta_welcome".into(),
        payload: serde_json::json!({ "to": email, "name": name, "beta_code": code }),
        idempotency_key: format!("beta-welcome:{}", signup.id),
        user_id: None,
        run_at: now,
    };
    match state.storage().create_beta_signup(&signup, welcome).await {
        Ok(()) => {}
        Err(StorageError::Conflict(_)) => return Err(ApiError::AlreadySignedUp),
        Err(other) => return Err(other.into()),
    }
    Ok((
        StatusCode::CREATED,
        Json(BetaSignupResponse {
            success: true,
            message: "Welcome to the Wattline beta; your code is on its way by email".into(),
            beta_code: code,
        }),
    ))
}

/// Progress towards the target.
#[derive(Debug, Serialize, ToSchema)]
pub struct BetaCount {
    total: usize,
    target: u32,
    /// Of the target, one decimal.
    percentage: f64,
}

/// How many have signed up (admin).
#[utoipa::path(get, path = "/signups/count", tag = "beta", security(("api_key" = []), ("bearer" = [])),
    responses((status = 200, body = BetaCount), (status = 401, body = ErrorResponse),
              (status = 403, body = ErrorResponse)))]
pub async fn count(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<BetaCount>, ApiError> {
    require_scope(&state, &headers, "admin").await?;
    let total = state.storage().beta_signups().await?.len();
    let target = state.settings().beta.target.get();
    Ok(Json(BetaCount {
        total,
        target,
        percentage: (total as f64 / f64::from(target) * 1000.0).round() / 10.0,
    }))
}

/// Sign-ups grouped for the team.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BetaStats {
    total: usize,
    by_supplier: BTreeMap<String, usize>,
    by_source: BTreeMap<String, usize>,
    /// `under_50`, `50_to_100`, `100_to_200`, `200_plus`, `unknown`.
    by_bill_range: BTreeMap<String, usize>,
    #[schema(value_type = Option<String>, format = DateTime)]
    latest_signup: Option<jiff::Timestamp>,
}

/// Sign-ups by supplier, by how they heard of us and by bill range (admin).
#[utoipa::path(get, path = "/signups/stats", tag = "beta", security(("api_key" = []), ("bearer" = [])),
    responses((status = 200, body = BetaStats), (status = 401, body = ErrorResponse),
              (status = 403, body = ErrorResponse)))]
pub async fn stats(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<BetaStats>, ApiError> {
    require_scope(&state, &headers, "admin").await?;
    let signups = state.storage().beta_signups().await?;
    let mut stats = BetaStats {
        total: signups.len(),
        by_supplier: BTreeMap::new(),
        by_source: BTreeMap::new(),
        by_bill_range: BTreeMap::new(),
        latest_signup: signups.iter().map(|s| s.created_at).max(),
    };
    for s in &signups {
        *stats
            .by_supplier
            .entry(s.current_supplier.clone())
            .or_default() += 1;
        *stats.by_source.entry(s.hear_about.clone()).or_default() += 1;
        *stats
            .by_bill_range
            .entry(bill_range(&s.monthly_bill).to_string())
            .or_default() += 1;
    }
    Ok(Json(stats))
}

/// A code to check.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyCodeRequest {
    #[schema(max_length = 64)]
    code: String,
}

/// The code is valid.
#[derive(Debug, Serialize, ToSchema)]
pub struct VerifyCodeResponse {
    valid: bool,
}

/// Whether a beta code was issued (404 when not). The stored code is compared in constant time
/// with the one given.
#[utoipa::path(post, path = "/verify-code", request_body = VerifyCodeRequest, tag = "beta",
    responses((status = 200, body = VerifyCodeResponse), (status = 404, body = ErrorResponse)))]
pub async fn verify_code(
    State(state): State<AppState>,
    AppJson(request): AppJson<VerifyCodeRequest>,
) -> Result<Json<VerifyCodeResponse>, ApiError> {
    let given = request.code.trim().to_ascii_uppercase();
    if given.is_empty() || given.len() > 64 {
        return Err(ApiError::BetaCodeNotFound);
    }
    let stored = state.storage().beta_signup_by_code(&given).await?;
    match stored {
        Some(signup) if Secret::new(signup.beta_code.as_str()).matches(&given) => {
            Ok(Json(VerifyCodeResponse { valid: true }))
        }
        _ => Err(ApiError::BetaCodeNotFound),
    }
}
