//! The Broadcaster: turns committed price batches into stream events and fans them out. Each
//! event is serialised once (payload by the producing node, SSE frame once per node) and handed
//! to every subscriber through one bounded `tokio::sync::broadcast` channel; a per-region replay
//! buffer serves `Last-Event-ID` resumes. With a fan-out (Redis) every event goes through it so
//! all nodes deliver the same events with the same ids; without one, ids are assigned here.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use serde::Serialize;
use tokio::sync::broadcast;

use super::buffer::ReplayBuffer;
use super::event::{EventKind, IncomingEvent, OutgoingEvent, PricePayload, StreamEvent};
use crate::domain::{PricePoint, Region};
use crate::mailbox::{Mailbox, Timer};
use crate::ports::{FanOut, SharedClock};
use crate::supervision::ActorMeter;

/// Metric: events published to subscribers, by region.
pub const SSE_EVENTS_PUBLISHED_TOTAL: &str = "wattline_sse_events_published_total";
/// Metric: connected stream subscribers.
pub const SSE_SUBSCRIBERS: &str = "wattline_sse_subscribers";
/// Metric: subscriptions that resumed from `Last-Event-ID`, by outcome (`resumed`, `reset`).
pub const SSE_RESUMES_TOTAL: &str = "wattline_sse_resumes_total";
/// Metric: time from an event's production on one node to its delivery on another.
pub const FANOUT_LAG_SECONDS: &str = "wattline_fanout_lag_seconds";
/// Metric: events delivered locally because the fan-out was unavailable.
pub const FANOUT_FALLBACK_TOTAL: &str = "wattline_fanout_fallback_total";
/// Metric: 1 while the fan-out accepts events, 0 while falling back to local delivery.
pub const FANOUT_UP: &str = "wattline_fanout_up";

/// Limits and buffer sizes.
#[derive(Debug, Clone)]
pub struct BroadcasterConfig {
    /// Events a subscriber may fall behind before it is dropped with a `lagged` event.
    pub channel_capacity: usize,
    /// Events kept per region for `Last-Event-ID` resume.
    pub replay_per_region: usize,
    /// Most subscribers on this node.
    pub max_subscribers: usize,
    /// Most subscribers from one client address.
    pub max_per_address: usize,
    /// Longest wait for the fan-out to take an event before delivering locally.
    pub publish_timeout: Duration,
    /// Time between heartbeat comments on every stream (zero: none).
    pub heartbeat: Duration,
}

impl Default for BroadcasterConfig {
    fn default() -> Self {
        BroadcasterConfig {
            channel_capacity: 1024,
            replay_per_region: 256,
            max_subscribers: 20_000,
            max_per_address: 100,
            publish_timeout: Duration::from_millis(500),
            heartbeat: Duration::from_secs(15),
        }
    }
}

/// Everything the broadcaster starts with (kept by its supervisor to restart it).
#[derive(Clone)]
pub(crate) struct BroadcasterArgs {
    /// This node's name in the cluster (events it produced carry it as origin).
    pub node_id: String,
    /// The cross-node bus; `None` on a single node.
    pub fanout: Option<Arc<dyn FanOut>>,
    pub clock: SharedClock,
    pub config: BroadcasterConfig,
    pub meter: ActorMeter,
    /// Where fan-out events go to be merged into the latest-price cache (the price side).
    pub prices: Option<PriceMerge>,
}

/// Hands a fan-out price event (and whether it came from another node, so it must be merged)
/// to the price side, which answers it back as [`BroadcasterMsg::Merged`] once cached. The
/// tree builds it, so the broadcaster does not depend on the price side's messages.
pub(crate) type PriceMerge = Arc<
    dyn Fn(IncomingEvent, bool, Mailbox<BroadcasterMsg>) -> Result<(), crate::mailbox::CallError>
        + Send
        + Sync,
>;

/// A new subscriber's request.
#[derive(Debug, Clone)]
pub struct SubscribeRequest {
    pub regions: Vec<Region>,
    /// The `Last-Event-ID` the client reconnected with.
    pub last_event_id: Option<u64>,
    /// Client address, for the per-address limit.
    pub address: Option<IpAddr>,
}

