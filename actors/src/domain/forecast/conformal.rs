//! Prediction intervals from the empirical distribution of recent out-of-sample errors, per
//! period of the day (split conformal): the interval of a forecast is the forecast plus the
//! lower and upper conformal quantiles of the errors (actual − forecast) of the last `capacity`
//! days. The conformal quantile takes the ⌈(n+1)·q⌉-th of n errors rather than interpolating:
//! with 56 days that is what brings the measured coverage to the nominal level.

use std::collections::VecDeque;

/// Recent forecast errors per period of the day.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ErrorQuantiles {
    errors: Vec<VecDeque<f64>>,
    capacity: usize,
}

impl ErrorQuantiles {
    /// Keeps the last `capacity` days of errors for `periods` periods.
    pub fn new(periods: usize, capacity: usize) -> Self {
        ErrorQuantiles {
            errors: vec![VecDeque::with_capacity(capacity); periods],
            capacity: capacity.max(1),
        }
    }

    /// Records one day's errors (`actual − forecast` per period).
    pub fn record(&mut self, actual: &[f64], forecast: &[f64]) {
        for ((queue, a), f) in self.errors.iter_mut().zip(actual).zip(forecast) {
            if queue.len() == self.capacity {
                queue.pop_front();
            }
            queue.push_back(a - f);
        }
    }

    /// Mean absolute error over every held error, if any.
    pub fn mean_abs(&self) -> Option<f64> {
        let count: usize = self.errors.iter().map(VecDeque::len).sum();
        (count > 0)
            .then(|| self.errors.iter().flatten().map(|e| e.abs()).sum::<f64>() / count as f64)
    }

    /// Days of errors held (the smallest count over periods).
    pub fn days(&self) -> usize {
        self.errors.iter().map(VecDeque::len).min().unwrap_or(0)
    }

    /// `(lower, upper)` bounds around `forecast` at quantiles `low` and `high` (e.g. 0.1, 0.9),
    /// or `None` while fewer than `min_days` days are held.
    pub fn interval(
        &self,
        forecast: &[f64],
        low: f64,
        high: f64,
        min_days: usize,
    ) -> Option<(Vec<f64>, Vec<f64>)> {
        if self.days() < min_days.max(1) {
            return None;
        }
        let mut lower = Vec::with_capacity(forecast.len());
        let mut upper = Vec::with_capacity(forecast.len());
        for (h, f) in forecast.iter().enumerate() {
            let mut sorted: Vec<f64> = self.errors[h % self.errors.len()].iter().copied().collect();
            sorted.sort_by(f64::total_cmp);
            // Never narrower than the point forecast itself.
            lower.push(f + conformal_quantile(&sorted, low, Side::Lower).min(0.0));
            upper.push(f + conformal_quantile(&sorted, high, Side::Upper).max(0.0));
        }
        Some((lower, upper))
    }
}

/// Which end of an interval a quantile bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Lower,
    Upper,
}

/// The split-conformal quantile of sorted errors: the ⌈(n+1)·q⌉-th smallest for an upper bound,
/// the ⌊(n+1)·q⌋-th for a lower one (clamped to the sample), so that a new error falls inside
/// with probability at least the nominal level when errors are exchangeable.
pub fn conformal_quantile(sorted: &[f64], q: f64, side: Side) -> f64 {
    let n = sorted.len();
    if n == 0 {
        return 0.0;
    }
    let position = (n + 1) as f64 * q.clamp(0.0, 1.0);
    let rank = match side {
        Side::Upper => position.ceil() as usize,
        Side::Lower => position.floor() as usize,
    };
    sorted[rank.clamp(1, n) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_follow_the_error_quantiles_per_period() {
        let mut q = ErrorQuantiles::new(2, 100);
        assert!(q.interval(&[10.0, 10.0], 0.1, 0.9, 1).is_none());
        for e in -50..=50 {
            q.record(&[e as f64, 2.0 * e as f64], &[0.0, 0.0]);
        }
        let (lower, upper) = q.interval(&[10.0, 10.0], 0.1, 0.9, 10).unwrap();
        // The last 100 errors are −49..=50 (and twice that for the second period): ranks
        // ⌊101·0.1⌋ = 10 and ⌈101·0.9⌉ = 91, i.e. −40 and 41.
        let close = |a: f64, b: f64| (a - b).abs() < 1e-9;
        assert!(
            close(lower[0], 10.0 - 40.0) && close(upper[0], 10.0 + 41.0),
            "{lower:?} {upper:?}"
        );
        assert!(
            close(lower[1], 10.0 - 80.0) && close(upper[1], 10.0 + 82.0),
            "{lower:?} {upper:?}"
        );
        assert_eq!(q.days(), 100, "capacity bounds the history");
    }

    #[test]
    fn conformal_ranks_round_outwards_and_stay_in_the_sample() {
        let sorted: Vec<f64> = (1..=9).map(f64::from).collect();
        // n = 9: upper 0.9 → rank ⌈9⌉ = 9; lower 0.1 → rank ⌊1⌋ = 1.
        assert_eq!(conformal_quantile(&sorted, 0.9, Side::Upper), 9.0);
        assert_eq!(conformal_quantile(&sorted, 0.1, Side::Lower), 1.0);
        assert_eq!(conformal_quantile(&sorted, 0.5, Side::Upper), 5.0);
        assert_eq!(conformal_quantile(&[3.0], 0.05, Side::Lower), 3.0);
        assert_eq!(conformal_quantile(&[], 0.5, Side::Upper), 0.0);
    }
}
