//! Stream events: what the broadcaster fans out. The payload JSON is made once by the node that
//! produced the prices; each node frames it as SSE once; every subscriber writes the same bytes.

use std::fmt::Write as _;

use bytes::Bytes;

use crate::domain::Region;
pub use crate::domain::event::{EventKind, IncomingEvent, OutgoingEvent, PricePayload};

/// Which streams an event is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Streams of this region.
    Region(Region),
    /// Every stream: a heartbeat tick (a stream silent since the previous tick writes the
    /// comment).
    Heartbeat,
    /// Every stream, as its last frame: the server is shutting down.
    Shutdown,
}

/// An event ready to write to subscribers.
#[derive(Debug, Clone)]
pub struct StreamEvent {
    /// The event id (0 for heartbeats and the shutdown frame, which carry none).
    pub id: u64,
    pub scope: Scope,
    /// The complete SSE frame (`id:`, `event:`, `data:` lines and the blank line).
    pub frame: Bytes,
}

impl StreamEvent {
    /// Frames `event` for SSE.
    pub fn from_incoming(event: &IncomingEvent) -> Self {
        StreamEvent {
            id: event.id,
            scope: Scope::Region(event.region),
            frame: frame(Some(event.id), event.kind.name(), &event.payload),
        }
    }

    /// The heartbeat comment streams write on the broadcaster's one timer (no timer per
    /// subscriber) when they have been silent.
    pub fn heartbeat() -> Self {
        StreamEvent {
            id: 0,
            scope: Scope::Heartbeat,
            frame: Bytes::from_static(
                b": heartbeat

",
            ),
        }
    }

    /// The `shutdown` event that ends every stream.
    pub fn shutdown() -> Self {
        StreamEvent {
            id: 0,
            scope: Scope::Shutdown,
            frame: frame(None, "shutdown", r#"{"reason":"server shutting down"}"#),
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
