//! Summary statistics and trend of a price series. Averages are weighted by interval length so a
//! series that mixes resolutions (or a DST day) is averaged over time, not over points.

use jiff::Timestamp;
use rust_decimal::Decimal;
use serde::Serialize;

use super::price::PricePoint;

/// Decimal places kept in derived averages and percentages.
pub const DERIVED_SCALE: u32 = 4;

/// Min, max, time-weighted average and count of a series.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PriceStatistics {
    pub count: usize,
    pub min_price: Decimal,
    pub min_at: Timestamp,
    pub max_price: Decimal,
    pub max_at: Timestamp,
    pub avg_price: Decimal,
}

/// Statistics of `points`, or `None` when there are none.
pub fn statistics(points: &[PricePoint]) -> Option<PriceStatistics> {
    let first = points.first()?;
    let (mut min, mut max) = (first, first);
    for p in points {
        if p.price < min.price {
            min = p;
        }
        if p.price > max.price {
            max = p;
        }
    }
    Some(PriceStatistics {
        count: points.len(),
        min_price: min.price,
        min_at: min.start,
        max_price: max.price,
        max_at: max.start,
        avg_price: weighted_average(points)?,
    })
}

/// Time-weighted average price of `points` (rounded to [`DERIVED_SCALE`] places).
pub fn weighted_average(points: &[PricePoint]) -> Option<Decimal> {
    let mut total = Decimal::ZERO;
    let mut minutes: u64 = 0;
    for p in points {
        total += p.price * Decimal::from(p.duration_minutes);
        minutes += u64::from(p.duration_minutes);
    }
    (minutes > 0).then(|| (total / Decimal::from(minutes)).round_dp(DERIVED_SCALE))
}

/// Which way prices moved over a period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TrendDirection {
    Increasing,
    Decreasing,
    Stable,
}

/// Movement of prices between the first and the last third of a period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PriceTrend {
    pub direction: TrendDirection,
    /// Change from `start_price` to `end_price` in percent; `None` when `start_price` is zero.
    pub change_percent: Option<Decimal>,
    /// Average of the first third of the period.
    pub start_price: Decimal,
    /// Average of the last third of the period.
    pub end_price: Decimal,
    pub data_points: usize,
}

/// The trend of a series sorted by start: the average of its first third against the average of
/// its last third. A change beyond `threshold_percent` either way is a direction, else `Stable`.
/// Needs at least three points.
pub fn trend(points: &[PricePoint], threshold_percent: Decimal) -> Option<PriceTrend> {
    if points.len() < 3 {
        return None;
    }
    let third = points.len() / 3;
    let start_price = weighted_average(&points[..third])?;
    let end_price = weighted_average(&points[points.len() - third..])?;
    let change_percent = (!start_price.is_zero()).then(|| {
        ((end_price - start_price) / start_price.abs() * Decimal::ONE_HUNDRED).round_dp(2)
    });
    let delta = end_price - start_price;
    let band = start_price.abs() * threshold_percent / Decimal::ONE_HUNDRED;
    let direction = if delta > band {
        TrendDirection::Increasing
    } else if delta < -band {
        TrendDirection::Decreasing
    } else {
        TrendDirection::Stable
    };
    Some(PriceTrend {
        direction,
        change_percent,
        start_price,
        end_price,
        data_points: points.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::dec;

    fn series(prices: &[Decimal], minutes: u32) -> Vec<PricePoint> {
        crate::domain::price::tests::series(prices.iter().copied(), minutes)
    }

    #[test]
    fn statistics_find_extremes_and_average() {
        let s = statistics(&series(&[dec!(10), dec!(-5), dec!(30), dec!(5)], 60)).unwrap();
        assert_eq!(s.count, 4);
        assert_eq!(s.min_price, dec!(-5));
        assert_eq!(s.max_price, dec!(30));
        assert_eq!(s.avg_price, dec!(10));
        assert_eq!(s.max_at, "2026-01-01T02:00:00Z".parse().unwrap());
        assert!(statistics(&[]).is_none());
    }

    #[test]
    fn average_is_weighted_by_duration() {
        let mut points = series(&[dec!(10)], 60);
        points.extend(series(&[dec!(40)], 15));
        // (10*60 + 40*15) / 75 = 16
        assert_eq!(weighted_average(&points), Some(dec!(16)));
    }

    #[test]
    fn trend_compares_first_and_last_thirds() {
        let up = trend(
            &series(
                &[dec!(10), dec!(10), dec!(12), dec!(12), dec!(15), dec!(15)],
                60,
            ),
            dec!(5),
        )
        .unwrap();
        assert_eq!(up.direction, TrendDirection::Increasing);
        assert_eq!(up.change_percent, Some(dec!(50)));
        let flat = trend(&series(&[dec!(10), dec!(11), dec!(10.2)], 60), dec!(5)).unwrap();
        assert_eq!(flat.direction, TrendDirection::Stable);
        let down = trend(&series(&[dec!(-10), dec!(0), dec!(-20)], 60), dec!(5)).unwrap();
        assert_eq!(down.direction, TrendDirection::Decreasing);
        assert_eq!(down.change_percent, Some(dec!(-100)));
        assert!(trend(&series(&[dec!(1), dec!(2)], 60), dec!(5)).is_none());
    }
}
