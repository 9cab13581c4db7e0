//! Summary statistics and trend of a price series. Averages are weighted by interval length so a
//! series that mixes resolutions (or a DST day) is averaged over time, not over points.

use jiff::Timestamp;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::price::{EnergyUnit, PricePoint};

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

/// The statistics of a stretch of one series (one source's points of one local day, say),
/// kept so that statistics over long ranges combine a few hundred of these instead of reading
/// every point. Exact: combining the parts of a series gives its [`statistics`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartStatistics {
    pub count: u32,
    pub minutes: u32,
    pub min_price: Decimal,
    pub min_at: Timestamp,
    pub max_price: Decimal,
    pub max_at: Timestamp,
    /// Σ price × minutes, for the time-weighted average.
    pub weighted_sum: Decimal,
    pub unit: EnergyUnit,
    /// When the oldest of the points was fetched.
    pub oldest_fetch: Timestamp,
}

impl PartStatistics {
    /// The statistics of `points` (sorted by start, one unit), or `None` when there are none.
    pub fn of(points: &[PricePoint]) -> Option<Self> {
        let stats = statistics(points)?;
        let first = points.first()?;
        let mut weighted_sum = Decimal::ZERO;
        let mut minutes: u32 = 0;
        for p in points {
            weighted_sum += p.price * Decimal::from(p.duration_minutes);
            minutes = minutes.saturating_add(p.duration_minutes);
        }
        Some(PartStatistics {
            count: u32::try_from(points.len()).unwrap_or(u32::MAX),
            minutes,
            min_price: stats.min_price,
            min_at: stats.min_at,
            max_price: stats.max_price,
            max_at: stats.max_at,
            weighted_sum,
            unit: first.unit,
            oldest_fetch: points.iter().map(|p| p.fetched_at).min()?,
        })
    }

    /// The same part with prices per `unit` (exact: a factor of 1000).
    pub fn in_unit(&self, unit: EnergyUnit) -> Self {
        let scale = |d: Decimal| match (self.unit, unit) {
            (EnergyUnit::KWh, EnergyUnit::MWh) => d * Decimal::ONE_THOUSAND,
            (EnergyUnit::MWh, EnergyUnit::KWh) => d / Decimal::ONE_THOUSAND,
            _ => d,
        };
        PartStatistics {
            min_price: scale(self.min_price),
            max_price: scale(self.max_price),
            weighted_sum: scale(self.weighted_sum),
            unit,
            ..self.clone()
        }
    }
}

/// The unit most points of `parts` use (per MWh on a tie), as
/// [`harmonize_units`](super::price::harmonize_units) picks it for points.
pub fn majority_unit(parts: &[PartStatistics]) -> EnergyUnit {
    let total: u64 = parts.iter().map(|p| u64::from(p.count)).sum();
    let per_kwh: u64 = parts
        .iter()
        .filter(|p| p.unit == EnergyUnit::KWh)
        .map(|p| u64::from(p.count))
        .sum();
    if per_kwh * 2 > total {
        EnergyUnit::KWh
    } else {
        EnergyUnit::MWh
    }
}

/// Statistics of consecutive parts of one series, given in time order, in their
/// [`majority_unit`].
pub fn combine(parts: &[PartStatistics]) -> Option<PriceStatistics> {
    let unit = majority_unit(parts);
    let mut parts = parts.iter().map(|p| p.in_unit(unit));
    let first = parts.next()?;
    let mut out = PriceStatistics {
        count: first.count as usize,
        min_price: first.min_price,
        min_at: first.min_at,
        max_price: first.max_price,
        max_at: first.max_at,
        avg_price: Decimal::ZERO,
    };
    let mut weighted_sum = first.weighted_sum;
    let mut minutes = u64::from(first.minutes);
    for part in parts {
        out.count += part.count as usize;
        // Strictly smaller or larger: on a tie the earlier part's instant stays, as in
        // `statistics`.
        if part.min_price < out.min_price {
            out.min_price = part.min_price;
            out.min_at = part.min_at;
        }
        if part.max_price > out.max_price {
            out.max_price = part.max_price;
            out.max_at = part.max_at;
        }
        weighted_sum += part.weighted_sum;
        minutes += u64::from(part.minutes);
    }
    if minutes == 0 {
        return None;
    }
    out.avg_price = (weighted_sum / Decimal::from(minutes)).round_dp(DERIVED_SCALE);
    Some(out)
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
    fn combined_parts_give_the_statistics_of_the_whole_series() {
        let prices = [
            dec!(10),
            dec!(-5),
            dec!(30),
            dec!(5),
            dec!(-5),
            dec!(30),
            dec!(7.25),
            dec!(0.001),
        ];
        let mut points = series(&prices, 60);
        // One part quoted per kWh: combining converts it back exactly.
        for p in &mut points[6..] {
            p.price /= dec!(1000);
            p.unit = EnergyUnit::KWh;
        }
        let whole = statistics(&crate::domain::price::harmonize_units(points.clone())).unwrap();
        let parts: Vec<PartStatistics> = [&points[..3], &points[3..6], &points[6..]]
            .iter()
            .map(|part| PartStatistics::of(part).unwrap())
            .collect();
        assert_eq!(combine(&parts), Some(whole.clone()));
        // Ties keep the earliest instant, as `statistics` does.
        assert_eq!(whole.min_at, points[1].start);
        assert_eq!(whole.max_at, points[2].start);
        assert_eq!(combine(&[]), None);
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
