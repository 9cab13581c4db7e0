//! `GET /`: what this server is and where to go next.

use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::http::state::AppState;

/// The root route.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_root))
}

/// Name, version and links.
#[derive(Debug, Serialize, ToSchema)]
pub struct RootResponse {
    name: &'static str,
    version: &'static str,
    description: &'static str,
    #[schema(value_type = Object)]
    links: serde_json::Value,
}

/// Service information and links to the main endpoints.
#[utoipa::path(get, path = "/", tag = "meta", responses((status = 200, body = RootResponse)))]
pub async fn get_root() -> Json<RootResponse> {
    Json(RootResponse {
        name: "Wattline",
        version: env!("CARGO_PKG_VERSION"),
        description: env!("CARGO_PKG_DESCRIPTION"),
        links: serde_json::json!({
            "health": "/health",
            "ready": "/health/ready",
            "metrics": "/metrics",
            "openapi": "/openapi.json",
            "current_price": "/api/v1/prices/current?region=germany",
            "price_history": "/api/v1/prices/history?region=germany&days=1",
            "optimal_windows": "/api/v1/prices/optimal-windows?region=germany&duration_hours=2",
        }),
    })
}
