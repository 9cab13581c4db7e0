//! Per-actor counters an operator watches: messages handled and mailbox length. ractor does not
//! expose its queue length, so every sender counts a send and the actor counts each message it
//! takes; the difference is the mailbox length.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

/// Metric: messages an actor has handled, by actor name.
pub const ACTOR_MESSAGES_TOTAL: &str = "wattline_actor_messages_total";
/// Metric: messages waiting in an actor's mailbox, by actor name.
pub const ACTOR_MAILBOX_LENGTH: &str = "wattline_actor_mailbox_length";

/// Shared counters of one actor (cheap to clone; clones count into the same totals).
#[derive(Debug, Clone)]
pub struct ActorMeter {
    name: Arc<str>,
    queued: Arc<AtomicI64>,
    handled: Arc<AtomicU64>,
    handled_metric: metrics::Counter,
    queued_metric: metrics::Gauge,
}

impl ActorMeter {
    /// Counters for the actor called `name` (also its `actor` metric label).
    pub fn new(name: impl Into<Arc<str>>) -> Self {
        let name: Arc<str> = name.into();
        let label = name.to_string();
        ActorMeter {
            handled_metric: metrics::counter!(ACTOR_MESSAGES_TOTAL, "actor" => label.clone()),
            queued_metric: metrics::gauge!(ACTOR_MAILBOX_LENGTH, "actor" => label),
            name,
            queued: Arc::new(AtomicI64::new(0)),
            handled: Arc::new(AtomicU64::new(0)),
        }
    }

    /// The actor's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Count one message put into the mailbox.
    pub fn sent(&self) {
        let now = self.queued.fetch_add(1, Ordering::Relaxed) + 1;
        self.queued_metric.set(now as f64);
    }

    /// Count one message taken out of the mailbox and handled.
    pub fn handled(&self) {
        // Saturating: messages nobody counted as sent (supervision events, timers) must not
        // drive the length below zero.
        let before = self
            .queued
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |q| {
                Some((q - 1).max(0))
            })
            .unwrap_or(0);
        self.queued_metric.set((before - 1).max(0) as f64);
        self.handled.fetch_add(1, Ordering::Relaxed);
        self.handled_metric.increment(1);
    }

    /// Messages waiting now.
    pub fn mailbox_length(&self) -> u64 {
        u64::try_from(self.queued.load(Ordering::Relaxed)).unwrap_or(0)
    }

    /// Messages handled since start.
    pub fn messages_handled(&self) -> u64 {
        self.handled.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mailbox_length_is_sent_minus_handled() {
        let meter = ActorMeter::new("test");
        meter.sent();
        meter.sent();
        meter.clone().handled();
        assert_eq!(meter.mailbox_length(), 1);
        assert_eq!(meter.messages_handled(), 1);
        meter.handled();
        meter.handled(); // a message the meter never saw sent (e.g. a supervision event)
        assert_eq!(meter.mailbox_length(), 0);
    }
}
