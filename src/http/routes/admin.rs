//! `GET /api/v1/admin/actors` (operator API key): the actor tree as an operator sees it — each
//! actor's state, restarts, last error, mailbox length and messages handled — plus each region's
//! source, price age, health and fetch role, and the stream's subscribers and fan-out.

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use wattline_actors::broadcast::BroadcastStats;
use wattline_actors::domain::{Region, Source};
use wattline_actors::fetcher::FetcherState;

use crate::error::ApiError;
use crate::http::api_key::require_scope;
use crate::http::state::AppState;

/// Routes under `/api/v1/admin`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_actors))
}

/// One actor.
#[derive(Debug, Serialize, ToSchema)]
pub struct ActorView {
    name: String,
    /// `supervisor`, `broadcaster`, `forecaster`, `writer`, `fetcher`, `bootstrap`, `weather` or
    /// `subscriber`.
    kind: &'static str,
    /// `starting`, `running`, `restarting`, `degraded`, `finished` or `stopped`; a fetcher's
    /// own states (`healthy`, `standby`) for fetchers.
    state: String,
    restarts: u64,
    last_error: Option<String>,
    mailbox_length: u64,
    messages_handled: u64,
}

/// One region.
#[derive(Debug, Serialize, ToSchema)]
pub struct RegionView {
    #[schema(value_type = String)]
    region: Region,
    /// Source of the last fetched day.
    #[schema(value_type = Option<String>)]
    source: Option<Source>,
    /// Configured sources in failover order.
    #[schema(value_type = Vec<String>)]
    sources: Vec<Source>,
    newest_price_age_seconds: Option<i64>,
    /// `healthy` or `degraded`.
    health: &'static str,
    /// Whether this node fetches the region (holds its lease).
    leader: bool,
}

/// The tree and the regions.
#[derive(Debug, Serialize, ToSchema)]
pub struct ActorsResponse {
    node_id: String,
    actors: Vec<ActorView>,
    regions: Vec<RegionView>,
    #[schema(value_type = Object)]
    stream: BroadcastStats,
}

/// Actor tree status (operator API key required).
#[utoipa::path(get, path = "/actors", tag = "admin", security(("api_key" = []), ("bearer" = [])),
    responses((status = 200, body = ActorsResponse), (status = 401, body = crate::http::dto::ErrorResponse), (status = 403, body = crate::http::dto::ErrorResponse),
              (status = 503, body = crate::http::dto::ErrorResponse)))]
pub async fn list_actors(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<ActorsResponse>, ApiError> {
    require_scope(&state, &headers, "admin").await?;
    let statuses = state.prices().status().await?;
    let stream = state.broadcast().stats().await?;
    let root = state.root();
    let mut actors = vec![ActorView {
        name: root.meter().name().to_string(),
        kind: "supervisor",
        state: "running".into(),
        restarts: 0,
        last_error: None,
        mailbox_length: root.meter().mailbox_length(),
        messages_handled: root.meter().messages_handled(),
    }];
    let children = root.children().await?;
    let writer = state.prices().writer_status().await?;
    actors.extend(children.into_iter().chain([writer]).map(|c| ActorView {
        name: c.name,
        kind: c.kind,
        state: c.state.to_string(),
        restarts: c.restarts,
        last_error: c.last_error,
        mailbox_length: c.mailbox_length,
        messages_handled: c.messages_handled,
    }));
    let now = state.now();
    let snapshot = state.latest().snapshot();
    let mut regions = Vec::with_capacity(statuses.len());
    for s in statuses {
        actors.push(ActorView {
            name: format!("fetcher:{}", s.region),
            kind: "fetcher",
            state: s.state.to_string(),
            restarts: s.restarts,
            last_error: s.last_error.clone(),
            mailbox_length: s.mailbox_length,
            messages_handled: s.messages_handled,
        });
        regions.push(RegionView {
            region: s.region,
            source: s.last_source,
            sources: state.preference().for_region(s.region).to_vec(),
            newest_price_age_seconds: snapshot
                .freshest(s.region)
                .map(|p| now.duration_since(p.fetched_at).as_secs()),
            health: if s.state == FetcherState::Degraded {
                "degraded"
            } else {
                "healthy"
            },
            leader: s.leader,
        });
    }
    Ok(Json(ActorsResponse {
        node_id: state.node_id().to_string(),
        actors,
        regions,
        stream,
    }))
}
