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
    /// The same frame as one HTTP/1.1 chunk (`frame` is a slice of it): what a subscriber
    /// writes to a chunked response, without framing or copying anything of its own.
    pub chunk: Bytes,
}

impl StreamEvent {
    /// Frames `event` for SSE.
    pub fn from_incoming(event: &IncomingEvent) -> Self {
        StreamEvent::new(
            event.id,
            Scope::Region(event.region),
            &frame(Some(event.id), event.kind.name(), &event.payload),
        )
    }

    /// The heartbeat comment streams write on the broadcaster's one timer (no timer per
    /// subscriber) when they have been silent.
    pub fn heartbeat() -> Self {
        StreamEvent::new(0, Scope::Heartbeat, b": heartbeat\n\n")
    }

    /// The `shutdown` event that ends every stream.
    pub fn shutdown() -> Self {
        StreamEvent::new(
            0,
            Scope::Shutdown,
            &frame(None, "shutdown", r#"{"reason":"server shutting down"}"#),
        )
    }

    /// An event of `frame`, kept once: as its chunk, and the frame as a slice of that.
    pub fn new(id: u64, scope: Scope, frame: &[u8]) -> Self {
        let chunk = http_chunk(frame);
        let start = chunk.len() - frame.len() - 2;
        StreamEvent {
            id,
            scope,
            frame: chunk.slice(start..chunk.len() - 2),
            chunk,
        }
    }
}

/// `data` as one HTTP/1.1 chunk: size line, data, CRLF (empty for empty data, which as a chunk
/// would end the body).
pub fn http_chunk(data: &[u8]) -> Bytes {
    if data.is_empty() {
        return Bytes::new();
    }
    let mut chunk = Vec::with_capacity(data.len() + 12);
    chunk.extend_from_slice(format!("{:x}\r\n", data.len()).as_bytes());
    chunk.extend_from_slice(data);
    chunk.extend_from_slice(b"\r\n");
    Bytes::from(chunk)
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

    #[test]
    fn an_event_carries_its_frame_inside_its_chunk() {
        let event = StreamEvent::shutdown();
        let frame = frame(None, "shutdown", r#"{"reason":"server shutting down"}"#);
        assert_eq!(event.frame, frame);
        let size = format!("{:x}\r\n", frame.len());
        assert_eq!(event.chunk, [size.as_bytes(), &frame, b"\r\n"].concat());
        assert_eq!(
            event.frame.as_ptr(),
            event.chunk[size.len()..].as_ptr(),
            "one allocation"
        );
        assert_eq!(
            &http_chunk(b": heartbeat\n\n")[..],
            b"d\r\n: heartbeat\n\n\r\n"
        );
        assert!(http_chunk(b"").is_empty());
    }
}
