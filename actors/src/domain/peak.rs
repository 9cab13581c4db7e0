//! Peak and off-peak hours: prices grouped by the region's local hour of day. Grouping by local
//! hour keeps DST days right: the skipped spring hour has no points, the repeated autumn hour two.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde::Serialize;

use super::calendar::local_hour;
use super::price::PricePoint;
use super::stats::{DERIVED_SCALE, weighted_average};

/// The evening peak, 16:00 to 19:00 local time: the band residential tariffs price up (Octopus
/// Agile's peak adder, most time-of-use tariffs). What the older stream's `is_peak` meant.
pub fn in_evening_peak(region: super::Region, at: jiff::Timestamp) -> bool {
    (16..19).contains(&local_hour(region, at))
}

/// Which local hours are dearer or cheaper than the period's average.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PeakHours {
    /// Hours whose average is more than `band_percent` above the overall average.
    pub peak_hours: Vec<i8>,
    /// Hours whose average is more than `band_percent` below the overall average.
    pub off_peak_hours: Vec<i8>,
    /// Time-weighted average per local hour (hours without data are absent).
    pub average_by_hour: BTreeMap<i8, Decimal>,
    pub overall_average: Decimal,
    /// How much dearer the peak hours are than the overall average, in percent.
    pub peak_premium_percent: Option<Decimal>,
}

/// Peak analysis of `points`, or `None` when there are none.
pub fn peak_hours(points: &[PricePoint], band_percent: Decimal) -> Option<PeakHours> {
    let region = points.first()?.region;
    let overall_average = weighted_average(points)?;
    // Per local hour: (sum of price × minutes, minutes).
    let mut by_hour: BTreeMap<i8, (Decimal, u64)> = BTreeMap::new();
    for p in points {
        let slot = by_hour.entry(local_hour(region, p.start)).or_default();
        slot.0 += p.price * Decimal::from(p.duration_minutes);
        slot.1 += u64::from(p.duration_minutes);
    }
    let average_by_hour: BTreeMap<i8, Decimal> = by_hour
        .into_iter()
        .filter(|(_, (_, minutes))| *minutes > 0)
        .map(|(h, (sum, minutes))| (h, (sum / Decimal::from(minutes)).round_dp(DERIVED_SCALE)))
        .collect();
    let band = overall_average.abs() * band_percent / Decimal::ONE_HUNDRED;
    let pick = |pred: &dyn Fn(Decimal) -> bool| -> Vec<i8> {
        average_by_hour
            .iter()
            .filter(|(_, a)| pred(**a))
            .map(|(h, _)| *h)
            .collect()
    };
    let peak = pick(&|a| a > overall_average + band);
    let off_peak = pick(&|a| a < overall_average - band);
    let peak_premium_percent = if peak.is_empty() || overall_average.is_zero() {
        None
    } else {
        let peak_avg: Decimal =
            peak.iter().map(|h| average_by_hour[h]).sum::<Decimal>() / Decimal::from(peak.len());
        Some(
            ((peak_avg - overall_average) / overall_average.abs() * Decimal::ONE_HUNDRED)
                .round_dp(2),
        )
    };
    Some(PeakHours {
        peak_hours: peak,
        off_peak_hours: off_peak,
        average_by_hour,
        overall_average,
        peak_premium_percent,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::calendar::interval_starts;
    use crate::domain::price::tests::point;
    use crate::domain::region::Region;
    use jiff::civil::date;
    use rust_decimal::dec;

    #[test]
    fn evening_hours_are_peak_and_night_hours_off_peak() {
        let points: Vec<_> = interval_starts(Region::Japan, date(2026, 5, 4))
            .map(|t| {
                let h = local_hour(Region::Japan, t);
                let price = match h {
                    17..=20 => dec!(200),
                    0..=5 => dec!(50),
                    _ => dec!(100),
                };
                point(Region::Japan, t, 60, price)
            })
            .collect();
        let peak = peak_hours(&points, dec!(10)).unwrap();
        assert_eq!(peak.peak_hours, vec![17, 18, 19, 20]);
        assert_eq!(peak.off_peak_hours, vec![0, 1, 2, 3, 4, 5]);
        assert_eq!(peak.average_by_hour.len(), 24);
        // overall = (4*200 + 6*50 + 14*100) / 24 = 104.1667
        assert_eq!(peak.overall_average, dec!(104.1667));
    }

    #[test]
    fn spring_dst_day_has_23_local_hours() {
        let points: Vec<_> = interval_starts(Region::Germany, date(2026, 3, 29))
            .map(|t| point(Region::Germany, t, 15, dec!(1)))
            .collect();
        let peak = peak_hours(&points, dec!(10)).unwrap();
        assert_eq!(peak.average_by_hour.len(), 23);
        assert!(!peak.average_by_hour.contains_key(&2));
        assert!(peak.peak_hours.is_empty());
    }
}
