//! `GET /api/v1/prices/stream`: live prices over Server-Sent Events. A stream starts with a
//! `snapshot` (or, on reconnect with `Last-Event-ID`, the missed events; or `reset` + snapshot
//! when they are gone), then carries `price` events with increasing ids, heartbeat comments, and
//! ends with `lagged` (fell behind) or `shutdown`. Frames are pre-rendered bytes shared by all
//! subscribers; nothing here serialises per subscriber except the snapshot.

use std::collections::VecDeque;
use std::time::Duration;

use axum::Extension;
use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, Version, header};
use axum::response::Response;
use bytes::Bytes;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use wattline_actors::broadcast::{SubscribeRequest, Subscription};
use wattline_actors::domain::event::OlderPriceKeys;
use wattline_actors::domain::{Currency, EnergyUnit, PricePoint, Region};
use wattline_actors::writer::LatestSnapshot;

use crate::error::ApiError;
use crate::http::extract::AppQuery;
use crate::http::handoff::{Handoff, SseBody};
use crate::http::listener::ClientAddr;
use crate::http::params::bounded;
use crate::http::sse::{Guard, Origin, Subscriber, Wire};
use crate::http::state::AppState;

/// Metric: frames of `price` events written to subscribers.
pub const SSE_EVENTS_SENT_TOTAL: &str = "wattline_sse_events_sent_total";
/// Metric: subscribers dropped because they fell behind.
pub const SSE_LAGGED_TOTAL: &str = "wattline_sse_lagged_total";

/// The route under `/api/v1/prices`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(stream_prices))
}

/// Bounds of `interval`, the older API's: shorter would poll, longer would look dead.
const MIN_INTERVAL_SECS: u32 = 10;
const MAX_INTERVAL_SECS: u32 = 300;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct StreamQuery {
    /// One region or several, comma separated (e.g. `germany,france`).
    region: String,
    /// Send at most one batch of events per this many seconds (10–300, as the older API); events
    /// are kept, not dropped, and arrive together. Without it, events are sent as they happen.
    #[param(minimum = 10, maximum = 300)]
    interval: Option<u32>,
}

/// Live prices as Server-Sent Events (`snapshot`, `price`, `reset`, `lagged`, `shutdown`).
#[utoipa::path(get, path = "/stream", tag = "prices",
    params(StreamQuery, ("Last-Event-ID" = Option<String>, Header, description = "Resume after this event id")),
    responses(
        (status = 200, description = "An event stream", content_type = "text/event-stream"),
        (status = 400, body = crate::http::dto::ErrorResponse),
        (status = 429, body = crate::http::dto::ErrorResponse, description = "Too many streams from this address"),
        (status = 503, body = crate::http::dto::ErrorResponse, description = "The server has its maximum of streams")))]
pub async fn stream_prices(
    State(state): State<AppState>,
    ConnectInfo(client): ConnectInfo<ClientAddr>,
    version: Version,
    handoff: Option<Extension<Handoff>>,
    headers: HeaderMap,
    AppQuery(q): AppQuery<StreamQuery>,
) -> Result<Response, ApiError> {
    let regions = parse_regions(&state, &q.region)?;
    let throttle = q
        .interval
        .map(|s| bounded("interval", s, MIN_INTERVAL_SECS, MAX_INTERVAL_SECS))
        .transpose()?
        .map(|s| Duration::from_secs(u64::from(s)));
    let last_event_id = match headers.get("last-event-id") {
        None => None,
        Some(value) => Some(
            value
                .to_str()
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
                .ok_or(ApiError::InvalidLastEventId)?,
        ),
    };
    if *state.shutdown_signal().borrow() {
        return Err(ApiError::ShuttingDown);
    }
    let address = client.0.ip();
    let broadcast = state.broadcast().clone();
    let subscription = broadcast
        .subscribe(SubscribeRequest {
            regions: regions.clone(),
            last_event_id,
            address: Some(address),
        })
        .await?;
    let settings = &state.settings().stream;
    let mut initial = VecDeque::new();
    initial.push_back(Bytes::from(format!(
        "retry: {}\n\n",
        settings.retry.as_millis()
    )));
    let Subscription {
        generation,
        receiver,
        replay,
        outcome,
        last_id,
    } = subscription;
    let mut subscriber = Subscriber::new(
        initial,
        receiver,
        throttle,
        // From here on the guard owns the subscription slot, whatever happens to the stream.
        Guard {
            broadcast,
            address,
            generation,
        },
        Origin {
            state: state.clone(),
            regions,
        },
    );
    subscriber.begin(outcome, &replay, last_id);
    // hyper frames an HTTP/1.1 body of unknown length in chunks; HTTP/1.0 by closing.
    let wire = match version {
        Version::HTTP_09 | Version::HTTP_10 => Wire::Frames,
        _ => Wire::Chunks,
    };
    let body = Body::new(SseBody::new(subscriber, handoff.map(|h| h.0), wire));
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    Ok(response)
}

/// Distinct enabled regions from a comma-separated list (at most all 14).
fn parse_regions(state: &AppState, list: &str) -> Result<Vec<Region>, ApiError> {
    let parts: Vec<&str> = list.split(',').map(str::trim).collect();
    if parts.len() > Region::ALL.len() {
        return Err(ApiError::InvalidParameter {
            name: "region",
            message: format!("at most {} regions per stream", Region::ALL.len()),
        });
    }
    let mut regions = Vec::with_capacity(parts.len());
    for part in parts {
        let region = state.region(part)?;
        if !regions.contains(&region) {
            regions.push(region);
        }
    }
    Ok(regions)
}

#[derive(Serialize)]
struct SnapshotRegion<'a> {
    region: Region,
    currency: Currency,
    unit: Option<EnergyUnit>,
    time_zone: &'static str,
    /// The price in force now.
    current: Option<&'a PricePoint>,
    /// From the current interval to the end of the known horizon.
    prices: &'a [PricePoint],
}

#[derive(Serialize)]
struct Snapshot<'a> {
    generated_at: Timestamp,
    regions: Vec<SnapshotRegion<'a>>,
    /// The older stream's keys, for the first region's current price.
    region: Region,
    #[serde(flatten)]
    older: OlderPriceKeys,
}

/// The `snapshot` event's data: each region's current and upcoming prices.
pub fn snapshot_json(latest: &LatestSnapshot, regions: &[Region], now: Timestamp) -> String {
    let Some(&first) = regions.first() else {
        return "{}".into();
    };
    let older = OlderPriceKeys::of(first, latest.current(first, now));
    let regions = regions
        .iter()
        .map(|&region| {
            let prices = latest.upcoming(region, now, usize::MAX);
            SnapshotRegion {
                region,
                currency: region.currency(),
                unit: prices.first().map(|p| p.unit),
                time_zone: region.time_zone_name(),
                current: latest.current(region, now),
                prices,
            }
        })
        .collect();
    serde_json::to_string(&Snapshot {
        generated_at: now,
        regions,
        region: first,
        older,
    })
    .unwrap_or_else(|_| "{}".into())
}
