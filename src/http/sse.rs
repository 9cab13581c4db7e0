//! One SSE subscription as a stream of chunks to write: the opening frames, then
//! every event of its regions as the broadcaster framed it (shared bytes, nothing serialised
//! per subscriber), held back and written together under `interval`, a heartbeat comment when it
//! has been silent for the heartbeat period, and ends with `lagged` or
//! `shutdown`. When the broadcaster is restarted it subscribes again, resuming after the last
//! event it wrote (or `reset` and a fresh snapshot). Written by the connection task straight to
//! the socket once the head is out ([`super::handoff`]).

use std::collections::VecDeque;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use tokio::sync::broadcast;
use tokio::time::{Instant, Sleep};
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;
use wattline_actors::broadcast::event::{frame, http_chunk};
use wattline_actors::broadcast::{
    BroadcastHandle, ResumeOutcome, Scope, StreamError, StreamEvent, SubscribeRequest, Subscription,
};
use wattline_actors::domain::Region;

use crate::http::routes::stream::{SSE_EVENTS_SENT_TOTAL, SSE_LAGGED_TOTAL, snapshot_json};
use crate::http::state::AppState;

/// Attempts (200 ms apart) to reach a restarted broadcaster before the stream gives up.
const RESUBSCRIBE_ATTEMPTS: u32 = 50;

/// Releases the subscription slot when the stream ends or the client goes away.
pub struct Guard {
    pub broadcast: BroadcastHandle,
    pub address: IpAddr,
    /// The broadcaster incarnation that holds the slot.
    pub generation: u64,
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.broadcast
            .unsubscribe(Some(self.address), self.generation);
    }
}

/// What a stream needs to subscribe again after its broadcaster was restarted.
pub struct Origin {
    pub state: AppState,
    pub regions: Vec<Region>,
}

/// When a stream writes a heartbeat comment: only after a whole heartbeat period of silence.
/// The broadcaster ticks twice per period; a stream writes the comment on a tick only when it
/// wrote nothing since the tick before, so no stream is silent for longer than the period, and a
/// stream that carries events writes no comments at all (under load, one write per subscriber
/// and period fewer).
#[derive(Debug, Default)]
struct Keepalive {
    wrote_since_tick: bool,
}

impl Keepalive {
    /// Something (an event, a comment) was written.
    fn wrote(&mut self) {
        self.wrote_since_tick = true;
    }

    /// A tick: whether it writes the comment.
    fn on_tick(&mut self) -> bool {
        !std::mem::take(&mut self.wrote_since_tick)
    }
}

/// How a stream's chunks go on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wire {
    /// SSE frames as they are: hyper frames the body, or an HTTP/1.0 body ends by closing.
    Frames,
    /// Each chunk a complete HTTP/1.1 chunk, written straight to the socket.
    Chunks,
}

impl Wire {
    /// What `event` is on this wire: bytes the broadcaster made once for every subscriber.
    fn of(self, event: &StreamEvent) -> Bytes {
        match self {
            Wire::Frames => event.frame.clone(),
            Wire::Chunks => event.chunk.clone(),
        }
    }

    /// Frames of this stream alone (the opening, held-back and last ones) for this wire.
    fn encode(self, frames: Bytes) -> Bytes {
        match self {
            Wire::Frames => frames,
            Wire::Chunks => http_chunk(&frames),
        }
    }
}

type Resubscribing = Pin<Box<dyn Future<Output = Option<Subscription>> + Send>>;

/// Where the subscription is.
enum Phase {
    Live,
    /// The broadcaster's incarnation ended without a `shutdown` event: subscribing again.
    Resubscribing(Resubscribing),
    Done,
}

