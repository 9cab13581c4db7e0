//! Liveness, readiness (storage, the actor tree and each region's fetcher) and Prometheus
//! metrics.

use std::time::Instant;

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use jiff::Timestamp;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use wattline_actors::domain::{Region, Source};
use wattline_actors::fetcher::FetcherState;
use wattline_actors::supervision::ChildState;

use crate::http::state::AppState;
use crate::telemetry::{PRICE_HORIZON_SECONDS, PRICE_NEWEST_AGE_SECONDS};

/// Health and metrics routes (no prefix).
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_health))
        .routes(routes!(get_liveness))
        .routes(routes!(get_readiness))
        .routes(routes!(get_metrics))
}

/// Process health.
#[derive(Debug, Serialize, ToSchema)]
pub struct HealthResponse {
    status: &'static str,
    version: &'static str,
    uptime_seconds: f64,
    storage_backend: &'static str,
}

/// The process is up (no dependencies checked).
#[utoipa::path(get, path = "/health", tag = "health", responses((status = 200, body = HealthResponse)))]
pub async fn get_health(State(state): State<AppState>) -> Json<HealthResponse> {
    Json(HealthResponse {
        status: "healthy",
        version: env!("CARGO_PKG_VERSION"),
        uptime_seconds: (state.uptime().as_secs_f64() * 100.0).round() / 100.0,
        storage_backend: state.storage().backend(),
    })
}

/// Liveness answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct LiveResponse {
    status: &'static str,
}

/// Liveness probe.
#[utoipa::path(get, path = "/health/live", tag = "health", responses((status = 200, body = LiveResponse)))]
pub async fn get_liveness() -> Json<LiveResponse> {
    Json(LiveResponse { status: "alive" })
}

/// One dependency check.
#[derive(Debug, Serialize, ToSchema)]
pub struct Check {
    ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    backend: Option<&'static str>,
    latency_ms: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// Readiness checks.
#[derive(Debug, Serialize, ToSchema)]
pub struct Checks {
    storage: Check,
    actors: Check,
    /// Present when clustered. Redis down degrades the node (local delivery, no leases) but does
    /// not make it unready.
    #[serde(skip_serializing_if = "Option::is_none")]
    redis: Option<Check>,
}

/// One region as readiness reports it.
#[derive(Debug, Serialize, ToSchema)]
pub struct RegionReadiness {
    #[schema(value_type = String)]
    region: Region,
    /// `starting`, `healthy`, `restarting`, `degraded` or `stopped`.
    #[schema(value_type = String)]
    state: FetcherState,
    /// The source of the last fetched day.
    #[schema(value_type = Option<String>)]
    source: Option<Source>,
    restarts: u64,
    last_error: Option<String>,
    /// Seconds since the newest cached price was fetched.
    newest_price_age_seconds: Option<i64>,
    /// End of the last known price.
    #[schema(value_type = Option<String>, format = DateTime)]
    horizon_end: Option<Timestamp>,
}

/// Readiness: ready when storage answers, the tree answers and no region is still starting.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReadinessResponse {
    /// `ready`, `degraded` (serving, but some actor or region spent its restart budget) or
    /// `not_ready`.
    status: &'static str,
    checks: Checks,
    /// Actors and regions that spent their restart budget (`fetcher:<region>` for regions).
    degraded: Vec<String>,
    regions: Vec<RegionReadiness>,
}

/// Readiness probe: 503 until storage and the actor tree answer and every region has finished
/// its first fetch and stored it. A degraded actor or region is reported (`status: degraded`)
/// but does not make the server unready: it keeps serving what it can.
#[utoipa::path(get, path = "/health/ready", tag = "health",
    responses((status = 200, body = ReadinessResponse), (status = 503, body = ReadinessResponse)))]
pub async fn get_readiness(State(state): State<AppState>) -> impl IntoResponse {
    let started = Instant::now();
    let storage_result = state.storage().ping().await;
    let storage = Check {
        ok: storage_result.is_ok(),
        backend: Some(state.storage().backend()),
        latency_ms: millis(started),
        error: storage_result.err().map(|e| e.to_string()),
    };
    let started = Instant::now();
    let statuses = state.prices().status().await;
    let children = state.root().children().await;
    let actors = Check {
        ok: statuses.is_ok() && children.is_ok(),
        backend: None,
        latency_ms: millis(started),
        error: statuses
            .as_ref()
            .err()
            .or(children.as_ref().err())
            .map(|e| e.to_string()),
    };
    let mut degraded: Vec<String> = children
        .unwrap_or_default()
        .into_iter()
        .filter(|c| c.state == ChildState::Degraded)
        .map(|c| c.name)
        .collect();
    let redis = state.redis().map(|client| {
        let connected = fred::prelude::ClientLike::is_connected(client);
        Check {
            ok: connected,
            backend: Some("redis"),
            latency_ms: 0.0,
            error: (!connected).then(|| "not connected; delivering events locally".to_string()),
        }
    });
    let now = state.now();
    let snapshot = state.latest().snapshot();
    let regions: Vec<RegionReadiness> = statuses
        .unwrap_or_default()
        .into_iter()
        .map(|s| RegionReadiness {
            region: s.region,
            state: s.state,
            source: s.last_source,
            restarts: s.restarts,
            last_error: s.last_error,
            newest_price_age_seconds: snapshot
                .freshest(s.region)
                .map(|p| now.duration_since(p.fetched_at).as_secs()),
            horizon_end: snapshot.series(s.region).last().map(|p| p.end()),
        })
        .collect();
    // Warm: every region finished its first fetch, and a healthy region's prices have reached
    // the cache (the writer commits shortly after the fetch).
    let warm = regions.iter().all(|r| match r.state {
        FetcherState::Starting => false,
        FetcherState::Healthy => r.horizon_end.is_some(),
        _ => true,
    });
    degraded.extend(
        regions
            .iter()
            .filter(|r| r.state == FetcherState::Degraded)
            .map(|r| format!("fetcher:{}", r.region)),
    );
    let ready = storage.ok && actors.ok && warm;
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = ReadinessResponse {
        status: match (ready, degraded.is_empty()) {
            (false, _) => "not_ready",
            (true, true) => "ready",
            (true, false) => "degraded",
        },
        degraded,
        checks: Checks {
            storage,
            actors,
            redis,
        },
        regions,
    };
    (status, Json(body))
}

fn millis(since: Instant) -> f64 {
    (since.elapsed().as_secs_f64() * 1e6).round() / 1e3
}

/// Prometheus text exposition of every metric, with the per-region price age refreshed.
#[utoipa::path(get, path = "/metrics", tag = "health",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain")))]
pub async fn get_metrics(State(state): State<AppState>) -> impl IntoResponse {
    let now = state.now();
    let snapshot = state.latest().snapshot();
    for region in state.enabled_regions() {
        if let Some(p) = snapshot.freshest(region) {
            metrics::gauge!(PRICE_NEWEST_AGE_SECONDS, "region" => region.code())
                .set(now.duration_since(p.fetched_at).as_secs_f64());
        }
        if let Some(last) = snapshot.series(region).last() {
            metrics::gauge!(PRICE_HORIZON_SECONDS, "region" => region.code())
                .set(last.end().duration_since(now).as_secs_f64());
        }
    }
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics().render(),
    )
}
