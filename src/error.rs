//! The API's error type and the only place that decides HTTP status codes. Every body is
//! `{"error": {"code", "message", "details"?}}`; 5xx bodies never carry internal text (that is
//! logged instead).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::Value;
use wattline_actors::broadcast::{StreamError, SubscribeError};
use wattline_actors::domain::{Region, RegionParseError};
use wattline_actors::fetcher::{FetchError, RefreshError};
use wattline_actors::forecaster::ModelState;
use wattline_actors::mailbox::CallError;

use crate::storage::StorageError;

/// Everything an API request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("unknown region")]
    UnknownRegion(#[from] RegionParseError),
    /// No valid bearer token (missing, malformed, foreign, expired, revoked, wrong type).
    #[error("a valid bearer access token is required")]
    Unauthorized,
    #[error("Invalid email or password")]
    InvalidCredentials,
    /// Too many failed sign-ins for this email.
    #[error("too many failed sign-ins; try again in {retry_after_secs} seconds")]
    SignInLocked { retry_after_secs: u64 },
    #[error("the password does not meet the policy; it needs {}", .missing.join(", "))]
    WeakPassword { missing: Vec<&'static str> },
    #[error("an account with this email exists")]
    EmailTaken,
    #[error("the API key or token lacks the `{0}` scope")]
    InsufficientScope(String),
    #[error("too many requests; try again in {retry_after_secs} seconds")]
    RateLimited { retry_after_secs: u64 },
    #[error("send the refresh token in the body (`refresh_token`) or the refresh cookie")]
    MissingRefreshToken,
    #[error("the refresh token is invalid, expired or already used")]
    InvalidRefreshToken,
    #[error("unknown OAuth provider {0:?}; this server offers: {1}")]
    UnknownOAuthProvider(String, String),
    #[error("redirect_url refused: {0}")]
    RedirectNotAllowed(String),
    #[error("the sign-in state is unknown, expired or already used; start the sign-in again")]
    InvalidOAuthState,
    #[error("the sign-in code is unknown, expired or already used")]
    InvalidOAuthCode,
    #[error("Invalid UK postcode format")]
    InvalidPostcode,
    #[error("this email has already signed up for the beta")]
    AlreadySignedUp,
    #[error("no such beta code")]
    BetaCodeNotFound,
    #[error("no supplier with id {0:?}")]
    SupplierNotFound(String),
    #[error("the sign-in link is unknown, expired or already used; ask for a new one")]
    InvalidMagicLink,
    #[error("no alert rule with id {0:?}")]
    AlertRuleNotFound(String),
    /// The account's tier allows no more of something.
    #[error("the {tier} tier allows {limit} {what}; upgrade to pro or business for more")]
    TierLimit {
        tier: String,
        what: &'static str,
        limit: u32,
    },
    /// A feature of a higher tier.
    #[error("{feature} needs the {needed} tier; upgrade through /api/v1/billing/checkout")]
    TierRequired {
        feature: &'static str,
        needed: &'static str,
    },
    #[error("confirmation must be true to erase your data; this cannot be undone")]
    ConfirmationRequired,
    /// Stripe is not set up on this server.
    #[error("billing is not configured on this server: {0}")]
    BillingNotConfigured(&'static str),
    #[error(
        "this account has no billing customer yet; subscribe through /api/v1/billing/checkout first"
    )]
    NoBillingCustomer,
    /// Stripe refused or failed a call.
    #[error("the payment provider could not complete the request: {0}")]
    PaymentProvider(String),
    #[error("missing Stripe-Signature header")]
    MissingSignature,
    #[error("invalid Stripe-Signature: {0}")]
    InvalidSignature(String),
    #[error("the webhook body is not a Stripe event: {0}")]
    InvalidEvent(String),
    #[error("no live API key with id {0:?} on this account")]
    ApiKeyNotFound(String),
    #[error("no failed job with id {0:?}")]
    JobNotFound(String),
    #[error("the outbox workers are not running on this node")]
    WorkersUnavailable,
    #[error("no tariff with id {0:?}")]
    TariffNotFound(String),
    /// A document (tariff, supplier, preferences) with problems, each naming its field.
    #[error("{what} is not valid: {}", .problems.join("; "))]
    InvalidDocument {
        what: &'static str,
        problems: Vec<String>,
    },
    /// A recommendation needs preferences the user has not stored yet.
    #[error("your preferences lack what this needs: {}; set them with PUT /api/v1/user/preferences", .missing.join(", "))]
    IncompleteProfile { missing: Vec<&'static str> },
    #[error("region {0} is not enabled on this server")]
    RegionDisabled(Region),
    #[error("{0}")]
    InvalidQuery(String),
    #[error("invalid parameter `{name}`: {message}")]
    InvalidParameter { name: &'static str, message: String },
    #[error("Last-Event-ID must be an event id this server sent (a decimal number)")]
    InvalidLastEventId,
    #[error("{0}")]
    TooManyStreams(String),
    #[error("{0}")]
    StreamsFull(String),
    #[error("{0}")]
    MalformedJson(String),
    #[error("{0}")]
    InvalidBody(String),
    #[error("request body must be JSON (Content-Type: application/json)")]
    UnsupportedMediaType,
    #[error("request body is larger than the limit")]
    PayloadTooLarge,
    /// The client stopped sending its request body.
    #[error("the request body stalled; send it without long pauses")]
    BodyTimeout,
    #[error("missing X-API-Key header")]
    MissingApiKey,
    #[error("invalid API key")]
    InvalidApiKey,
    #[error("API key authentication is not configured on this server")]
    ApiKeyNotConfigured,
    #[error("no such route")]
    RouteNotFound,
    #[error("method not allowed for this route")]
    MethodNotAllowed,
    #[error("no current price for {region} yet; its fetcher is {state}")]
    PriceUnavailable { region: Region, state: String },
    #[error("refresh failed")]
    RefreshFailed(Value),
    #[error("actor call failed: {0}")]
    Actor(#[from] CallError),
    #[error("invalid `{field}`: {message}")]
    InvalidField { field: String, message: String },
    #[error("forecasting is disabled on this server (configuration key `forecast.enabled`)")]
    ForecastingDisabled,
    #[error("no forecast model for {region} yet")]
    ModelNotReady {
        region: Region,
        state: ModelState,
        /// Regions with a model now, of those served.
        ready: usize,
        of: usize,
    },
    #[error("no schedule satisfies the request: {reason}")]
    Infeasible {
        constraint: &'static str,
        appliance: Option<String>,
        reason: String,
    },
    #[error("request took longer than the server's deadline")]
    Timeout,
    #[error("the server is shutting down")]
    ShuttingDown,
    #[error("storage: {0}")]
    Storage(#[from] StorageError),
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<crate::auth::redirects::RedirectRefused> for ApiError {
    fn from(refused: crate::auth::redirects::RedirectRefused) -> Self {
        ApiError::RedirectNotAllowed(refused.to_string())
    }
}

impl From<crate::cache::kv::KvError> for ApiError {
    fn from(error: crate::cache::kv::KvError) -> Self {
        ApiError::Internal(error.to_string())
    }
}

impl From<RefreshError> for ApiError {
    fn from(error: RefreshError) -> Self {
        match error {
            RefreshError::Call(call) => ApiError::Actor(call),
            RefreshError::Fetch(fetch) => ApiError::RefreshFailed(
                serde_json::to_value(fetch_detail(&fetch)).unwrap_or(Value::Null),
            ),
        }
    }
}

impl From<StreamError> for ApiError {
    fn from(error: StreamError) -> Self {
        match error {
            StreamError::Call(call) => ApiError::Actor(call),
            StreamError::Refused(refused @ SubscribeError::AddressFull { .. }) => {
                ApiError::TooManyStreams(refused.to_string())
            }
            StreamError::Refused(refused @ SubscribeError::ServerFull { .. }) => {
                ApiError::StreamsFull(refused.to_string())
            }
        }
    }
}

impl From<wattline_actors::domain::schedule::request::InvalidRequest> for ApiError {
    fn from(error: wattline_actors::domain::schedule::request::InvalidRequest) -> Self {
        ApiError::InvalidField {
            field: error.field,
            message: error.message,
        }
    }
}

/// The JSON details of a failed fetch (source errors are provider messages, not internals).
pub fn fetch_detail(error: &FetchError) -> Value {
    serde_json::json!({ "message": error.to_string(), "reason": error })
}

#[derive(Serialize)]
struct Body<'a> {
    error: ErrorBody<'a>,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    code: &'a str,
    message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    details: Option<Value>,
}

impl ApiError {
    /// A request-body field that parsed but is not acceptable (422, naming the field).
    pub fn invalid_field(field: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError::InvalidField {
            field: field.into(),
            message: message.into(),
        }
    }

    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::UnknownRegion(_) => (StatusCode::BAD_REQUEST, "unknown_region"),
            ApiError::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized"),
            ApiError::InvalidCredentials => (StatusCode::UNAUTHORIZED, "invalid_credentials"),
            ApiError::SignInLocked { .. } => (StatusCode::TOO_MANY_REQUESTS, "sign_in_locked"),
            ApiError::WeakPassword { .. } => (StatusCode::BAD_REQUEST, "weak_password"),
            ApiError::EmailTaken => (StatusCode::CONFLICT, "email_taken"),
            ApiError::InsufficientScope(_) => (StatusCode::FORBIDDEN, "insufficient_scope"),
            ApiError::RateLimited { .. } => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
            ApiError::MissingRefreshToken => (StatusCode::BAD_REQUEST, "missing_refresh_token"),
            ApiError::InvalidRefreshToken => (StatusCode::UNAUTHORIZED, "invalid_refresh_token"),
            ApiError::UnknownOAuthProvider(..) => (StatusCode::BAD_REQUEST, "unknown_provider"),
            ApiError::RedirectNotAllowed(_) => {
                (StatusCode::UNPROCESSABLE_ENTITY, "redirect_not_allowed")
            }
            ApiError::InvalidOAuthState => (StatusCode::BAD_REQUEST, "invalid_state"),
            ApiError::InvalidOAuthCode => (StatusCode::BAD_REQUEST, "invalid_code"),
            ApiError::InvalidPostcode => (StatusCode::BAD_REQUEST, "invalid_postcode"),
            ApiError::AlreadySignedUp => (StatusCode::CONFLICT, "already_signed_up"),
            ApiError::BetaCodeNotFound => (StatusCode::NOT_FOUND, "beta_code_not_found"),
            ApiError::SupplierNotFound(_) => (StatusCode::NOT_FOUND, "supplier_not_found"),
            ApiError::InvalidMagicLink => (StatusCode::UNAUTHORIZED, "invalid_magic_link"),
            ApiError::AlertRuleNotFound(_) => (StatusCode::NOT_FOUND, "alert_not_found"),
            ApiError::TierLimit { .. } => (StatusCode::FORBIDDEN, "tier_limit"),
            ApiError::JobNotFound(_) => (StatusCode::NOT_FOUND, "job_not_found"),
            ApiError::ApiKeyNotFound(_) => (StatusCode::NOT_FOUND, "api_key_not_found"),
            ApiError::ConfirmationRequired => (StatusCode::BAD_REQUEST, "confirmation_required"),
            ApiError::TierRequired { .. } => (StatusCode::FORBIDDEN, "tier_limit"),
            ApiError::BillingNotConfigured(_) => {
                (StatusCode::SERVICE_UNAVAILABLE, "billing_not_configured")
            }
            ApiError::NoBillingCustomer => (StatusCode::NOT_FOUND, "no_billing_customer"),
            ApiError::PaymentProvider(_) => (StatusCode::BAD_GATEWAY, "payment_provider_error"),
            ApiError::MissingSignature => (StatusCode::BAD_REQUEST, "missing_signature"),
            ApiError::InvalidSignature(_) => (StatusCode::BAD_REQUEST, "invalid_signature"),
            ApiError::InvalidEvent(_) => (StatusCode::BAD_REQUEST, "invalid_event"),
            ApiError::WorkersUnavailable => {
                (StatusCode::SERVICE_UNAVAILABLE, "workers_unavailable")
            }
            ApiError::TariffNotFound(_) => (StatusCode::NOT_FOUND, "tariff_not_found"),
            ApiError::InvalidDocument { .. } => {
                (StatusCode::UNPROCESSABLE_ENTITY, "invalid_document")
            }
            ApiError::IncompleteProfile { .. } => {
                (StatusCode::UNPROCESSABLE_ENTITY, "incomplete_preferences")
            }
            ApiError::RegionDisabled(_) => (StatusCode::NOT_FOUND, "region_disabled"),
            ApiError::InvalidQuery(_) => (StatusCode::BAD_REQUEST, "invalid_query"),
            ApiError::InvalidParameter { .. } => (StatusCode::BAD_REQUEST, "invalid_parameter"),
            ApiError::InvalidLastEventId => (StatusCode::BAD_REQUEST, "invalid_last_event_id"),
            ApiError::TooManyStreams(_) => (StatusCode::TOO_MANY_REQUESTS, "too_many_streams"),
            ApiError::StreamsFull(_) => (StatusCode::SERVICE_UNAVAILABLE, "too_many_subscribers"),
            ApiError::MalformedJson(_) => (StatusCode::BAD_REQUEST, "malformed_json"),
            ApiError::InvalidBody(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_body"),
            ApiError::UnsupportedMediaType => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
            }
            ApiError::PayloadTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            ApiError::BodyTimeout => (StatusCode::REQUEST_TIMEOUT, "request_timeout"),
            ApiError::MissingApiKey => (StatusCode::UNAUTHORIZED, "missing_api_key"),
            ApiError::InvalidApiKey => (StatusCode::UNAUTHORIZED, "invalid_api_key"),
            ApiError::ApiKeyNotConfigured => {
                (StatusCode::SERVICE_UNAVAILABLE, "api_key_not_configured")
            }
            ApiError::RouteNotFound => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            ApiError::PriceUnavailable { .. } => {
                (StatusCode::SERVICE_UNAVAILABLE, "price_unavailable")
            }
            ApiError::RefreshFailed(_) => (StatusCode::SERVICE_UNAVAILABLE, "refresh_failed"),
            ApiError::Actor(_) => (StatusCode::SERVICE_UNAVAILABLE, "actor_unavailable"),
            ApiError::InvalidField { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_field"),
            ApiError::ForecastingDisabled => {
                (StatusCode::SERVICE_UNAVAILABLE, "forecasting_disabled")
            }
            ApiError::ModelNotReady {
                state: ModelState::Pending | ModelState::Calibrating,
                ..
            } => (StatusCode::SERVICE_UNAVAILABLE, "model_calibrating"),
            ApiError::ModelNotReady { .. } => (StatusCode::SERVICE_UNAVAILABLE, "model_not_ready"),
            ApiError::Infeasible { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "infeasible"),
            ApiError::Timeout => (StatusCode::SERVICE_UNAVAILABLE, "timeout"),
            ApiError::ShuttingDown => (StatusCode::SERVICE_UNAVAILABLE, "shutting_down"),
            ApiError::Storage(StorageError::Unavailable(_)) => {
                (StatusCode::SERVICE_UNAVAILABLE, "storage_unavailable")
            }
            ApiError::Storage(_) | ApiError::Internal(_) => {
                (StatusCode::INTERNAL_SERVER_ERROR, "internal_error")
            }
        }
    }

    /// What the client sees. Client errors explain themselves; server errors stay generic.
    fn public_message(&self, status: StatusCode) -> String {
        match self {
            ApiError::UnknownRegion(e) => match e.suggestion {
                Some(s) => format!(
                    "unknown region '{}'; region codes are lowercase: did you mean '{s}'?",
                    e.given
                ),
                None => format!("unknown region '{}'", e.given),
            },
            ApiError::Actor(CallError::Down) => {
                "the price engine is restarting; try again shortly".into()
            }
            ApiError::Actor(CallError::Timeout(_)) => {
                "the price engine did not answer in time".into()
            }
            ApiError::Storage(StorageError::Unavailable(_)) => {
                "storage is unavailable; try again shortly".into()
            }
            ApiError::RefreshFailed(_) => "no source could deliver the requested prices".into(),
            ApiError::ModelNotReady {
                region,
                state,
                ready,
                of,
            } => match state {
                ModelState::NotEnoughHistory {
                    have_days,
                    need_days,
                } => format!(
                    "no forecast model for {region} yet: {have_days} days of prices stored, {need_days} needed \
                     (load history with `wattline backfill`)"
                ),
                ModelState::Failed { .. } => {
                    format!("the forecast model for {region} failed to calibrate; retrying")
                }
                ModelState::Calibrating => format!(
                    "the forecast model for {region} is calibrating ({ready} of {of} regions ready); try again shortly"
                ),
                _ => format!(
                    "the forecast model for {region} is queued for calibration ({ready} of {of} regions ready); try again shortly"
                ),
            },
            _ if status.is_server_error()
                && status != StatusCode::SERVICE_UNAVAILABLE
                && status != StatusCode::BAD_GATEWAY =>
            {
                "internal server error".into()
            }
            other => other.to_string(),
        }
    }

    fn details(&self) -> Option<Value> {
        match self {
            ApiError::UnknownRegion(_) => {
                Some(serde_json::json!({ "valid_regions": Region::codes().collect::<Vec<_>>() }))
            }
            ApiError::RefreshFailed(details) => Some(details.clone()),
            ApiError::InvalidField { field, .. } => Some(serde_json::json!({ "field": field })),
            ApiError::WeakPassword { missing } => Some(serde_json::json!({ "missing": missing })),
            ApiError::InvalidDocument { problems, .. } => {
                Some(serde_json::json!({ "problems": problems }))
            }
            ApiError::IncompleteProfile { missing } => {
                Some(serde_json::json!({ "missing": missing }))
            }
            ApiError::SignInLocked { retry_after_secs } => {
                Some(serde_json::json!({ "retry_after": retry_after_secs }))
            }
            ApiError::ModelNotReady {
                state, ready, of, ..
            } => {
                let mut details = serde_json::to_value(state).ok()?;
                details["ready"] = (*ready).into();
                details["of"] = (*of).into();
                Some(details)
            }
            ApiError::Infeasible {
                constraint,
                appliance,
                ..
            } => Some(serde_json::json!({ "constraint": constraint, "appliance": appliance })),
            _ => None,
        }
    }
}

/// How bad an error is for the server.
enum Severity {
    /// Something of ours is broken.
    Fault,
    /// Not available now (not ready, restarting, shutting down, busy): expected at times.
    Unavailable,
    /// The client's request was wrong.
    Client,
}

impl ApiError {
    fn severity(&self, status: StatusCode) -> Severity {
        match self {
            ApiError::Storage(_) | ApiError::Internal(_) => Severity::Fault,
            _ if status.is_client_error() => Severity::Client,
            _ if status == StatusCode::SERVICE_UNAVAILABLE => Severity::Unavailable,
            _ => Severity::Fault,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        // ERROR only for faults of the server; a region not ready, a restarting actor or a
        // client's mistake is logged lower (the request's span carries its id).
        match self.severity(status) {
            Severity::Fault => tracing::error!(error = %self, code, "Request failed."),
            Severity::Unavailable => tracing::warn!(error = %self, code, "Request not served now."),
            Severity::Client => tracing::info!(error = %self, code, "Request refused."),
        }
        let body = Body {
            error: ErrorBody {
                code,
                message: self.public_message(status),
                details: self.details(),
            },
        };
        let mut response = (status, axum::Json(body)).into_response();
        if let ApiError::SignInLocked { retry_after_secs }
        | ApiError::RateLimited { retry_after_secs } = &self
        {
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from(retry_after_secs.max(&1).to_owned()),
            );
        } else if status == StatusCode::SERVICE_UNAVAILABLE
            || status == StatusCode::TOO_MANY_REQUESTS
        {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        }
        if status == StatusCode::UNAUTHORIZED
            && matches!(self, ApiError::Unauthorized | ApiError::InvalidRefreshToken)
        {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_errors_hide_internal_text() {
        let error = ApiError::Storage(StorageError::Corrupt("row 7: secret detail".into()));
        let (status, _) = error.status_and_code();
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(error.public_message(status), "internal server error");
    }

    #[test]
    fn a_queued_model_says_calibrating_with_the_true_count() {
        let error = ApiError::ModelNotReady {
            region: Region::Germany,
            state: ModelState::Pending,
            ready: 3,
            of: 14,
        };
        let (status, code) = error.status_and_code();
        assert_eq!(
            (status, code),
            (StatusCode::SERVICE_UNAVAILABLE, "model_calibrating")
        );
        let message = error.public_message(status);
        assert!(message.contains("3 of 14 regions ready"), "{message}");
        assert!(!message.contains("days of prices"), "{message}");
        let details = error.details().unwrap();
        assert_eq!(
            (details["ready"].clone(), details["of"].clone()),
            (3.into(), 14.into())
        );
        let response = error.into_response();
        assert!(response.headers().contains_key(header::RETRY_AFTER));
    }

    #[test]
    fn mis_cased_region_suggests_the_code() {
        let error = ApiError::from(Region::parse("UK").unwrap_err());
        let (status, code) = error.status_and_code();
        assert_eq!((status, code), (StatusCode::BAD_REQUEST, "unknown_region"));
        assert!(error.public_message(status).contains("did you mean 'uk'"));
    }
}