/// One subscriber's stream.
pub struct Subscriber {
    initial: VecDeque<Bytes>,
    events: BroadcastStream<Arc<StreamEvent>>,
    regions: [bool; Region::ALL.len()],
    throttle: Option<Duration>,
    next_send: Instant,
    /// Frames held back by `interval`, and the timer that releases them.
    pending: Vec<Bytes>,
    flush: Option<Pin<Box<Sleep>>>,
    keepalive: Keepalive,
    wire: Wire,
    phase: Phase,
    /// Id of the newest event written (where a resume starts).
    last_id: u64,
    sent: metrics::Counter,
    /// Frames written and not yet added to `sent`: the shared counter is updated at each
    /// heartbeat and at the end, not once per frame and subscriber.
    unsent: u64,
    guard: Guard,
    origin: Origin,
}

impl Subscriber {
    /// A subscription starting with `initial` frames, then the events of `receiver`.
    pub fn new(
        initial: VecDeque<Bytes>,
        receiver: broadcast::Receiver<Arc<StreamEvent>>,
        throttle: Option<Duration>,
        guard: Guard,
        origin: Origin,
    ) -> Self {
        let mut regions = [false; Region::ALL.len()];
        for r in &origin.regions {
            regions[r.index()] = true;
        }
        Subscriber {
            initial,
            events: BroadcastStream::new(receiver),
            regions,
            throttle,
            next_send: Instant::now(),
            pending: Vec::new(),
            flush: None,
            keepalive: Keepalive::default(),
            wire: Wire::Frames,
            phase: Phase::Live,
            last_id: 0,
            sent: metrics::counter!(SSE_EVENTS_SENT_TOTAL),
            unsent: 0,
            guard,
            origin,
        }
    }

    /// Sets how the chunks go on the wire (frames until then).
    pub fn set_wire(&mut self, wire: Wire) {
        self.wire = wire;
    }

    pub fn wire(&self) -> Wire {
        self.wire
    }

