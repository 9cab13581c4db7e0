//! Live price fan-out: the Broadcaster actor, its events and its replay buffer.

mod actor;
pub mod buffer;
pub mod event;
mod handle;
pub mod subscriber;

pub use actor::{
    BroadcastStats, BroadcasterConfig, FANOUT_FALLBACK_TOTAL, FANOUT_LAG_SECONDS, FANOUT_UP,
    ResumeOutcome, SSE_EVENTS_PUBLISHED_TOTAL, SSE_RESUMES_TOTAL, SSE_SUBSCRIBERS, SubscribeError,
    SubscribeRequest, Subscription,
};
pub(crate) use actor::{Broadcaster, BroadcasterArgs, BroadcasterMsg, PriceMerge};
pub use event::{EventKind, IncomingEvent, OutgoingEvent, PricePayload, Scope, StreamEvent};
pub use handle::{BroadcastHandle, StreamError};
