//! The FanOutSubscriber actor: holds this node's subscription to the cross-node event bus and
//! hands every received event to the local broadcaster. When the subscription ends for good it
//! fails, and its supervisor subscribes again after a backoff.

use std::sync::Arc;

use ractor::{Actor, ActorProcessingErr, ActorRef};
use tokio::task::JoinHandle;

use super::actor::BroadcasterMsg;
use super::event::IncomingEvent;
use crate::mailbox::Mailbox;
use crate::ports::{EventFeed, EventSubscription};
use crate::supervision::ActorMeter;

/// What the subscriber needs (kept by its supervisor to restart it).
#[derive(Clone)]
pub(crate) struct FanOutSubscriberArgs {
    pub feed: Arc<dyn EventFeed>,
    pub broadcaster: Mailbox<BroadcasterMsg>,
    pub meter: ActorMeter,
}

/// Messages the subscriber takes.
pub(crate) enum FanOutSubscriberMsg {
    /// An event from the bus.
    Received(IncomingEvent),
    /// The subscription ended.
    Closed,
}

/// The subscriber actor.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FanOutSubscriber;

/// The subscriber's own data: the subscription and the task pumping it into the mailbox.
pub(crate) struct FanOutSubscriberState {
    args: FanOutSubscriberArgs,
    _guard: Box<dyn Send + Sync>,
    pump: JoinHandle<()>,
}

impl Actor for FanOutSubscriber {
    type Msg = FanOutSubscriberMsg;
    type State = FanOutSubscriberState;
    type Arguments = FanOutSubscriberArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: Self::Arguments,
    ) -> Result<Self::State, ActorProcessingErr> {
        let EventSubscription { mut events, guard } = args.feed.subscribe().await?;
        let mailbox = Mailbox::new(myself, args.meter.clone());
        let pump = tokio::spawn(async move {
            while let Some(event) = events.recv().await {
                if mailbox.cast(FanOutSubscriberMsg::Received(event)).is_err() {
                    return;
                }
            }
            let _ = mailbox.cast(FanOutSubscriberMsg::Closed);
        });
        Ok(FanOutSubscriberState {
            args,
            _guard: guard,
            pump,
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
            FanOutSubscriberMsg::Received(event) => {
                // A restarting broadcaster misses this event; its subscribers resume or reset.
                let _ = state.args.broadcaster.cast(BroadcasterMsg::Deliver(event));
                Ok(())
            }
            FanOutSubscriberMsg::Closed => Err("the event subscription ended".into()),
        }
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<Self::Msg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        state.pump.abort();
        Ok(())
    }
}
