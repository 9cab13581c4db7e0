//! `/api/v1/compliance` (bearer): GDPR. Consent decisions are appended with the client's address
//! and user agent (`POST /consent`), listed (`GET /gdpr/consents`), summed up per purpose
//! (`GET /gdpr/consents/status`) and withdrawn together (`POST /gdpr/withdraw-all-consents`).
//! `GET /gdpr/export` streams every row about the user, table by table. `DELETE
//! /gdpr/delete-my-data` erases the account in one transaction and logs the erasure.

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use wattline_actors::domain::consent::{self, Purpose};
use wattline_actors::workers::email::EMAIL_QUEUE;

use crate::error::ApiError;
use crate::gdpr::{ERASURE_BASIS, anonymous_email, anonymous_name, user_hash};
use crate::http::bearer::{Bearer, account_of, revoked_key};
use crate::http::dto::ErrorResponse;
use crate::http::extract::AppJson;
use crate::http::listener::ClientAddr;
use crate::http::state::AppState;
use crate::storage::gdpr::{ConsentRow, DeletionLogRow, EXPORT, Erasure};
use crate::storage::jobs::NewJob;

/// Routes under `/api/v1/compliance`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(record_consent))
        .routes(routes!(list_consents))
        .routes(routes!(consent_status))
        .routes(routes!(withdraw_all))
        .routes(routes!(export))
        .routes(routes!(delete_my_data))
}

/// A consent decision.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsentRequest {
    /// `data_processing`, `marketing`, `analytics`, `price_alerts`, `optimization` or
    /// `third_party_sharing`.
    #[schema(max_length = 50)]
    purpose: String,
    consent_given: bool,
    /// The version of the text the user agreed to (default "1.0").
    #[schema(max_length = 50)]
    consent_version: Option<String>,
}

/// A recorded decision.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConsentView {
    id: String,
    user_id: String,
    purpose: String,
    consent_given: bool,
    consent_version: String,
    timestamp: jiff::Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<&'static str>,
}

impl ConsentView {
    fn of(row: ConsentRow, message: Option<&'static str>) -> Self {
        ConsentView {
            id: row.id,
            user_id: row.user_id,
            purpose: row.purpose,
            consent_given: row.consent_given,
            consent_version: row.consent_version,
            timestamp: row.created_at,
            message,
        }
    }
}

fn decision(
    state: &AppState,
    user_id: &str,
    purpose: Purpose,
    given: bool,
    version: String,
    client: ClientAddr,
    headers: &HeaderMap,
) -> ConsentRow {
    let user_agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|ua| ua.chars().take(512).collect());
    ConsentRow {
        id: uuid::Uuid::now_v7().to_string(),
        user_id: user_id.to_string(),
        purpose: purpose.as_str().to_string(),
        consent_given: given,
        consent_version: version,
        ip_address: Some(client.0.ip().to_string()),
        user_agent,
        created_at: state.now(),
    }
}

/// Records a consent decision (appended; the latest per purpose counts).
#[utoipa::path(post, path = "/consent", request_body = ConsentRequest, tag = "compliance",
    security(("bearer" = [])),
    responses((status = 201, body = ConsentView), (status = 401, body = ErrorResponse),
              (status = 422, body = ErrorResponse)))]
pub async fn record_consent(
    State(state): State<AppState>,
    Bearer(claims): Bearer,
    ConnectInfo(client): ConnectInfo<ClientAddr>,
    headers: HeaderMap,
    AppJson(request): AppJson<ConsentRequest>,
) -> Result<(StatusCode, Json<ConsentView>), ApiError> {
    let purpose: Purpose = request
        .purpose
        .parse()
        .map_err(|message: String| ApiError::invalid_field("purpose", message))?;
    let version = request.consent_version.unwrap_or_else(|| "1.0".into());
    if version.is_empty() || version.len() > 50 {
        return Err(ApiError::invalid_field(
            "consent_version",
            "must be 1 to 50 characters",
        ));
    }
    let row = decision(
        &state,
        &claims.sub,
        purpose,
        request.consent_given,
        version,
        client,
        &headers,
    );
    state
        .storage()
        .record_consents(std::slice::from_ref(&row))
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(ConsentView::of(row, Some("Consent recorded"))),
    ))
}

/// Decisions, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConsentsResponse {
    consents: Vec<ConsentView>,
    total_count: usize,
}

