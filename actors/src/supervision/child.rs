//! The restart bookkeeping of one supervised child: its restart policy (backoff, budget per
//! window, degraded probing), its state and counters, and the decision taken when it exits.
//! Pure apart from reading the instant it is given, so every supervisor shares one rule set.

use std::time::Duration;

use serde::Serialize;
use tokio::time::Instant;

use super::{Backoff, BackoffPolicy, RestartBudget};

/// Whether a child is restarted after a clean stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Restart {
    /// Always restarted: the child is meant to run as long as the engine does.
    Permanent,
    /// Restarted only after a failure; a clean stop means its work is done.
    Transient,
}

/// How a supervisor restarts a failed child.
#[derive(Debug, Clone, PartialEq)]
pub struct RestartPolicy {
    pub backoff: BackoffPolicy,
    /// Restarts allowed within `window` before the child is degraded.
    pub max_restarts: u32,
    pub window: Duration,
    /// Delay between restart probes of a degraded child.
    pub degraded_retry: Duration,
    /// A child that ran this long before failing starts its backoff from the beginning.
    pub healthy_after: Duration,
}

impl Default for RestartPolicy {
    fn default() -> Self {
        RestartPolicy {
            backoff: BackoffPolicy::default(),
            max_restarts: 5,
            window: Duration::from_secs(600),
            degraded_retry: Duration::from_secs(900),
            healthy_after: Duration::from_secs(600),
        }
    }
}

/// Where a supervised child is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChildState {
    /// Being started, or started and not yet reported healthy.
    Starting,
    /// Running.
    Running,
    /// Failed; waits for its backoff delay before the restart.
    Restarting,
    /// Spent its restart budget; restarted only rarely. The rest of the engine keeps serving.
    Degraded,
    /// A transient child that finished its work.
    Finished,
    /// Stopped for shutdown.
    Stopped,
}

impl std::fmt::Display for ChildState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ChildState::Starting => "starting",
            ChildState::Running => "running",
            ChildState::Restarting => "restarting",
            ChildState::Degraded => "degraded",
            ChildState::Finished => "finished",
            ChildState::Stopped => "stopped",
        })
    }
}

/// What the supervisor does after a child exited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Start it again after `after` (its backoff).
    Restart { after: Duration },
    /// The budget is spent: the child is degraded and probed again after `after`. `newly` is
    /// true on the exit that spent the budget.
    Degrade { after: Duration, newly: bool },
    /// A transient child stopped cleanly: nothing to restart.
    Finish,
}

/// Restart counters and state of one child.
#[derive(Debug, Clone)]
pub struct ChildRestarts {
    policy: RestartPolicy,
    restart: Restart,
    backoff: Backoff,
    budget: RestartBudget,
    started_at: Instant,
    state: ChildState,
    restarts: u64,
    consecutive_failures: u32,
    last_error: Option<String>,
}

impl ChildRestarts {
    /// Fresh bookkeeping; `seed` makes the backoff jitter reproducible.
    pub fn new(policy: RestartPolicy, restart: Restart, seed: u64) -> Self {
        ChildRestarts {
            backoff: Backoff::new(policy.backoff, seed),
            budget: RestartBudget::new(policy.max_restarts, policy.window),
            policy,
            restart,
            started_at: Instant::now(),
            state: ChildState::Starting,
            restarts: 0,
            consecutive_failures: 0,
            last_error: None,
        }
    }

    /// The child was (re)started now. A degraded child stays degraded until it reports health.
    pub fn started(&mut self, now: Instant) {
        self.started_at = now;
        if self.state != ChildState::Degraded {
            self.state = ChildState::Starting;
        }
    }

    /// The child is running (and, for children that report it, healthy). Ends a degraded spell:
    /// the budget and backoff start afresh. Returns true when it was degraded.
    pub fn healthy(&mut self) -> bool {
        let was_degraded = self.state == ChildState::Degraded;
        if was_degraded {
            self.budget.reset();
            self.backoff.reset();
        }
        self.state = ChildState::Running;
        self.consecutive_failures = 0;
        was_degraded
    }

