//! `GET /api/v1/prices/stream`: live prices over Server-Sent Events. A stream starts with a
//! `snapshot` (or, on reconnect with `Last-Event-ID`, the missed events; or `reset` + snapshot
//! when they are gone), then carries `price` events with increasing ids, heartbeat comments, and
//! ends with `lagged` (fell behind) or `shutdown`. Frames are pre-rendered bytes shared by all
//! subscribers; nothing here serialises per subscriber except the snapshot.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::Response;
use bytes::Bytes;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::RecvError;
use tokio::time::Instant;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use wattline_actors::broadcast::event::frame;
use wattline_actors::broadcast::{
    BroadcastHandle, ResumeOutcome, StreamError, StreamEvent, SubscribeRequest, Subscription,
};
use wattline_actors::domain::{Currency, EnergyUnit, PricePoint, Region};
use wattline_actors::writer::LatestSnapshot;

use crate::error::ApiError;
use crate::http::extract::AppQuery;
use crate::http::listener::ClientAddr;
use crate::http::params::bounded;
use crate::http::state::AppState;

/// Metric: frames of `price` events written to subscribers.
pub const SSE_EVENTS_SENT_TOTAL: &str = "wattline_sse_events_sent_total";
/// Metric: subscribers dropped because they fell behind.
pub const SSE_LAGGED_TOTAL: &str = "wattline_sse_lagged_total";

/// The route under `/api/v1/prices`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(stream_prices))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct StreamQuery {
    /// One region or several, comma separated (e.g. `germany,france`).
    region: String,
    /// Send at most one batch of events per this many seconds (1–3600); events are kept, not
    /// dropped, and arrive together.
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
    headers: HeaderMap,
    AppQuery(q): AppQuery<StreamQuery>,
) -> Result<Response, ApiError> {
    let regions = parse_regions(&state, &q.region)?;
    let throttle = q
        .interval
        .map(|s| bounded("interval", s, 1, 3600))
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
    let mut stream = Subscriber {
        initial,
        receiver,
        regions: region_set(&regions),
        throttle,
        next_send: Instant::now(),
        pending: Vec::new(),
        done: false,
        last_id: 0,
        sent: metrics::counter!(SSE_EVENTS_SENT_TOTAL),
        unsent: 0,
        // From here on the guard owns the subscription slot, whatever happens to the stream.
        guard: Guard {
            broadcast,
            address,
            generation,
        },
        origin: Origin {
            state: state.clone(),
            regions,
        },
    };
    stream.begin(outcome, &replay, last_id);
    let body = Body::from_stream(futures_util::stream::unfold(stream, Subscriber::next));
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

fn region_set(regions: &[Region]) -> [bool; Region::ALL.len()] {
    let mut set = [false; Region::ALL.len()];
    for r in regions {
        set[r.index()] = true;
    }
    set
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
}

/// The `snapshot` event's data: each region's current and upcoming prices.
pub fn snapshot_json(latest: &LatestSnapshot, regions: &[Region], now: Timestamp) -> String {
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
    })
    .unwrap_or_else(|_| "{}".into())
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        self.sent.increment(self.unsent);
    }
}

/// Releases the subscription slot when the stream ends or the client goes away.
struct Guard {
    broadcast: BroadcastHandle,
    address: IpAddr,
    /// The broadcaster incarnation that holds the slot.
    generation: u64,
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.broadcast
            .unsubscribe(Some(self.address), self.generation);
    }
}

/// What a stream needs to subscribe again after its broadcaster was restarted.
struct Origin {
    state: AppState,
    regions: Vec<Region>,
}

/// Attempts (200 ms apart) to reach a restarted broadcaster before the stream gives up.
const RESUBSCRIBE_ATTEMPTS: u32 = 50;

/// One subscriber's stream state.
struct Subscriber {
    initial: VecDeque<Bytes>,
    receiver: broadcast::Receiver<Arc<StreamEvent>>,
    regions: [bool; Region::ALL.len()],
    throttle: Option<Duration>,
    next_send: Instant,
    pending: Vec<Bytes>,
    done: bool,
    /// Id of the newest event written (where a resume starts).
    last_id: u64,
    sent: metrics::Counter,
    /// Frames written and not yet added to `sent`: the shared counter is updated at each
    /// heartbeat and at the end, not once per frame and subscriber.
    unsent: u64,
    guard: Guard,
    origin: Origin,
}

type Item = Result<Bytes, Infallible>;

/// What one received event means for the stream.
enum Received {
    /// Write this now.
    Write(Bytes),
    /// Nothing to write yet (another region's event, or held back by the interval).
    Nothing,
    /// The broadcaster's incarnation ended without a `shutdown` event: it is being restarted.
    Orphaned,
}