/// How a subscription starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ResumeOutcome {
    /// No `Last-Event-ID`: start with a snapshot.
    Fresh,
    /// Every missed event is in `replay`.
    Resumed,
    /// Some missed events are gone (or the id is unknown): send `reset` and a fresh snapshot.
    Reset,
}

/// A granted subscription.
#[derive(Debug)]
pub struct Subscription {
    /// The broadcaster incarnation that granted it; the receiver closes when that incarnation
    /// ends (the subscriber then subscribes again, resuming from its last id).
    pub generation: u64,
    pub receiver: broadcast::Receiver<Arc<StreamEvent>>,
    /// Missed events to send first, in id order (only for `Resumed`).
    pub replay: Vec<Arc<StreamEvent>>,
    pub outcome: ResumeOutcome,
    /// The newest event id at the moment of subscribing (the snapshot's id).
    pub last_id: u64,
}

/// Why a subscription was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubscribeError {
    #[error("the server has its maximum of {limit} stream subscribers")]
    ServerFull { limit: usize },
    #[error("this address has its maximum of {limit} stream subscribers")]
    AddressFull { limit: usize },
}

/// Counters for operators.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BroadcastStats {
    pub subscribers: usize,
    pub last_event_id: u64,
    pub fanout: bool,
    pub fanout_up: bool,
}

/// Messages the broadcaster takes.
pub(crate) enum BroadcasterMsg {
    /// The writer committed these new or changed points of one region.
    Committed {
        region: Region,
        points: Vec<PricePoint>,
    },
    /// The fan-out delivered an event (possibly this node's own).
    Deliver(IncomingEvent),
    /// The writer merged a fan-out event into the latest-price cache; deliver it now.
    Merged(IncomingEvent),
    Subscribe {
        request: SubscribeRequest,
        reply: RpcReplyPort<Result<Subscription, SubscribeError>>,
    },
    /// A subscriber disconnected.
    Unsubscribe {
        address: Option<IpAddr>,
        /// The incarnation it subscribed to; an older one's counts are already gone.
        generation: u64,
    },
    /// A new forecast of one region (serialised payload).
    Forecast {
        region: Region,
        payload: String,
    },
    Stats(RpcReplyPort<BroadcastStats>),
    /// End every stream with a final `shutdown` event.
    EndStreams,
    /// A heartbeat tick (two per heartbeat period): every stream silent since the previous tick
    /// writes a heartbeat comment.
    Heartbeat,
    /// Fail on purpose (tests of the supervision).
    #[cfg(any(test, feature = "testing"))]
    Crash,
}

/// The broadcaster actor.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Broadcaster;

/// Numbers broadcaster incarnations, so a subscription knows which one it belongs to.
static INCARNATIONS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// The broadcaster's own data.
pub(crate) struct BroadcasterState {
    args: BroadcasterArgs,
    mailbox: Mailbox<BroadcasterMsg>,
    sender: broadcast::Sender<Arc<StreamEvent>>,
    buffers: Vec<ReplayBuffer>,
    last_id: u64,
    subscribers: usize,
    per_address: HashMap<IpAddr, usize>,
    fanout_up: bool,
    generation: u64,
    heartbeat: Arc<StreamEvent>,
    _heartbeats: Option<Timer>,
}