/// The user's consent decisions, newest first.
#[utoipa::path(get, path = "/gdpr/consents", tag = "compliance", security(("bearer" = [])),
    responses((status = 200, body = ConsentsResponse), (status = 401, body = ErrorResponse)))]
pub async fn list_consents(
    State(state): State<AppState>,
    Bearer(claims): Bearer,
) -> Result<Json<ConsentsResponse>, ApiError> {
    let consents: Vec<ConsentView> = state
        .storage()
        .consents_of(&claims.sub)
        .await?
        .into_iter()
        .map(|row| ConsentView::of(row, None))
        .collect();
    Ok(Json(ConsentsResponse {
        total_count: consents.len(),
        consents,
    }))
}

/// Each purpose's current consent.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConsentStatus {
    #[schema(value_type = Object)]
    consents: BTreeMap<&'static str, bool>,
}

/// Every purpose's current consent (the latest decision; false when never given).
#[utoipa::path(get, path = "/gdpr/consents/status", tag = "compliance", security(("bearer" = [])),
    responses((status = 200, body = ConsentStatus), (status = 401, body = ErrorResponse)))]
pub async fn consent_status(
    State(state): State<AppState>,
    Bearer(claims): Bearer,
) -> Result<Json<ConsentStatus>, ApiError> {
    let rows = state.storage().consents_of(&claims.sub).await?;
    // Stored newest first; the status reads them in the order they were made.
    let consents = consent::status(
        rows.iter()
            .rev()
            .map(|r| (r.purpose.as_str(), r.consent_given, r.created_at)),
    );
    Ok(Json(ConsentStatus { consents }))
}

/// Withdrawals, one per purpose.
#[derive(Debug, Serialize, ToSchema)]
pub struct WithdrawAllResponse {
    withdrawn: Vec<ConsentView>,
    total_count: usize,
    message: &'static str,
}

/// Withdraws consent for every purpose (one record each).
#[utoipa::path(post, path = "/gdpr/withdraw-all-consents", tag = "compliance", security(("bearer" = [])),
    responses((status = 200, body = WithdrawAllResponse), (status = 401, body = ErrorResponse)))]
pub async fn withdraw_all(
    State(state): State<AppState>,
    Bearer(claims): Bearer,
    ConnectInfo(client): ConnectInfo<ClientAddr>,
    headers: HeaderMap,
) -> Result<Json<WithdrawAllResponse>, ApiError> {
    let rows: Vec<ConsentRow> = Purpose::ALL
        .into_iter()
        .map(|p| {
            decision(
                &state,
                &claims.sub,
                p,
                false,
                "1.0".into(),
                client,
                &headers,
            )
        })
        .collect();
    state.storage().record_consents(&rows).await?;
    let withdrawn: Vec<ConsentView> = rows.into_iter().map(|r| ConsentView::of(r, None)).collect();
    Ok(Json(WithdrawAllResponse {
        total_count: withdrawn.len(),
        withdrawn,
        message: "Every consent withdrawn",
    }))
}

/// Every row about the signed-in user, streamed table by table as one JSON document
/// `{user_id, exported_at, tables: {<table>: [rows]}}` (secrets and their hashes left out).
#[utoipa::path(get, path = "/gdpr/export", tag = "compliance", security(("bearer" = [])),
    responses((status = 200, description = "The export", body = Object), (status = 401, body = ErrorResponse)))]
pub async fn export(
    State(state): State<AppState>,
    Bearer(claims): Bearer,
) -> Result<Response, ApiError> {
    let user = account_of(&state, &claims).await?;
    let head = format!(
        "{{\"user_id\":{},\"exported_at\":{},\"tables\":{{",
        serde_json::Value::from(user.id.clone()),
        serde_json::Value::from(state.now().to_string())
    );
    let chunks = futures_util::stream::unfold(Some(0usize), move |next| {
        let state = state.clone();
        let user = user.clone();
        async move {
            let index = next?;
            let Some(section) = EXPORT.get(index) else {
                return Some((Ok(Bytes::from_static(b"}}")), None));
            };
            match state
                .storage()
                .export_section(section, &user.id, &user.email)
                .await
            {
                Ok(rows) => {
                    let mut chunk = if index == 0 {
                        String::new()
                    } else {
                        ",".into()
                    };
                    chunk.push_str(&serde_json::Value::from(section.table).to_string());
                    chunk.push(':');
                    chunk.push_str(&serde_json::Value::from(rows).to_string());
                    Some((Ok(Bytes::from(chunk)), Some(index + 1)))
                }
                Err(error) => {
                    // Headers are gone: ending the body short is the only signal left.
                    tracing::error!(%error, table = section.table, "Export failed mid-stream.");
                    Some((Err(std::io::Error::other(error.to_string())), None))
                }
            }
        }
    });
    let body =
        futures_util::stream::once(async move { Ok::<_, std::io::Error>(Bytes::from(head)) })
            .chain(chunks);
    let mut response = Body::from_stream(body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment; filename=\"wattline-export.json\""),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// The erasure request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeleteRequest {
    /// Must be true.
    confirmation: bool,
    #[schema(max_length = 500)]
    reason: Option<String>,
    /// Keep the account's records anonymised instead of deleting them.
    #[serde(default)]
    retain_anonymized: bool,
}

