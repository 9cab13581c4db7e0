//! A typed, metered address of an actor: every send through it is counted in the actor's
//! [`ActorMeter`], and every call has a timeout. Handles and actors talk to each other only
//! through these. The address outlives any one incarnation of the actor: its supervisor binds
//! each restarted actor to the same mailbox, so holders never see a stale reference.

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwapOption;
use ractor::rpc::CallResult;
use ractor::{ActorRef, Message, RpcReplyPort};
use tokio::task::JoinHandle;

use crate::meter::ActorMeter;

/// Why a message or call did not get through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// The actor has stopped (or is being restarted).
    #[error("actor is not running")]
    Down,
    /// The actor did not answer in time.
    #[error("actor did not answer within {0:?}")]
    Timeout(Duration),
}

/// The current incarnation of an actor plus the meter that counts its mailbox.
pub struct Mailbox<M: Message> {
    actor: Arc<ArcSwapOption<ActorRef<M>>>,
    meter: ActorMeter,
}

impl<M: Message> Clone for Mailbox<M> {
    fn clone(&self) -> Self {
        Mailbox {
            actor: self.actor.clone(),
            meter: self.meter.clone(),
        }
    }
}

impl<M: Message> Mailbox<M> {
    /// Wraps `actor`, counting into `meter`.
    pub fn new(actor: ActorRef<M>, meter: ActorMeter) -> Self {
        let mailbox = Mailbox::unbound(meter);
        mailbox.bind(actor);
        mailbox
    }

    /// An address whose actor is not started yet: sends fail with [`CallError::Down`] until
    /// [`Mailbox::bind`].
    pub fn unbound(meter: ActorMeter) -> Self {
        Mailbox {
            actor: Arc::new(ArcSwapOption::empty()),
            meter,
        }
    }

    /// Points this address (and every clone of it) at a new incarnation of the actor.
    pub fn bind(&self, actor: ActorRef<M>) {
        self.actor.store(Some(Arc::new(actor)));
    }

    /// The actor's meter.
    pub fn meter(&self) -> &ActorMeter {
        &self.meter
    }

    /// Sends without waiting for an answer.
    pub fn cast(&self, msg: M) -> Result<(), CallError> {
        self.meter.sent();
        let sent = match self.actor.load().as_deref() {
            Some(actor) => actor.cast(msg).is_ok(),
            None => false,
        };
        if sent {
            Ok(())
        } else {
            self.meter.handled();
            Err(CallError::Down)
        }
    }

    /// Sends a request and waits at most `timeout` for its answer.
    pub async fn call<T: Send + 'static>(
        &self,
        build: impl FnOnce(RpcReplyPort<T>) -> M,
        timeout: Duration,
    ) -> Result<T, CallError> {
        let Some(actor) = self.actor.load_full() else {
            return Err(CallError::Down);
        };
        self.meter.sent();
        match actor.call(build, Some(timeout)).await {
            Ok(CallResult::Success(value)) => Ok(value),
            Ok(CallResult::Timeout) => Err(CallError::Timeout(timeout)),
            Ok(CallResult::SenderError) => Err(CallError::Down),
            Err(_) => {
                self.meter.handled();
                Err(CallError::Down)
            }
        }
    }

    /// Sends `build()` after `delay`. Dropping the returned [`Timer`] cancels it.
    pub fn send_after(&self, delay: Duration, build: impl FnOnce() -> M + Send + 'static) -> Timer {
        let this = self.clone();
        Timer(tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let _ = this.cast(build());
        }))
    }
}

impl<M: Message> Mailbox<M> {
    /// Sends `build()` every `period` (the first after one period). Dropping the returned
    /// [`Timer`] stops it.
    pub fn send_interval(&self, period: Duration, build: impl Fn() -> M + Send + 'static) -> Timer {
        let this = self.clone();
        Timer(tokio::spawn(async move {
            let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                if this.cast(build()).is_err() {
                    return;
                }
            }
        }))
    }
}

/// A pending delayed message. Held in actor state, so stopping the actor (which drops its
/// state) or replacing the timer cancels the message.
#[derive(Debug)]
pub struct Timer(JoinHandle<()>);

impl Drop for Timer {
    fn drop(&mut self) {
        self.0.abort();
    }
}
