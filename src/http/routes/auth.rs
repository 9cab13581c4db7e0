//! `/api/v1/auth`: account routes. So far the password strength check, which sign-up applies too
//! (the rules live in `wattline_actors::domain::password`).

use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use wattline_actors::domain::password::{MAX_CHARS, Strength, StrengthLabel};

use crate::error::ApiError;
use crate::http::dto::ErrorResponse;
use crate::http::extract::AppJson;
use crate::http::state::AppState;

/// Routes under `/api/v1/auth`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(check_password_strength))
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
