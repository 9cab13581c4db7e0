//! `POST /api/v1/prices/refresh`: asks the fetchers to fetch now. Guarded by the operator API
//! key: a missing key is 401, a server without a key configured is 503, a wrong key is 401.

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use wattline_actors::domain::Region;
use wattline_actors::fetcher::FetchReport;

use crate::error::ApiError;
use crate::http::api_key::require_scope;
use crate::http::extract::AppQuery;
use crate::http::state::AppState;

/// Routes under `/api/v1/prices` served by this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(refresh_prices))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RefreshQuery {
    /// One region or several, comma separated (default: every enabled region).
    region: Option<String>,
}

/// One region that could not be refreshed.
#[derive(Debug, Serialize, ToSchema)]
pub struct RefreshFailure {
    #[schema(value_type = String)]
    region: Region,
    error: String,
}

/// What the refresh fetched.
#[derive(Debug, Serialize, ToSchema)]
pub struct RefreshResponse {
    /// `refreshed` when every region succeeded, `partial` otherwise.
    status: &'static str,
    message: String,
    synced_records: usize,
    #[schema(value_type = Vec<String>)]
    regions_covered: Vec<Region>,
    errors: Vec<RefreshFailure>,
    #[schema(value_type = String, format = DateTime)]
    triggered_at: Timestamp,
    /// Per region: the days fetched, from which source, and failed attempts.
    #[schema(value_type = Vec<Object>)]
    reports: Vec<FetchReport>,
}

/// Fetches prices now (operator API key required).
#[utoipa::path(post, path = "/refresh", params(RefreshQuery), tag = "prices",
    security(("api_key" = []), ("bearer" = [])),
    responses((status = 200, body = RefreshResponse), (status = 401, body = crate::http::dto::ErrorResponse), (status = 403, body = crate::http::dto::ErrorResponse),
              (status = 503, body = crate::http::dto::ErrorResponse)))]
pub async fn refresh_prices(
    State(state): State<AppState>,
    headers: HeaderMap,
    AppQuery(q): AppQuery<RefreshQuery>,
) -> Result<Json<RefreshResponse>, ApiError> {
    require_scope(&state, &headers, "refresh").await?;
    let regions: Vec<Region> = match q.region.as_deref() {
        Some(list) => list
            .split(',')
            .map(|code| state.region(code.trim()))
            .collect::<Result<_, _>>()?,
        None => state.enabled_regions().collect(),
    };
    let triggered_at = state.now();
    let timeout = state.settings().prices.refresh_timeout;
    let mut tasks = tokio::task::JoinSet::new();
    for region in regions {
        let prices = state.prices().clone();
        tasks.spawn(async move { (region, prices.refresh(region, timeout).await) });
    }
    let (mut reports, mut errors) = (Vec::new(), Vec::new());
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok((_, Ok(report))) => reports.push(report),
            Ok((region, Err(error))) => errors.push(RefreshFailure {
                region,
                error: error.to_string(),
            }),
            Err(join) => return Err(ApiError::Internal(join.to_string())),
        }
    }
    reports.sort_by_key(|r| r.region);
    errors.sort_by_key(|e| e.region);
    if reports.is_empty() && !errors.is_empty() {
        return Err(ApiError::RefreshFailed(
            serde_json::json!({ "errors": errors }),
        ));
    }
    let synced_records = reports.iter().flat_map(|r| &r.days).map(|d| d.points).sum();
    let regions_covered: Vec<Region> = reports.iter().map(|r| r.region).collect();
    Ok(Json(RefreshResponse {
        status: if errors.is_empty() {
            "refreshed"
        } else {
            "partial"
        },
        message: format!(
            "Synced {synced_records} price records from {} regions",
            regions_covered.len()
        ),
        synced_records,
        regions_covered,
        errors,
        triggered_at,
        reports,
    }))
}
