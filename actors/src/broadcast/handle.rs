//! The typed handle to the Broadcaster, used by the SSE edge and by the fan-out subscriber.

use std::net::IpAddr;
use std::time::Duration;

use super::actor::{
    BroadcastStats, BroadcasterMsg, SubscribeError, SubscribeRequest, Subscription,
};
use super::event::IncomingEvent;
use crate::mailbox::{CallError, Mailbox};
use crate::supervision::ActorMeter;

/// Why a subscription did not start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StreamError {
    #[error(transparent)]
    Call(#[from] CallError),
    #[error(transparent)]
    Refused(#[from] SubscribeError),
}

/// Typed access to the Broadcaster.
#[derive(Clone)]
pub struct BroadcastHandle {
    mailbox: Mailbox<BroadcasterMsg>,
    call_timeout: Duration,
}

impl BroadcastHandle {
    pub(crate) fn new(mailbox: Mailbox<BroadcasterMsg>, call_timeout: Duration) -> Self {
        BroadcastHandle {
            mailbox,
            call_timeout,
        }
    }

    /// Starts a subscription. The caller must call [`BroadcastHandle::unsubscribe`] when it ends.
    pub async fn subscribe(&self, request: SubscribeRequest) -> Result<Subscription, StreamError> {
        Ok(self
            .mailbox
            .call(
                |reply| BroadcasterMsg::Subscribe { request, reply },
                self.call_timeout,
            )
            .await??)
    }

    /// Ends a subscription started from `address` with the incarnation `generation`.
    pub fn unsubscribe(&self, address: Option<IpAddr>, generation: u64) {
        let _ = self.mailbox.cast(BroadcasterMsg::Unsubscribe {
            address,
            generation,
        });
    }

    /// Makes the broadcaster fail (tests of the supervision).
    #[cfg(any(test, feature = "testing"))]
    pub fn crash(&self) {
        let _ = self.mailbox.cast(BroadcasterMsg::Crash);
    }

    /// Hands an event from the fan-out to this node's broadcaster.
    pub fn deliver(&self, event: IncomingEvent) -> Result<(), CallError> {
        self.mailbox.cast(BroadcasterMsg::Deliver(event))
    }

    /// Ends every open stream with a final `shutdown` event (graceful shutdown).
    pub fn end_streams(&self) {
        let _ = self.mailbox.cast(BroadcasterMsg::EndStreams);
    }

    /// Subscriber and fan-out counters.
    pub async fn stats(&self) -> Result<BroadcastStats, CallError> {
        self.mailbox
            .call(BroadcasterMsg::Stats, self.call_timeout)
            .await
    }

    /// The broadcaster's mailbox counters.
    pub fn meter(&self) -> &ActorMeter {
        self.mailbox.meter()
    }
}
