//! `/api/v1/auth/api-keys` (bearer): the API keys a business account makes for its own services.
//! A key is shown once, stored as its SHA-256, carries the `read` scope and acts for its owner
//! (the owner's tier, the owner's rate limits). Other tiers get 403 `tier_limit`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::ApiError;
use crate::http::bearer::{Bearer, account_of};
use crate::http::dto::ErrorResponse;
use crate::http::extract::AppJson;
use crate::http::state::AppState;
use crate::storage::api_keys::ApiKeyRow;

/// Live keys one account may hold.
const MAX_KEYS: u32 = 10;

/// Routes under `/api/v1/auth/api-keys`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_keys, create_key))
        .routes(routes!(revoke_key))
}

/// A key to make.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewKeyRequest {
    /// What the key is for (1–100 characters).
    #[schema(min_length = 1, max_length = 100)]
    name: String,
}

/// A key as listed (never the key itself).
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyView {
    id: String,
    name: String,
    /// The key's first characters, to recognise it.
    prefix: String,
    scopes: Vec<String>,
    created_at: Timestamp,
    revoked_at: Option<Timestamp>,
}

impl ApiKeyView {
    fn of(row: ApiKeyRow) -> Self {
        ApiKeyView {
            id: row.id,
            name: row.name,
            prefix: row.prefix,
            scopes: row.scopes.split(',').map(str::to_string).collect(),
            created_at: row.created_at,
            revoked_at: row.revoked_at,
        }
    }
}

/// A new key: `key` is shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct NewKeyResponse {
    key: String,
    #[serde(flatten)]
    view: ApiKeyView,
}

/// The account's keys.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyList {
    keys: Vec<ApiKeyView>,
}

/// The signed-in user's keys, revoked ones included.
#[utoipa::path(get, path = "", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = ApiKeyList), (status = 401, body = ErrorResponse)))]
pub async fn list_keys(
    State(state): State<AppState>,
    Bearer(claims): Bearer,
) -> Result<Json<ApiKeyList>, ApiError> {
    let keys = state.storage().api_keys_of(&claims.sub).await?;
    Ok(Json(ApiKeyList {
        keys: keys.into_iter().map(ApiKeyView::of).collect(),
    }))
}

/// Makes a `read` key acting for the signed-in business account (403 for other tiers, and past
/// ten live keys).
#[utoipa::path(post, path = "", request_body = NewKeyRequest, tag = "auth", security(("bearer" = [])),
    responses((status = 201, body = NewKeyResponse), (status = 400, body = ErrorResponse),
              (status = 401, body = ErrorResponse), (status = 403, body = ErrorResponse),
              (status = 422, body = ErrorResponse)))]
pub async fn create_key(
    State(state): State<AppState>,
    Bearer(claims): Bearer,
    AppJson(request): AppJson<NewKeyRequest>,
) -> Result<(StatusCode, Json<NewKeyResponse>), ApiError> {
    let name = request.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(ApiError::invalid_field("name", "1 to 100 characters"));
    }
    let storage = state.storage();
    let user = account_of(&state, &claims).await?;
    if !user.plan()?.may_create_api_keys() {
        return Err(ApiError::TierRequired {
            feature: "API keys",
            needed: "business",
        });
    }
    let live = storage
        .api_keys_of(&user.id)
        .await?
        .iter()
        .filter(|k| k.revoked_at.is_none())
        .count();
    if live >= MAX_KEYS as usize {
        return Err(ApiError::TierLimit {
            tier: user.tier,
            what: "live API keys (revoke one first)",
            limit: MAX_KEYS,
        });
    }
    let (key, row) = crate::auth::api_keys::create(
        storage,
        name,
        &["read".to_string()],
        Some(&user.id),
        state.now(),
    )
    .await
    .map_err(|e| match e {
        crate::auth::api_keys::ApiKeyError::Storage(s) => ApiError::Storage(s),
        other => ApiError::Internal(other.to_string()),
    })?;
    Ok((
        StatusCode::CREATED,
        Json(NewKeyResponse {
            key,
            view: ApiKeyView::of(row),
        }),
    ))
}

/// Revokes one of the signed-in user's keys.
#[utoipa::path(delete, path = "/{id}", params(("id" = String, Path)), tag = "auth", security(("bearer" = [])),
    responses((status = 204, description = "Revoked"), (status = 401, body = ErrorResponse),
              (status = 404, body = ErrorResponse)))]
pub async fn revoke_key(
    State(state): State<AppState>,
    Bearer(claims): Bearer,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    if !state
        .storage()
        .revoke_user_api_key(&claims.sub, &id, state.now())
        .await?
    {
        return Err(ApiError::ApiKeyNotFound(id));
    }
    Ok(StatusCode::NO_CONTENT)
}
