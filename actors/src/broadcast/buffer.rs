//! The bounded per-region replay buffer behind `Last-Event-ID` resume: the newest events of one
//! region, and the highest id it had to evict (past that, a resume cannot be complete).

use std::collections::VecDeque;
use std::sync::Arc;

use super::event::StreamEvent;

/// The newest `capacity` events of one region, oldest first.
#[derive(Debug)]
pub struct ReplayBuffer {
    events: VecDeque<Arc<StreamEvent>>,
    capacity: usize,
    evicted_up_to: u64,
}

impl ReplayBuffer {
    /// An empty buffer holding at most `capacity` events.
    pub fn new(capacity: usize) -> Self {
        ReplayBuffer {
            events: VecDeque::with_capacity(capacity.min(1024)),
            capacity: capacity.max(1),
            evicted_up_to: 0,
        }
    }

    /// Appends an event (ids arrive in increasing order), evicting the oldest when full.
    pub fn push(&mut self, event: Arc<StreamEvent>) {
        if self.events.len() == self.capacity
            && let Some(old) = self.events.pop_front()
        {
            self.evicted_up_to = old.id;
        }
        self.events.push_back(event);
    }

    /// The events after `last_id`, or `None` if some of them were already evicted.
    pub fn since(&self, last_id: u64) -> Option<Vec<Arc<StreamEvent>>> {
        if self.evicted_up_to > last_id {
            return None;
        }
        let from = self.events.partition_point(|e| e.id <= last_id);
        Some(self.events.range(from..).cloned().collect())
    }

    /// Id of the newest event held.
    pub fn newest_id(&self) -> Option<u64> {
        self.events.back().map(|e| e.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broadcast::event::{Scope, frame};
    use crate::domain::Region;

    fn event(id: u64) -> Arc<StreamEvent> {
        Arc::new(StreamEvent::new(
            id,
            Scope::Region(Region::Uk),
            &frame(Some(id), "price", "{}"),
        ))
    }

    #[test]
    fn replays_what_came_after_the_id() {
        let mut b = ReplayBuffer::new(3);
        for id in [10, 20, 30] {
            b.push(event(id));
        }
        let ids = |v: Option<Vec<Arc<StreamEvent>>>| {
            v.map(|v| v.iter().map(|e| e.id).collect::<Vec<_>>())
        };
        assert_eq!(ids(b.since(0)), Some(vec![10, 20, 30]));
        assert_eq!(ids(b.since(15)), Some(vec![20, 30]));
        assert_eq!(ids(b.since(30)), Some(vec![]));
        b.push(event(40));
        // 10 was evicted: a client that saw only up to 5 missed it.
        assert_eq!(ids(b.since(5)), None);
        assert_eq!(ids(b.since(10)), Some(vec![20, 30, 40]));
        assert_eq!(b.newest_id(), Some(40));
    }
}