impl Actor for Broadcaster {
    type Msg = BroadcasterMsg;
    type State = BroadcasterState;
    type Arguments = BroadcasterArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: Self::Arguments,
    ) -> Result<Self::State, ActorProcessingErr> {
        let (sender, _) = broadcast::channel(args.config.channel_capacity.max(1));
        let buffers = Region::ALL
            .iter()
            .map(|_| ReplayBuffer::new(args.config.replay_per_region))
            .collect();
        metrics::gauge!(SSE_SUBSCRIBERS).set(0.0);
        metrics::gauge!(FANOUT_UP).set(if args.fanout.is_some() { 1.0 } else { 0.0 });
        let mailbox = Mailbox::new(myself, args.meter.clone());
        // One timer for every stream's heartbeat, not one per subscriber. It ticks twice per
        // period so that a stream which writes the comment only after a silent tick is never
        // silent for longer than the period.
        let heartbeats = (!args.config.heartbeat.is_zero()).then(|| {
            mailbox.send_interval(args.config.heartbeat / 2, || BroadcasterMsg::Heartbeat)
        });
        Ok(BroadcasterState {
            mailbox,
            heartbeat: Arc::new(StreamEvent::heartbeat()),
            _heartbeats: heartbeats,
            fanout_up: args.fanout.is_some(),
            args,
            sender,
            buffers,
            last_id: 0,
            subscribers: 0,
            per_address: HashMap::new(),
            generation: INCARNATIONS.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        })
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        msg: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        state.args.meter.handled();
        match msg {
            BroadcasterMsg::Committed { region, points } => {
                state.on_committed(region, points).await
            }
            BroadcasterMsg::Forecast { region, payload } => {
                state.publish(region, EventKind::Forecast, payload).await
            }
            BroadcasterMsg::Deliver(event) => state.on_fanout_event(event),
            BroadcasterMsg::Merged(event) => state.deliver(event),
            BroadcasterMsg::Subscribe { request, reply } => {
                let _ = reply.send(state.subscribe(request));
            }
            BroadcasterMsg::Unsubscribe {
                address,
                generation,
            } => {
                if generation == state.generation {
                    state.unsubscribe(address)
                }
            }
            #[cfg(any(test, feature = "testing"))]
            BroadcasterMsg::Crash => panic!("broadcaster crash requested by a test"),
            BroadcasterMsg::EndStreams => {
                let _ = state.sender.send(Arc::new(StreamEvent::shutdown()));
            }
            BroadcasterMsg::Heartbeat => {
                // No receivers is fine: nobody is listening.
                let _ = state.sender.send(state.heartbeat.clone());
            }
            BroadcasterMsg::Stats(reply) => {
                let _ = reply.send(BroadcastStats {
                    subscribers: state.subscribers,
                    last_event_id: state.last_id,
                    fanout: state.args.fanout.is_some(),
                    fanout_up: state.fanout_up,
                });
            }
        }
        Ok(())
    }
}

impl BroadcasterState {
    async fn on_committed(&mut self, region: Region, points: Vec<PricePoint>) {
        if points.is_empty() {
            return;
        }
        let payload = PricePayload::new(region, self.args.clock.now(), Timestamp::now(), points);
        let Ok(payload) = serde_json::to_string(&payload) else {
            return;
        };
        self.publish(region, EventKind::Price, payload).await;
    }

    /// Publishes an event through the fan-out, or locally when there is none or it fails.
    async fn publish(&mut self, region: Region, kind: EventKind, payload: String) {
        let event = OutgoingEvent {
            region,
            kind,
            origin: self.args.node_id.clone(),
            payload,
            after_id: self.last_id,
        };
        if let Some(fanout) = self.args.fanout.clone() {
            // Awaited here, not spawned: publishing in handling order keeps each region's events
            // in order across the cluster. Bounded by the publish timeout.
            match tokio::time::timeout(self.args.config.publish_timeout, fanout.publish(&event))
                .await
            {
                Ok(Ok(id)) => {
                    tracing::debug!(%region, id, "Event published through the fan-out.");
                    self.set_fanout_up(true);
                    return;
                }
                Ok(Err(error)) => {
                    tracing::warn!(%error, %region, "Fan-out refused an event; delivering it locally.")
                }
                Err(_) => {
                    tracing::warn!(%region, "Fan-out timed out; delivering the event locally.")
                }
            }
            self.set_fanout_up(false);
            metrics::counter!(FANOUT_FALLBACK_TOTAL).increment(1);
        }
        let id = self.next_local_id();
        self.deliver(IncomingEvent {
            id,
            region: event.region,
            kind: event.kind,
            origin: event.origin,
            payload: event.payload,
        });
    }

    fn set_fanout_up(&mut self, up: bool) {
        if self.fanout_up != up {
            if up {
                tracing::info!("Fan-out is back; publishing through it again.");
            }
            self.fanout_up = up;
            metrics::gauge!(FANOUT_UP).set(if up { 1.0 } else { 0.0 });
        }
    }

    /// Local ids: microseconds of the real wall clock (not the engine clock, which a replay may
    /// accelerate), strictly after every id seen so far, so they stay increasing across restarts
    /// and interleave sensibly with fan-out ids.
    fn next_local_id(&mut self) -> u64 {
        let now = u64::try_from(Timestamp::now().as_microsecond()).unwrap_or(0);
        now.max(self.last_id + 1)
    }

