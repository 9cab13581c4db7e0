//! Forecast accuracy: MAE, sMAPE, rMAE against the seasonal naive forecast of Lago et al. (2021)
//! (last week's price on Mondays, Saturdays and Sundays, yesterday's otherwise), and interval
//! coverage.

use jiff::civil::Weekday;

/// Mean absolute error.
pub fn mae(actual: &[f64], forecast: &[f64]) -> f64 {
    mean(actual.iter().zip(forecast).map(|(a, f)| (a - f).abs()))
}

/// Symmetric mean absolute percentage error, in percent (terms with |a|+|f| = 0 count as 0).
pub fn smape(actual: &[f64], forecast: &[f64]) -> f64 {
    100.0
        * mean(actual.iter().zip(forecast).map(|(a, f)| {
            let d = a.abs() + f.abs();
            if d == 0.0 {
                0.0
            } else {
                2.0 * (a - f).abs() / d
            }
        }))
}

/// Share of actuals inside `[lower, upper]`, in percent.
pub fn coverage(actual: &[f64], lower: &[f64], upper: &[f64]) -> f64 {
    100.0
        * mean(
            actual
                .iter()
                .zip(lower.iter().zip(upper))
                .map(|(a, (l, u))| f64::from(u8::from(l <= a && a <= u))),
        )
}

/// Which past day the seasonal naive forecast copies for a day falling on `weekday`.
pub fn naive_lag_days(weekday: Weekday) -> usize {
    match weekday {
        Weekday::Monday | Weekday::Saturday | Weekday::Sunday => 7,
        _ => 1,
    }
}

fn mean(values: impl Iterator<Item = f64>) -> f64 {
    let (sum, count) = values.fold((0.0, 0usize), |(s, c), v| (s + v, c + 1));
    if count == 0 {
        f64::NAN
    } else {
        sum / count as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_on_known_values() {
        assert_eq!(mae(&[1.0, 2.0, 3.0], &[2.0, 2.0, 1.0]), 1.0);
        assert!(
            (smape(&[100.0, 0.0], &[50.0, 0.0]) - 100.0 * (2.0 * 50.0 / 150.0) / 2.0).abs() < 1e-12
        );
        assert_eq!(
            coverage(
                &[1.0, 5.0, 3.0, 4.0],
                &[0.0, 0.0, 3.5, 4.0],
                &[2.0, 4.0, 4.0, 4.0]
            ),
            50.0
        );
        assert_eq!(naive_lag_days(Weekday::Monday), 7);
        assert_eq!(naive_lag_days(Weekday::Wednesday), 1);
    }
}
