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