    /// A fan-out event: route it through the writer (which merges other nodes' prices into the
    /// latest-price cache) so cache and stream stay in the same order; it comes back as `Merged`.
    fn on_fanout_event(&mut self, event: IncomingEvent) {
        if event.id <= self.buffers[event.region.index()].newest_id().unwrap_or(0) {
            return; // already delivered
        }
        if event.origin != self.args.node_id
            && let Ok(payload) = serde_json::from_str::<ProducedAt>(&event.payload)
        {
            let lag = Timestamp::now()
                .duration_since(payload.emitted_at)
                .as_secs_f64()
                .max(0.0);
            metrics::histogram!(FANOUT_LAG_SECONDS).record(lag);
        }
        match &self.args.prices {
            // Only prices go into the latest-price cache.
            Some(prices) if event.kind == EventKind::Price => {
                let merge = event.origin != self.args.node_id;
                let reply = self.mailbox.clone();
                if let Err(error) = prices(event.clone(), merge, reply) {
                    tracing::warn!(%error, "Price side unavailable; delivering the event without caching it.");
                    self.deliver(event);
                }
            }
            _ => self.deliver(event),
        }
    }

    fn deliver(&mut self, event: IncomingEvent) {
        let buffer = &mut self.buffers[event.region.index()];
        if event.id <= buffer.newest_id().unwrap_or(0) {
            return;
        }
        let stream_event = Arc::new(StreamEvent::from_incoming(&event));
        buffer.push(stream_event.clone());
        self.last_id = self.last_id.max(event.id);
        metrics::counter!(SSE_EVENTS_PUBLISHED_TOTAL, "region" => event.region.code()).increment(1);
        // No receivers is fine: nobody is listening.
        let _ = self.sender.send(stream_event);
    }

    fn subscribe(&mut self, request: SubscribeRequest) -> Result<Subscription, SubscribeError> {
        if self.subscribers >= self.args.config.max_subscribers {
            return Err(SubscribeError::ServerFull {
                limit: self.args.config.max_subscribers,
            });
        }
        if let Some(address) = request.address {
            let count = self.per_address.entry(address).or_default();
            if *count >= self.args.config.max_per_address {
                return Err(SubscribeError::AddressFull {
                    limit: self.args.config.max_per_address,
                });
            }
            *count += 1;
        }
        self.subscribers += 1;
        metrics::gauge!(SSE_SUBSCRIBERS).set(self.subscribers as f64);
        let receiver = self.sender.subscribe();
        let (outcome, replay) = match request.last_event_id {
            None => (ResumeOutcome::Fresh, Vec::new()),
            Some(last) => match self.replay_since(&request.regions, last) {
                Some(events) => (ResumeOutcome::Resumed, events),
                None => (ResumeOutcome::Reset, Vec::new()),
            },
        };
        if outcome != ResumeOutcome::Fresh {
            let label = if outcome == ResumeOutcome::Resumed {
                "resumed"
            } else {
                "reset"
            };
            metrics::counter!(SSE_RESUMES_TOTAL, "outcome" => label).increment(1);
        }
        Ok(Subscription {
            generation: self.generation,
            receiver,
            replay,
            outcome,
            last_id: self.last_id,
        })
    }

    /// Every buffered event of `regions` after `last`, in id order; `None` when the buffers no
    /// longer hold all of them or the id is newer than anything this node has seen.
    fn replay_since(&self, regions: &[Region], last: u64) -> Option<Vec<Arc<StreamEvent>>> {
        if last > self.last_id {
            return None;
        }
        let mut events = Vec::new();
        for region in regions {
            events.extend(self.buffers[region.index()].since(last)?);
        }
        events.sort_by_key(|e| e.id);
        Some(events)
    }

    fn unsubscribe(&mut self, address: Option<IpAddr>) {
        self.subscribers = self.subscribers.saturating_sub(1);
        metrics::gauge!(SSE_SUBSCRIBERS).set(self.subscribers as f64);
        if let Some(address) = address
            && let Some(count) = self.per_address.get_mut(&address)
        {
            *count -= 1;
            if *count == 0 {
                self.per_address.remove(&address);
            }
        }
    }
}

/// Just the production time of a payload (for the lag metric).
#[derive(serde::Deserialize)]
struct ProducedAt {
    emitted_at: Timestamp,
}