impl Subscriber {
    /// Queues what a (re)started subscription begins with: the missed events, or a snapshot
    /// (after a `reset` when the missed events are gone).
    fn begin(&mut self, outcome: ResumeOutcome, replay: &[Arc<StreamEvent>], last_id: u64) {
        match outcome {
            ResumeOutcome::Resumed => {
                for event in replay {
                    self.last_id = self.last_id.max(event.id);
                    self.initial.push_back(event.frame.clone());
                }
            }
            outcome => {
                if outcome == ResumeOutcome::Reset {
                    self.initial.push_back(frame(
                        None,
                        "reset",
                        r#"{"reason":"missed events are no longer available"}"#,
                    ));
                }
                let state = &self.origin.state;
                let snapshot = snapshot_json(
                    &state.latest().snapshot(),
                    &self.origin.regions,
                    state.now(),
                );
                self.last_id = last_id;
                let id = (last_id > 0).then_some(last_id);
                self.initial.push_back(frame(id, "snapshot", &snapshot));
            }
        }
    }

    /// Subscribes to the restarted broadcaster, resuming after the last event written; `false`
    /// when the server is shutting down or the broadcaster does not come back.
    async fn resubscribe(&mut self) -> bool {
        let state = self.origin.state.clone();
        for _ in 0..RESUBSCRIBE_ATTEMPTS {
            if *state.shutdown_signal().borrow() {
                return false;
            }
            let request = SubscribeRequest {
                regions: self.origin.regions.clone(),
                last_event_id: (self.last_id > 0).then_some(self.last_id),
                address: Some(self.guard.address),
            };
            match state.broadcast().subscribe(request).await {
                Ok(subscription) => {
                    self.guard.generation = subscription.generation;
                    self.receiver = subscription.receiver;
                    self.begin(
                        subscription.outcome,
                        &subscription.replay,
                        subscription.last_id,
                    );
                    return true;
                }
                Err(StreamError::Call(_)) => tokio::time::sleep(Duration::from_millis(200)).await,
                Err(StreamError::Refused(_)) => return false,
            }
        }
        false
    }

    async fn next(mut self) -> Option<(Item, Self)> {
        if self.done {
            return None;
        }
        if let Some(first) = self.initial.pop_front() {
            return Some((Ok(first), self));
        }
        let chunk = self.wait().await;
        Some((Ok(chunk), self))
    }

    /// Waits for the next chunk to write. Per subscriber this polls only its broadcast receiver
    /// (heartbeats come through it too, from the broadcaster's one timer), plus a flush timer
    /// while events are held back: with thousands of subscribers, every timer and shared waker
    /// list on the hot path costs.
    async fn wait(&mut self) -> Bytes {
        loop {
            let received = if self.pending.is_empty() {
                self.receiver.recv().await
            } else {
                tokio::select! {
                    biased;
                    _ = tokio::time::sleep_until(self.next_send) => return self.flush(),
                    received = self.receiver.recv() => received,
                }
            };
            match self.on_received(received) {
                Received::Write(chunk) => return chunk,
                Received::Nothing => {}
                Received::Orphaned => {
                    if self.resubscribe().await
                        && let Some(first) = self.initial.pop_front()
                    {
                        return first;
                    }
                    return self.finish(frame(
                        None,
                        "shutdown",
                        r#"{"reason":"server shutting down"}"#,
                    ));
                }
            }
        }
    }

    fn on_received(&mut self, received: Result<Arc<StreamEvent>, RecvError>) -> Received {
        match received {
            Ok(event) if event.terminal => Received::Write(self.finish(event.frame.clone())),
            Ok(event) if event.heartbeat => {
                // Also the moment the frames written are counted.
                self.sent.increment(std::mem::take(&mut self.unsent));
                Received::Write(event.frame.clone())
            }
            Ok(event) if self.regions[event.region.index()] => {
                self.unsent += 1;
                self.last_id = self.last_id.max(event.id);
                match self.throttle {
                    None => Received::Write(event.frame.clone()),
                    Some(period) if self.pending.is_empty() && Instant::now() >= self.next_send => {
                        self.next_send = Instant::now() + period;
                        Received::Write(event.frame.clone())
                    }
                    Some(_) => {
                        self.pending.push(event.frame.clone());
                        Received::Nothing
                    }
                }
            }
            Ok(_) => Received::Nothing,
            Err(RecvError::Lagged(missed)) => {
                metrics::counter!(SSE_LAGGED_TOTAL).increment(1);
                let data = format!(r#"{{"reason":"fell behind the stream","missed":{missed}}}"#);
                Received::Write(self.finish(frame(None, "lagged", &data)))
            }
            Err(RecvError::Closed) => Received::Orphaned,
        }
    }

    /// Writes every held-back frame as one chunk and starts the next throttle period.
    fn flush(&mut self) -> Bytes {
        let chunk: Vec<u8> = self.pending.drain(..).flat_map(|f| f.to_vec()).collect();
        self.next_send = Instant::now() + self.throttle.unwrap_or_default();
        Bytes::from(chunk)
    }

    /// The last chunk: after it the stream ends.
    fn finish(&mut self, last: Bytes) -> Bytes {
        self.done = true;
        if self.pending.is_empty() {
            return last;
        }
        let mut chunk = self.flush().to_vec();
        chunk.extend_from_slice(&last);
        Bytes::from(chunk)
    }
}
