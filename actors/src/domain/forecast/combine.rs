//! Combining the window models into one forecast. Per period of the day, each member is weighted
//! by the inverse of its mean squared error over the last days it was scored on (Bates & Granger
//! 1969): a short window that has been tracking a regime change lately counts more than a long
//! one, and the other way round in calm weeks. The weights come only from days already
//! published, so a walk-forward backtest stays free of look-ahead, and nothing in them is tuned
//! per market.
//!
//! Members are keyed by their configured window length, so a window capped by a still-short
//! history keeps its record as the history grows. A member with fewer than `min_days` scored
//! days gets the mean weight of the others; with none scored, the members are averaged equally.

use std::collections::{BTreeMap, VecDeque};

/// Per-member squared errors of the recent days, and the weights they give.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Combiner {
    periods: usize,
    days: usize,
    min_days: usize,
    /// Per member key, the squared errors of the scored days (oldest first), `periods` each.
    errors: BTreeMap<usize, VecDeque<Vec<f64>>>,
}

/// One member's forecast of a day: its key and a value per period.
pub type MemberForecast = (usize, Vec<f64>);

impl Combiner {
    /// Weights from the last `days` scored days; a member needs `min_days` of them.
    pub fn new(periods: usize, days: usize, min_days: usize) -> Self {
        Combiner {
            periods,
            days: days.max(1),
            min_days: min_days.clamp(1, days.max(1)),
            errors: BTreeMap::new(),
        }
    }

    /// Scores each member's forecast of a day against what was published.
    pub fn record(&mut self, members: &[MemberForecast], actual: &[f64]) {
        for (key, forecast) in members {
            if forecast.len() != self.periods || actual.len() != self.periods {
                continue;
            }
            let squared = forecast
                .iter()
                .zip(actual)
                .map(|(f, a)| (f - a) * (f - a))
                .collect();
            let days = self.errors.entry(*key).or_default();
            days.push_back(squared);
            while days.len() > self.days {
                days.pop_front();
            }
        }
    }

    /// Days scored for member `key`.
    pub fn scored_days(&self, key: usize) -> usize {
        self.errors.get(&key).map_or(0, VecDeque::len)
    }

    /// Per period, the weights of `keys` (in that order), summing to 1.
    pub fn weights(&self, keys: &[usize]) -> Vec<Vec<f64>> {
        (0..self.periods)
            .map(|h| {
                let known: Vec<Option<f64>> = keys
                    .iter()
                    .map(|key| {
                        let days = self.errors.get(key)?;
                        if days.len() < self.min_days {
                            return None;
                        }
                        let mse = days.iter().map(|d| d[h]).sum::<f64>() / days.len() as f64;
                        Some(1.0 / mse.max(1e-12))
                    })
                    .collect();
                let scored: Vec<f64> = known.iter().flatten().copied().collect();
                let fallback = if scored.is_empty() {
                    1.0
                } else {
                    scored.iter().sum::<f64>() / scored.len() as f64
                };
                let raw: Vec<f64> = known.iter().map(|w| w.unwrap_or(fallback)).collect();
                let total: f64 = raw.iter().sum();
                raw.iter().map(|w| w / total).collect()
            })
            .collect()
    }

    /// The weighted forecast of the members (which must all have `periods` values).
    pub fn combine(&self, members: &[MemberForecast]) -> Vec<f64> {
        let keys: Vec<usize> = members.iter().map(|(k, _)| *k).collect();
        let weights = self.weights(&keys);
        (0..self.periods)
            .map(|h| {
                members
                    .iter()
                    .zip(&weights[h])
                    .map(|((_, f), w)| f[h] * w)
                    .sum()
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_a_record_the_members_are_averaged() {
        let combiner = Combiner::new(2, 28, 7);
        let members = vec![(56, vec![10.0, 20.0]), (84, vec![30.0, 40.0])];
        assert_eq!(combiner.combine(&members), vec![20.0, 30.0]);
    }

    #[test]
    fn weights_are_inverse_mean_squared_errors_per_period() {
        let mut combiner = Combiner::new(2, 28, 1);
        // Member 56 misses period 0 by 1 and period 1 by 3; member 84 the other way round.
        combiner.record(
            &[(56, vec![11.0, 13.0]), (84, vec![13.0, 11.0])],
            &[10.0, 10.0],
        );
        let weights = combiner.weights(&[56, 84]);
        // Period 0: 1/1 against 1/9 → 0.9 and 0.1.
        assert!((weights[0][0] - 0.9).abs() < 1e-12 && (weights[0][1] - 0.1).abs() < 1e-12);
        assert!((weights[1][0] - 0.1).abs() < 1e-12 && (weights[1][1] - 0.9).abs() < 1e-12);
        let combined = combiner.combine(&[(56, vec![100.0, 100.0]), (84, vec![200.0, 200.0])]);
        assert!((combined[0] - 110.0).abs() < 1e-9 && (combined[1] - 190.0).abs() < 1e-9);
    }

    #[test]
    fn only_the_last_days_count() {
        let mut combiner = Combiner::new(1, 2, 1);
        // An old bad day for 56 falls out of the two-day memory.
        combiner.record(&[(56, vec![20.0]), (84, vec![11.0])], &[10.0]);
        for _ in 0..2 {
            combiner.record(&[(56, vec![11.0]), (84, vec![11.0])], &[10.0]);
        }
        assert_eq!(combiner.scored_days(56), 2);
        let weights = combiner.weights(&[56, 84]);
        assert!((weights[0][0] - 0.5).abs() < 1e-12);
    }

    #[test]
    fn a_new_member_gets_the_mean_weight_of_the_scored_ones() {
        let mut combiner = Combiner::new(1, 28, 2);
        for _ in 0..2 {
            combiner.record(&[(56, vec![11.0]), (84, vec![12.0])], &[10.0]);
        }
        // 1092 has one day only: below min_days, so it takes the mean of 1/1 and 1/4.
        combiner.record(&[(1092, vec![10.0])], &[10.0]);
        let weights = combiner.weights(&[56, 84, 1092]);
        let raw = [1.0, 0.25, 0.625];
        let total: f64 = raw.iter().sum();
        for (w, r) in weights[0].iter().zip(raw) {
            assert!((w - r / total).abs() < 1e-12);
        }
        assert!((weights[0].iter().sum::<f64>() - 1.0).abs() < 1e-12);
    }

    #[test]
    fn a_perfect_member_does_not_divide_by_zero() {
        let mut combiner = Combiner::new(1, 28, 1);
        combiner.record(&[(56, vec![10.0]), (84, vec![12.0])], &[10.0]);
        let combined = combiner.combine(&[(56, vec![50.0]), (84, vec![60.0])]);
        assert!(combined[0].is_finite() && (combined[0] - 50.0).abs() < 1e-6);
    }
}