    /// Queues what a (re)started subscription begins with: the missed events, or a snapshot
    /// (after a `reset` when the missed events are gone).
    pub fn begin(&mut self, outcome: ResumeOutcome, replay: &[Arc<StreamEvent>], last_id: u64) {
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

    /// Subscribes to the restarted broadcaster, resuming after the last event written; `None`
    /// when the server is shutting down or the broadcaster does not come back.
    fn resubscribe(&self) -> Resubscribing {
        let state = self.origin.state.clone();
        let request = SubscribeRequest {
            regions: self.origin.regions.clone(),
            last_event_id: (self.last_id > 0).then_some(self.last_id),
            address: Some(self.guard.address),
        };
        Box::pin(async move {
            for _ in 0..RESUBSCRIBE_ATTEMPTS {
                if *state.shutdown_signal().borrow() {
                    return None;
                }
                match state.broadcast().subscribe(request.clone()).await {
                    Ok(subscription) => return Some(subscription),
                    Err(StreamError::Call(_)) => {
                        tokio::time::sleep(Duration::from_millis(200)).await
                    }
                    Err(StreamError::Refused(_)) => return None,
                }
            }
            None
        })
    }

    /// What one received event means for the stream: a chunk to write now, or nothing yet.
    fn on_event(&mut self, event: &StreamEvent) -> Option<Bytes> {
        match event.scope {
            Scope::Shutdown => return Some(self.finish(event.frame.clone())),
            Scope::Heartbeat => {
                // Also the moment the frames written are counted.
                self.sent.increment(std::mem::take(&mut self.unsent));
                return self.keepalive.on_tick().then(|| self.wire.of(event));
            }
            Scope::Region(region) if !self.regions[region.index()] => return None,
            Scope::Region(_) => {}
        }
        self.unsent += 1;
        self.last_id = self.last_id.max(event.id);
        match self.throttle {
            None => Some(self.wire.of(event)),
            Some(period) if self.pending.is_empty() && Instant::now() >= self.next_send => {
                self.next_send = Instant::now() + period;
                Some(self.wire.of(event))
            }
            Some(_) => {
                if self.pending.is_empty() {
                    self.flush = Some(Box::pin(tokio::time::sleep_until(self.next_send)));
                }
                self.pending.push(event.frame.clone());
                None
            }
        }
    }

    /// The held-back frames, together, with their timer stopped.
    fn take_pending(&mut self) -> Vec<u8> {
        self.flush = None;
        let frames = self.pending.concat();
        self.pending.clear();
        frames
    }

    /// Writes every held-back frame as one chunk and starts the next throttle period.
    fn release(&mut self) -> Bytes {
        let frames = self.take_pending();
        self.next_send = Instant::now() + self.throttle.unwrap_or_default();
        self.wire.encode(Bytes::from(frames))
    }

    /// The last chunk (with any held-back frames before `last`): after it the stream ends.
    fn finish(&mut self, last: Bytes) -> Bytes {
        self.phase = Phase::Done;
        let mut frames = self.take_pending();
        frames.extend_from_slice(&last);
        self.wire.encode(Bytes::from(frames))
    }

    /// The next chunk to write, `None` at the end.
    fn poll_chunk(&mut self, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        loop {
            if let Some(first) = self.initial.pop_front() {
                return Poll::Ready(Some(self.wire.encode(first)));
            }
            match &mut self.phase {
                Phase::Done => return Poll::Ready(None),
                Phase::Resubscribing(subscribing) => match ready!(subscribing.as_mut().poll(cx)) {
                    Some(subscription) => {
                        self.guard.generation = subscription.generation;
                        self.events = BroadcastStream::new(subscription.receiver);
                        self.phase = Phase::Live;
                        self.begin(
                            subscription.outcome,
                            &subscription.replay,
                            subscription.last_id,
                        );
                        continue;
                    }
                    None => {
                        let last = frame(None, "shutdown", r#"{"reason":"server shutting down"}"#);
                        return Poll::Ready(Some(self.finish(last)));
                    }
                },
                Phase::Live => {}
            }
            if let Some(flush) = &mut self.flush
                && flush.as_mut().poll(cx).is_ready()
            {
                return Poll::Ready(Some(self.release()));
            }
            match ready!(self.events.poll_next_unpin(cx)) {
                Some(Ok(event)) => {
                    if let Some(chunk) = self.on_event(&event) {
                        return Poll::Ready(Some(chunk));
                    }
                }
                Some(Err(BroadcastStreamRecvError::Lagged(missed))) => {
                    metrics::counter!(SSE_LAGGED_TOTAL).increment(1);
                    let data =
                        format!(r#"{{"reason":"fell behind the stream","missed":{missed}}}"#);
                    return Poll::Ready(Some(self.finish(frame(None, "lagged", &data))));
                }
                None => self.phase = Phase::Resubscribing(self.resubscribe()),
            }
        }
    }
}

impl futures_util::Stream for Subscriber {
    type Item = Bytes;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        let this = self.get_mut();
        let chunk = ready!(this.poll_chunk(cx));
        if chunk.is_some() {
            this.keepalive.wrote();
        }
        Poll::Ready(chunk)
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        self.sent.increment(self.unsent);
    }
}

#[cfg(test)]
mod tests {
    use super::Keepalive;

    #[test]
    fn a_silent_stream_gets_a_comment_every_second_tick() {
        let mut keepalive = Keepalive::default();
        let mut written = Vec::new();
        for _ in 0..6 {
            let comment = keepalive.on_tick();
            if comment {
                keepalive.wrote();
            }
            written.push(comment);
        }
        assert_eq!(written, [true, false, true, false, true, false]);
    }

    #[test]
    fn a_stream_that_writes_between_ticks_gets_no_comment() {
        let mut keepalive = Keepalive::default();
        for _ in 0..5 {
            keepalive.wrote();
            assert!(!keepalive.on_tick());
        }
        // Silent from here: the tick after the one that followed the last write has the
        // comment, so a silence never lasts longer than two ticks (one heartbeat period).
        assert!(keepalive.on_tick());
    }
}
