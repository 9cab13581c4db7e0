//! `GET /api/v1/admin/actors` (operator API key): the actor tree as an operator sees it — each
//! actor's state, restarts, last error, mailbox length and messages handled — plus each region's
//! source, price age, health and fetch role, and the stream's subscribers and fan-out.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use wattline_actors::broadcast::BroadcastStats;
use wattline_actors::domain::{Region, Source};
use wattline_actors::fetcher::FetcherState;
use wattline_actors::workers::WorkerSnapshot;

use crate::error::ApiError;
use crate::http::api_key::require_scope;
use crate::http::extract::AppQuery;
use crate::http::state::AppState;
use crate::storage::jobs::JobRow;

/// Routes under `/api/v1/admin`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_actors))
        .routes(routes!(list_failed_jobs))
        .routes(routes!(retry_job))
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
    /// Each outbox worker: jobs queued, running, done, retried, failed (this node since start),
    /// parked, and the age of the oldest queued job.
    #[schema(value_type = Vec<Object>)]
    workers: Vec<WorkerSnapshot>,
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
    let workers = match state.workers() {
        Some(workers) => workers.children().await?,
        None => Vec::new(),
    };
    actors.extend(
        children
            .into_iter()
            .chain([writer])
            .chain(workers)
            .map(|c| ActorView {
                name: c.name,
                kind: c.kind,
                state: c.state.to_string(),
                restarts: c.restarts,
                last_error: c.last_error,
                mailbox_length: c.mailbox_length,
                messages_handled: c.messages_handled,
            }),
    );
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
        workers: state
            .workers()
            .map(|w| w.snapshots(now))
            .unwrap_or_default(),
    }))
}

/// Which parked jobs.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct FailedJobsQuery {
    /// Only this queue (`email`, `webhooks`).
    #[param(max_length = 50)]
    queue: Option<String>,
    /// At most this many, most recently failed first, 1–500 (default 100).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u32>,
}

/// Parked jobs.
#[derive(Debug, Serialize, ToSchema)]
pub struct FailedJobsResponse {
    #[schema(value_type = Vec<Object>)]
    jobs: Vec<JobRow>,
    total: usize,
}

/// Jobs parked as failed after their last attempt, with their last error (admin scope).
#[utoipa::path(get, path = "/jobs", params(FailedJobsQuery), tag = "admin", security(("api_key" = []), ("bearer" = [])),
    responses((status = 200, body = FailedJobsResponse), (status = 400, body = crate::http::dto::ErrorResponse),
              (status = 401, body = crate::http::dto::ErrorResponse), (status = 403, body = crate::http::dto::ErrorResponse)))]
pub async fn list_failed_jobs(
    State(state): State<AppState>,
    headers: HeaderMap,
    AppQuery(query): AppQuery<FailedJobsQuery>,
) -> Result<Json<FailedJobsResponse>, ApiError> {
    require_scope(&state, &headers, "admin").await?;
    if query.queue.as_ref().is_some_and(|q| q.len() > 50) {
        return Err(ApiError::InvalidParameter {
            name: "queue",
            message: "at most 50 characters".into(),
        });
    }
    let limit = query.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::InvalidParameter {
            name: "limit",
            message: "must be 1 to 500".into(),
        });
    }
    let jobs = state
        .storage()
        .failed_jobs(query.queue.as_deref(), limit)
        .await?;
    Ok(Json(FailedJobsResponse {
        total: jobs.len(),
        jobs,
    }))
}

/// A job queued again.
#[derive(Debug, Serialize, ToSchema)]
pub struct RetriedJob {
    id: String,
    status: &'static str,
}

/// Queues a parked job again with a fresh set of attempts (admin scope).
#[utoipa::path(post, path = "/jobs/{id}/retry", params(("id" = String, Path)), tag = "admin",
    security(("api_key" = []), ("bearer" = [])),
    responses((status = 200, body = RetriedJob), (status = 401, body = crate::http::dto::ErrorResponse),
              (status = 403, body = crate::http::dto::ErrorResponse), (status = 404, body = crate::http::dto::ErrorResponse)))]
pub async fn retry_job(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<RetriedJob>, ApiError> {
    require_scope(&state, &headers, "admin").await?;
    if !state.storage().retry_failed_job(&id, state.now()).await? {
        return Err(ApiError::JobNotFound(id));
    }
    Ok(Json(RetriedJob {
        id,
        status: "queued",
    }))
}
