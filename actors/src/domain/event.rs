//! Live events as the cluster exchanges them: what they are about, the payload of a `price`
//! event, and an event before and after the fan-out gave it its id.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::{PricePoint, Region};

/// What an event is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// New or changed prices landed.
    Price,
    /// A region's forecast was recalibrated.
    Forecast,
}

impl EventKind {
    /// The SSE `event:` name.
    pub fn name(self) -> &'static str {
        match self {
            EventKind::Price => "price",
            EventKind::Forecast => "forecast",
        }
    }
}

/// The JSON payload of a `price` event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PricePayload {
    pub region: Region,
    /// When the producing node committed these prices, on the engine's clock (which a replay or
    /// demo may run faster than real time).
    pub produced_at: Timestamp,
    /// The real wall-clock time of the same moment, for measuring delivery latency.
    pub emitted_at: Timestamp,
    /// The new or changed points, by start.
    pub points: Vec<PricePoint>,
    /// The older stream's keys, describing the first point.
    #[serde(flatten, default)]
    pub older: OlderPriceKeys,
}

/// The keys the older stream's clients read from every event: a price's start, its price per
/// kWh (a decimal string), its currency and whether it falls in the evening peak (16:00–19:00
/// local).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OlderPriceKeys {
    #[serde(default)]
    pub timestamp: Option<Timestamp>,
    #[serde(default)]
    pub price_per_kwh: Option<rust_decimal::Decimal>,
    #[serde(default)]
    pub currency: Option<super::Currency>,
    #[serde(default)]
    pub is_peak: Option<bool>,
}

impl OlderPriceKeys {
    /// The keys of `point` (none without one).
    pub fn of(region: Region, point: Option<&PricePoint>) -> Self {
        let Some(p) = point else {
            return OlderPriceKeys::default();
        };
        OlderPriceKeys {
            timestamp: Some(p.start),
            price_per_kwh: Some(
                (p.price / rust_decimal::Decimal::from(p.unit.kwh() as i64)).normalize(),
            ),
            currency: Some(p.currency),
            is_peak: Some(super::peak::in_evening_peak(region, p.start)),
        }
    }
}

impl PricePayload {
    /// The payload of `points`, with the older keys filled from the first point.
    pub fn new(
        region: Region,
        produced_at: Timestamp,
        emitted_at: Timestamp,
        points: Vec<PricePoint>,
    ) -> Self {
        PricePayload {
            region,
            produced_at,
            emitted_at,
            older: OlderPriceKeys::of(region, points.first()),
            points,
        }
    }
}

/// An event on its way into the fan-out, before it has an id.
#[derive(Debug, Clone, PartialEq)]
pub struct OutgoingEvent {
    pub region: Region,
    pub kind: EventKind,
    /// The node that produced it.
    pub origin: String,
    /// Serialized [`PricePayload`].
    pub payload: String,
    /// The newest id the publisher has seen: the fan-out must assign a larger one, so ids stay
    /// increasing even after events were delivered locally while the fan-out was down.
    pub after_id: u64,
}

/// An event with its id, as the fan-out delivers it to every node.
#[derive(Debug, Clone, PartialEq)]
pub struct IncomingEvent {
    /// Cluster-wide, strictly increasing: microseconds since the epoch of the id authority's
    /// clock, bumped past the previous id when needed.
    pub id: u64,
    pub region: Region,
    pub kind: EventKind,
    pub origin: String,
    pub payload: String,
}