    /// The child exited at `now`: `failed` for a panic or error, false for a clean stop. Counts
    /// the restart the decision implies.
    pub fn exited(&mut self, now: Instant, failed: bool, why: String) -> Decision {
        if !failed && self.restart == Restart::Transient {
            self.state = ChildState::Finished;
            return Decision::Finish;
        }
        self.consecutive_failures = self.consecutive_failures.saturating_add(1);
        self.last_error = Some(why);
        if now.duration_since(self.started_at) >= self.policy.healthy_after {
            self.backoff.reset();
        }
        self.restarts += 1;
        if self.state != ChildState::Degraded && self.budget.try_acquire(now) {
            self.state = ChildState::Restarting;
            return Decision::Restart {
                after: self.backoff.next_delay(),
            };
        }
        let newly = self.state != ChildState::Degraded;
        self.state = ChildState::Degraded;
        Decision::Degrade {
            after: self.policy.degraded_retry,
            newly,
        }
    }

    /// The child was stopped on purpose (shutdown).
    pub fn stopped(&mut self) {
        self.state = ChildState::Stopped;
    }

    pub fn state(&self) -> ChildState {
        self.state
    }

    /// Restarts since the engine started.
    pub fn restarts(&self) -> u64 {
        self.restarts
    }

    pub fn consecutive_failures(&self) -> u32 {
        self.consecutive_failures
    }

    pub fn last_error(&self) -> Option<&str> {
        self.last_error.as_deref()
    }

    /// Sets the state a child reports itself (e.g. a fetcher in standby).
    pub fn set_state(&mut self, state: ChildState) {
        self.state = state;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RestartPolicy {
        RestartPolicy {
            backoff: BackoffPolicy {
                initial: Duration::from_secs(1),
                max: Duration::from_secs(60),
                multiplier: 2,
                jitter: 0.0,
            },
            max_restarts: 2,
            window: Duration::from_secs(600),
            degraded_retry: Duration::from_secs(900),
            healthy_after: Duration::from_secs(300),
        }
    }

    #[test]
    fn failures_back_off_then_degrade_and_health_resets_the_budget() {
        let t0 = Instant::now();
        let mut child = ChildRestarts::new(policy(), Restart::Permanent, 1);
        child.started(t0);
        let restart = |after: u64| Decision::Restart {
            after: Duration::from_secs(after),
        };
        assert_eq!(child.exited(t0, true, "boom".into()), restart(1));
        assert_eq!(child.state(), ChildState::Restarting);
        child.started(t0);
        assert_eq!(child.exited(t0, true, "boom".into()), restart(2));
        child.started(t0);
        assert_eq!(
            child.exited(t0, true, "boom".into()),
            Decision::Degrade {
                after: Duration::from_secs(900),
                newly: true
            }
        );
        child.started(t0);
        assert_eq!(
            child.state(),
            ChildState::Degraded,
            "a probe stays degraded"
        );
        assert!(matches!(
            child.exited(t0, true, "again".into()),
            Decision::Degrade { newly: false, .. }
        ));
        assert_eq!(child.restarts(), 4);
        assert_eq!(child.last_error(), Some("again"));
        assert!(child.healthy());
        assert_eq!(child.state(), ChildState::Running);
        assert_eq!(child.exited(t0, true, "x".into()), restart(1));
    }

    #[test]
    fn a_long_run_before_failing_restarts_the_backoff() {
        let t0 = Instant::now();
        let mut child = ChildRestarts::new(policy(), Restart::Permanent, 1);
        child.started(t0);
        child.exited(t0, true, "a".into());
        child.started(t0);
        let later = t0 + Duration::from_secs(400);
        assert_eq!(
            child.exited(later, true, "b".into()),
            Decision::Restart {
                after: Duration::from_secs(1)
            }
        );
    }

    #[test]
    fn transient_children_finish_on_a_clean_stop_and_restart_on_failure() {
        let t0 = Instant::now();
        let mut child = ChildRestarts::new(policy(), Restart::Transient, 1);
        assert!(matches!(
            child.exited(t0, true, "x".into()),
            Decision::Restart { .. }
        ));
        assert_eq!(child.exited(t0, false, "done".into()), Decision::Finish);
        assert_eq!(child.state(), ChildState::Finished);
        let mut permanent = ChildRestarts::new(policy(), Restart::Permanent, 1);
        assert!(matches!(
            permanent.exited(t0, false, "stopped".into()),
            Decision::Restart { .. }
        ));
    }
}
