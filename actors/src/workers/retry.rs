//! What happens to an outbox job after an attempt: done, tried again later (exponential backoff
//! with jitter, so jobs that failed together do not all return in the same instant), or parked as
//! `failed` once it has used its attempts. Pure: the worker supplies the random draw.

use std::time::Duration;

use crate::supervision::BackoffPolicy;

/// How failed jobs are retried.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// Attempts before a job is parked (the first one included).
    pub max_attempts: u32,
    pub backoff: BackoffPolicy,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 8,
            backoff: BackoffPolicy {
                initial: Duration::from_secs(5),
                max: Duration::from_secs(3600),
                multiplier: 3,
                jitter: 0.2,
            },
        }
    }
}

pub use crate::ports::JobFailure;

/// What to do with a job after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum AfterFailure {
    /// Queue it again, due after this delay.
    RetryIn(Duration),
    /// Park it as `failed` for an operator.
    Park,
}

impl RetryPolicy {
    /// The fate of a job that failed its `attempts`-th attempt (counted from 1) with `failure`;
    /// `unit` is a uniform draw in [0, 1) for the jitter.
    pub fn after(&self, attempts: u32, failure: &JobFailure, unit: f64) -> AfterFailure {
        match failure {
            JobFailure::Permanent(_) => AfterFailure::Park,
            JobFailure::Transient(_) if attempts >= self.max_attempts => AfterFailure::Park,
            JobFailure::Transient(_) => {
                AfterFailure::RetryIn(self.backoff.delay(attempts.saturating_sub(1), unit))
            }
        }
    }

    /// True when a claimed job has already been claimed more often than it may be attempted: a
    /// job that kills its worker (a crash mid-attempt leaves no failure recorded) is parked
    /// instead of crashing it forever.
    pub fn exhausted(&self, attempts: u32) -> bool {
        attempts > self.max_attempts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 3,
            backoff: BackoffPolicy {
                initial: Duration::from_secs(2),
                max: Duration::from_secs(60),
                multiplier: 3,
                jitter: 0.0,
            },
        }
    }

    #[test]
    fn transient_failures_back_off_then_park_at_the_last_attempt() {
        let down = JobFailure::Transient("connection refused".into());
        assert_eq!(
            policy().after(1, &down, 0.5),
            AfterFailure::RetryIn(Duration::from_secs(2))
        );
        assert_eq!(
            policy().after(2, &down, 0.5),
            AfterFailure::RetryIn(Duration::from_secs(6))
        );
        assert_eq!(policy().after(3, &down, 0.5), AfterFailure::Park);
    }

    #[test]
    fn permanent_failures_park_at_once() {
        let bad = JobFailure::Permanent("unknown kind".into());
        assert_eq!(policy().after(1, &bad, 0.5), AfterFailure::Park);
    }

    #[test]
    fn jitter_spreads_the_delay_both_ways() {
        let mut p = policy();
        p.backoff.jitter = 0.2;
        let down = JobFailure::Transient("x".into());
        let AfterFailure::RetryIn(low) = p.after(1, &down, 0.0) else {
            panic!("retry expected")
        };
        let AfterFailure::RetryIn(high) = p.after(1, &down, 0.999) else {
            panic!("retry expected")
        };
        assert_eq!(low, Duration::from_millis(1600));
        assert!(high > Duration::from_millis(2390) && high <= Duration::from_millis(2400));
    }

    #[test]
    fn a_job_claimed_past_its_attempts_is_exhausted() {
        assert!(!policy().exhausted(3));
        assert!(policy().exhausted(4));
    }
}
