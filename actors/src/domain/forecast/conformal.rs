//! Prediction intervals from the empirical distribution of recent out-of-sample errors, per
//! period of the day (split-conformal style): the interval of a forecast is the forecast plus
//! the lower and upper quantiles of the errors (actual − forecast) of the last `capacity` days.

use std::collections::VecDeque;

/// Recent forecast errors per period of the day.
#[derive(Debug, Clone, PartialEq)]
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
            lower.push(f + quantile(&sorted, low).min(0.0));
            upper.push(f + quantile(&sorted, high).max(0.0));
        }
        Some((lower, upper))
    }
}

/// Linear-interpolated quantile of sorted values.
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let pos = q.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let (i, frac) = (pos.floor() as usize, pos.fract());
    let next = sorted[(i + 1).min(sorted.len() - 1)];
    sorted[i] + frac * (next - sorted[i])
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
        // The last 100 errors are −49..=50 (and twice that for the second period).
        let close = |a: f64, b: f64| (a - b).abs() < 1e-9;
        assert!(
            close(lower[0], 10.0 - 39.1) && close(upper[0], 10.0 + 40.1),
            "{lower:?} {upper:?}"
        );
        assert!(
            close(lower[1], 10.0 - 78.2) && close(upper[1], 10.0 + 80.2),
            "{lower:?} {upper:?}"
        );
        assert_eq!(q.days(), 100, "capacity bounds the history");
    }

    #[test]
    fn quantiles_interpolate() {
        assert_eq!(quantile(&[0.0, 10.0], 0.5), 5.0);
        assert_eq!(quantile(&[1.0, 2.0, 3.0], 1.0), 3.0);
        assert_eq!(quantile(&[], 0.5), 0.0);
    }
}
