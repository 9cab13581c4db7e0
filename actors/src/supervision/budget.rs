//! Restart intensity: at most N restarts within a sliding window. When a child exceeds it, the
//! supervisor stops restarting it quickly and reports it degraded.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

/// A sliding-window restart budget.
#[derive(Debug, Clone)]
pub struct RestartBudget {
    max_restarts: u32,
    window: Duration,
    recent: VecDeque<Instant>,
}

impl RestartBudget {
    /// Allow `max_restarts` restarts within any `window`.
    pub fn new(max_restarts: u32, window: Duration) -> Self {
        RestartBudget {
            max_restarts,
            window,
            recent: VecDeque::new(),
        }
    }

    /// Records a restart at `now` if the budget allows it; `false` means the budget is spent.
    pub fn try_acquire(&mut self, now: Instant) -> bool {
        while self
            .recent
            .front()
            .is_some_and(|t| now.duration_since(*t) >= self.window)
        {
            self.recent.pop_front();
        }
        if self.recent.len() as u64 >= u64::from(self.max_restarts) {
            return false;
        }
        self.recent.push_back(now);
        true
    }

    /// Restarts counted in the current window.
    pub fn used(&self) -> usize {
        self.recent.len()
    }

    /// Forget all counted restarts.
    pub fn reset(&mut self) {
        self.recent.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_refuses_past_the_limit_then_recovers_after_the_window() {
        let t0 = Instant::now();
        let mut b = RestartBudget::new(3, Duration::from_secs(60));
        assert!(b.try_acquire(t0));
        assert!(b.try_acquire(t0 + Duration::from_secs(1)));
        assert!(b.try_acquire(t0 + Duration::from_secs(2)));
        assert!(!b.try_acquire(t0 + Duration::from_secs(3)));
        assert_eq!(b.used(), 3);
        // The first restart leaves the window at t0 + 60 s.
        assert!(b.try_acquire(t0 + Duration::from_secs(60)));
        assert!(!b.try_acquire(t0 + Duration::from_millis(60_500)));
        b.reset();
        assert_eq!(b.used(), 0);
    }

    #[test]
    fn zero_budget_never_allows_a_restart() {
        let mut b = RestartBudget::new(0, Duration::from_secs(1));
        assert!(!b.try_acquire(Instant::now()));
    }
}
