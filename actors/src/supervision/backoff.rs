//! Exponential restart backoff with a cap and seeded jitter. Pure: the caller asks for the next
//! delay and sleeps itself, so tests drive it without clocks.

use std::time::Duration;

use crate::rng::SplitMix64;

/// How restart delays grow.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BackoffPolicy {
    /// Delay before the first restart.
    pub initial: Duration,
    /// Upper bound of any delay.
    pub max: Duration,
    /// Growth factor per consecutive failure.
    pub multiplier: u32,
    /// Random spread as a fraction of the delay (0.1 = ±10 %), so fetchers that fail together
    /// do not all retry in the same instant.
    pub jitter: f64,
}

impl Default for BackoffPolicy {
    fn default() -> Self {
        BackoffPolicy {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(300),
            multiplier: 2,
            jitter: 0.1,
        }
    }
}

impl BackoffPolicy {
    /// The delay after `failures_before` earlier consecutive failures, spread by `unit` (a
    /// uniform draw in [0, 1)): `initial × multiplier^failures_before`, capped, ± jitter.
    pub fn delay(&self, failures_before: u32, unit: f64) -> Duration {
        let factor = u64::from(self.multiplier.max(1)).saturating_pow(failures_before);
        let base = self
            .initial
            .saturating_mul(u32::try_from(factor).unwrap_or(u32::MAX))
            .min(self.max);
        let spread = self.jitter.clamp(0.0, 1.0) * (2.0 * unit - 1.0);
        base.mul_f64(1.0 + spread).min(self.max)
    }
}

/// The backoff state of one child: how many consecutive failures it has had.
#[derive(Debug, Clone)]
pub struct Backoff {
    policy: BackoffPolicy,
    attempt: u32,
    rng: SplitMix64,
}

impl Backoff {
    /// A fresh backoff; `seed` makes the jitter reproducible.
    pub fn new(policy: BackoffPolicy, seed: u64) -> Self {
        Backoff {
            policy,
            attempt: 0,
            rng: SplitMix64::new(seed),
        }
    }

    /// The delay before the next restart; each call counts one more consecutive failure.
    pub fn next_delay(&mut self) -> Duration {
        let delay = self.policy.delay(self.attempt, self.rng.unit());
        self.attempt = self.attempt.saturating_add(1);
        delay
    }

    /// Consecutive failures counted so far.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// Forget past failures (the child stayed healthy long enough).
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(jitter: f64) -> BackoffPolicy {
        BackoffPolicy {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(2),
            multiplier: 2,
            jitter,
        }
    }

    #[test]
    fn delays_double_until_the_cap() {
        let mut b = Backoff::new(policy(0.0), 1);
        let delays: Vec<_> = (0..7).map(|_| b.next_delay().as_millis()).collect();
        assert_eq!(delays, vec![100, 200, 400, 800, 1600, 2000, 2000]);
        assert_eq!(b.attempt(), 7);
        b.reset();
        assert_eq!(b.next_delay(), Duration::from_millis(100));
    }

    #[test]
    fn jitter_stays_within_its_band_and_delays_still_grow() {
        let mut b = Backoff::new(policy(0.1), 42);
        let mut previous = Duration::ZERO;
        for step in 0..4 {
            let d = b.next_delay();
            let base = 100.0 * 2f64.powi(step);
            let ms = d.as_secs_f64() * 1000.0;
            assert!(
                ms >= base * 0.9 - 1e-6 && ms <= base * 1.1 + 1e-6,
                "{ms} vs {base}"
            );
            assert!(d > previous);
            previous = d;
        }
    }

    #[test]
    fn same_seed_gives_same_delays() {
        let mut a = Backoff::new(policy(0.5), 7);
        let mut b = Backoff::new(policy(0.5), 7);
        for _ in 0..5 {
            assert_eq!(a.next_delay(), b.next_delay());
        }
    }

    #[test]
    fn huge_attempt_counts_saturate_at_the_cap() {
        let mut b = Backoff::new(policy(0.0), 1);
        for _ in 0..200 {
            assert!(b.next_delay() <= Duration::from_secs(2));
        }
    }
}
