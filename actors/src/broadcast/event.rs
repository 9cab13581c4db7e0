//! Stream events: what the broadcaster fans out. The payload JSON is made once by the node that
//! produced the prices; each node frames it as SSE once; every subscriber writes the same bytes.

use std::fmt::Write as _;

use bytes::Bytes;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::domain::{PricePoint, Region};

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

/// An event ready to write to subscribers.
#[derive(Debug, Clone)]
pub struct StreamEvent {
    pub id: u64,
    pub region: Region,
    pub kind: EventKind,
    /// The complete SSE frame (`id:`, `event:`, `data:` lines and the blank line).
    pub frame: Bytes,
    /// The last frame of every stream, whatever its regions (the server is shutting down).
    pub terminal: bool,
    /// A heartbeat comment for every stream, whatever its regions.
    pub heartbeat: bool,
}

impl StreamEvent {
    /// Frames `event` for SSE.
    pub fn from_incoming(event: &IncomingEvent) -> Self {
        StreamEvent {
            id: event.id,
            region: event.region,
            kind: event.kind,
            frame: frame(Some(event.id), event.kind.name(), &event.payload),
            terminal: false,
            heartbeat: false,
        }
    }

    /// The heartbeat comment every stream gets from the broadcaster's one timer (no timer per
    /// subscriber).
    pub fn heartbeat() -> Self {
        StreamEvent {
            id: 0,
            region: Region::ALL[0],
            kind: EventKind::Price,
            frame: Bytes::from_static(b": heartbeat\n\n"),
            terminal: false,
            heartbeat: true,
        }
    }

    /// The `shutdown` event that ends every stream.
    pub fn shutdown() -> Self {
        StreamEvent {
            id: 0,
            region: Region::ALL[0],
            kind: EventKind::Price,
            frame: frame(None, "shutdown", r#"{"reason":"server shutting down"}"#),
            terminal: true,
            heartbeat: false,
        }
    }
}

/// An SSE frame. `data` must be one line (JSON without raw newlines, which serde_json never emits).
pub fn frame(id: Option<u64>, event: &str, data: &str) -> Bytes {
    let mut out = String::with_capacity(data.len() + 48);
    if let Some(id) = id {
        let _ = writeln!(out, "id: {id}");
    }
    let _ = write!(out, "event: {event}\ndata: {data}\n\n");
    Bytes::from(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_well_formed_sse() {
        let f = frame(Some(42), "price", "{\"a\":1}");
        assert_eq!(&f[..], b"id: 42\nevent: price\ndata: {\"a\":1}\n\n");
        assert_eq!(
            &frame(None, "reset", "{}")[..],
            b"event: reset\ndata: {}\n\n"
        );
    }
}