/// What was erased.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeleteResponse {
    success: bool,
    deleted_at: jiff::Timestamp,
    deleted_categories: Vec<&'static str>,
    deletion_log_id: String,
    message: &'static str,
}

/// Erases the signed-in user's account and every row about them (or anonymises them with
/// `retain_anonymized`), revokes their sessions and API keys, queues the confirmation email and
/// the deletion of their Stripe customer, and logs the erasure. `confirmation` must be true.
#[utoipa::path(delete, path = "/gdpr/delete-my-data", request_body = DeleteRequest, tag = "compliance",
    security(("bearer" = [])),
    responses((status = 200, body = DeleteResponse), (status = 400, body = ErrorResponse),
              (status = 401, body = ErrorResponse), (status = 422, body = ErrorResponse)))]
pub async fn delete_my_data(
    State(state): State<AppState>,
    Bearer(claims): Bearer,
    AppJson(request): AppJson<DeleteRequest>,
) -> Result<Json<DeleteResponse>, ApiError> {
    if !request.confirmation {
        return Err(ApiError::ConfirmationRequired);
    }
    if request
        .reason
        .as_ref()
        .is_some_and(|r| r.chars().count() > 500)
    {
        return Err(ApiError::invalid_field("reason", "at most 500 characters"));
    }
    let storage = state.storage();
    let user = account_of(&state, &claims).await?;
    let now = state.now();
    let mut categories: Vec<&'static str> = Vec::new();
    for section in EXPORT {
        if !storage
            .export_section(section, &user.id, &user.email)
            .await?
            .is_empty()
            && !categories.contains(&section.category)
        {
            categories.push(section.category);
        }
    }
    let erasure = if request.retain_anonymized {
        let consents = storage
            .consents_of(&user.id)
            .await?
            .into_iter()
            .map(|mut c| {
                c.ip_address = c.ip_address.as_deref().map(consent::anonymise_ip);
                c.user_agent = Some("Anonymous".into());
                c
            })
            .collect();
        Erasure::Anonymise {
            email: anonymous_email(&user.email),
            name: anonymous_name(&user.id),
            consents,
        }
    } else {
        Erasure::Delete
    };
    let log = DeletionLogRow {
        id: uuid::Uuid::now_v7().to_string(),
        user_hash: user_hash(&user.id),
        categories: categories.iter().map(|c| c.to_string()).collect(),
        legal_basis: ERASURE_BASIS.into(),
        anonymized: request.retain_anonymized,
        deleted_at: now,
    };
    // The confirmation goes to the address being erased; the job names no user, and a done
    // job keeps no payload, so nothing of the address outlives its delivery.
    let confirmation = NewJob {
        queue: EMAIL_QUEUE.into(),
        kind: "deletion_confirmation".into(),
        payload: serde_json::json!({
            "to": user.email,
            "deleted_at": now.to_string(),
            "categories": categories,
        }),
        idempotency_key: format!("deletion:{}", log.id),
        user_id: None,
        run_at: now,
    };
    // The deletion of their Stripe customer is queued by the erasure itself.
    storage
        .erase_user(&user.id, &user.email, erasure, &log, vec![confirmation])
        .await?;
    // This access token stops working at once; the sessions went with the account.
    let left = claims.exp.saturating_sub(now.as_second()).max(1) as u64;
    state
        .accounts()
        .kv
        .mark(&revoked_key(&claims.jti), Duration::from_secs(left))
        .await?;
    Ok(Json(DeleteResponse {
        success: true,
        deleted_at: now,
        deleted_categories: categories,
        deletion_log_id: log.id,
        message: "Your data has been erased",
    }))
}
