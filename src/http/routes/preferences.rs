//! `/api/v1/user/preferences` (bearer): the signed-in user's stored preferences. `PUT` replaces
//! the document, `POST` (the older API's verb) changes only the fields given; both answer the
//! document as stored. Every query is by the token's `sub`: no user reaches another's.

use axum::Json;
use axum::extract::State;
use serde_json::{Map, Value};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use wattline_actors::domain::preferences::Preferences;

use crate::error::ApiError;
use crate::http::bearer::Bearer;
use crate::http::dto::ErrorResponse;
use crate::http::extract::AppJson;
use crate::http::routes::suppliers::catalogue;
use crate::http::state::AppState;

/// Routes under `/api/v1/user`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_preferences, put_preferences, patch_preferences))
}

/// The stored document, or the defaults before anything was stored.
pub async fn stored(state: &AppState, user_id: &str) -> Result<Preferences, ApiError> {
    match state.storage().preferences(user_id).await? {
        Some(document) => serde_json::from_value(document)
            .map_err(|e| ApiError::Internal(format!("stored preferences unreadable: {e}"))),
        None => Ok(Preferences::default()),
    }
}

/// The signed-in user's preferences (defaults until set).
#[utoipa::path(get, path = "/preferences", tag = "user", security(("bearer" = [])),
    responses((status = 200, description = "The preferences document", body = Object),
              (status = 401, body = ErrorResponse)))]
pub async fn get_preferences(
    State(state): State<AppState>,
    Bearer(claims): Bearer,
) -> Result<Json<Preferences>, ApiError> {
    Ok(Json(stored(&state, &claims.sub).await?))
}

/// Replaces the preferences with the document given (fields left out take their defaults).
#[utoipa::path(put, path = "/preferences", tag = "user", security(("bearer" = [])),
    request_body(content = Object, description = "region, current_supplier_id, current_tariff_id, consumption {annual_kwh, shape, hourly_weights}, appliances [{name, power_kw, duration_hours}], notifications {frequency, channels}, green_only"),
    responses((status = 200, description = "The document as stored", body = Object),
              (status = 401, body = ErrorResponse), (status = 422, body = ErrorResponse)))]
pub async fn put_preferences(
    State(state): State<AppState>,
    Bearer(claims): Bearer,
    AppJson(document): AppJson<Map<String, Value>>,
) -> Result<Json<Preferences>, ApiError> {
    // Through a JSON object: serde would read a struct from an array too (`[null, null]`).
    let document: Preferences = serde_json::from_value(Value::Object(document))
        .map_err(|e| ApiError::InvalidBody(format!("invalid preferences: {e}")))?;
    save(&state, &claims.sub, document).await.map(Json)
}

/// Changes only the fields given (the older API's verb).
#[utoipa::path(post, path = "/preferences", tag = "user", security(("bearer" = [])),
    request_body(content = Object, description = "Any top-level fields of the document"),
    responses((status = 200, description = "The document as stored", body = Object),
              (status = 401, body = ErrorResponse), (status = 422, body = ErrorResponse)))]
pub async fn patch_preferences(
    State(state): State<AppState>,
    Bearer(claims): Bearer,
    AppJson(patch): AppJson<Map<String, Value>>,
) -> Result<Json<Preferences>, ApiError> {
    let current = stored(&state, &claims.sub).await?;
    let merged = current.merged(patch).map_err(ApiError::InvalidBody)?;
    save(&state, &claims.sub, merged).await.map(Json)
}

/// Checks the document (its own rules, and that the supplier and tariff it names exist and
/// fit its region) and stores it.
async fn save(
    state: &AppState,
    user_id: &str,
    document: Preferences,
) -> Result<Preferences, ApiError> {
    let mut problems: Vec<String> = document
        .problems()
        .into_iter()
        .map(|p| format!("{}: {}", p.field, p.message))
        .collect();
    if document.current_supplier_id.is_some() || document.current_tariff_id.is_some() {
        let (suppliers, tariffs) = catalogue(state).await?;
        if let Some(id) = &document.current_supplier_id
            && !suppliers.iter().any(|s| &s.id == id)
        {
            problems.push(format!("current_supplier_id: no supplier {id:?}"));
        }
        if let Some(id) = &document.current_tariff_id {
            match tariffs.iter().find(|t| &t.id == id) {
                None => problems.push(format!("current_tariff_id: no tariff {id:?}")),
                Some(tariff) => {
                    if document.region.is_some_and(|r| r.code() != tariff.region) {
                        problems.push(format!(
                            "current_tariff_id: {id} is a tariff of {}, not of the region given",
                            tariff.region
                        ));
                    }
                    if document
                        .current_supplier_id
                        .as_ref()
                        .is_some_and(|s| s != &tariff.supplier_id)
                    {
                        problems.push(format!(
                            "current_tariff_id: {id} is a tariff of {}, not of current_supplier_id",
                            tariff.supplier_id
                        ));
                    }
                }
            }
        }
    }
    if !problems.is_empty() {
        return Err(ApiError::InvalidDocument {
            what: "preferences",
            problems,
        });
    }
    let value = serde_json::to_value(&document).map_err(|e| ApiError::Internal(e.to_string()))?;
    state
        .storage()
        .put_preferences(user_id, &value, state.now())
        .await?;
    Ok(document)
}
