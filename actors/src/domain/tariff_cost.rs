//! Annual cost of tariffs for a consumption profile: standing charge plus energy priced interval
//! by interval, ranked. One pass over the intervals serves every tariff: each interval's local
//! time and consumption are found once; rates that depend only on the local time (fixed,
//! variable, time of use) are applied per weekday-and-quarter-hour bucket afterwards, and only
//! wholesale-tracking tariffs are priced per interval.

use jiff::Timestamp;
use jiff::civil::{Time, Weekday};
use jiff::tz::TimeZone;
use rust_decimal::Decimal;

use super::tariff::{Rates, local_start, rate_from_units, wholesale_units};

/// Share of a day's consumption in each local hour (sums to 1). `HOUSEHOLD` is a typical
/// domestic day: low overnight, a morning rise, an evening peak at 18:00–20:00. It is modelled
/// on the shape of Elexon's domestic profile class 1 and is illustrative, not settlement data.
pub const HOUSEHOLD: [f64; 24] = [
    0.030, 0.024, 0.021, 0.020, 0.020, 0.022, 0.030, 0.042, 0.046, 0.043, 0.041, 0.041, //
    0.042, 0.041, 0.040, 0.042, 0.049, 0.060, 0.068, 0.068, 0.062, 0.054, 0.046, 0.038,
];

/// A typical household's yearly consumption in `region` when the user gives none, and what the
/// figure rests on.
pub fn default_annual_kwh(region: super::Region) -> (f64, &'static str) {
    use super::Region::*;
    match region {
        Uk => (
            2700.0,
            "Ofgem's typical domestic consumption value (medium, electricity): 2,700 kWh a year",
        ),
        Germany => (
            3500.0,
            "an assumed three-to-four person German household: 3,500 kWh a year",
        ),
        France | Spain | Italy | Netherlands | Belgium => (
            3000.0,
            "an assumed typical European household: 3,000 kWh a year",
        ),
        UsCt | UsCa | UsTx | UsNy | UsFl => (
            10_600.0,
            "about the EIA's average US residential consumption: 10,600 kWh a year",
        ),
        Australia => (
            5000.0,
            "an assumed typical Australian household: 5,000 kWh a year",
        ),
        Japan => (
            4000.0,
            "an assumed typical Japanese household: 4,000 kWh a year",
        ),
    }
}

/// How consumption spreads over the day.
#[derive(Debug, Clone, PartialEq)]
pub struct DailyShape {
    /// Weights per local hour, summing to 1.
    pub hourly: [f64; 24],
}

impl DailyShape {
    /// The same every hour.
    pub fn flat() -> Self {
        DailyShape {
            hourly: [1.0 / 24.0; 24],
        }
    }

    /// [`HOUSEHOLD`], normalised.
    pub fn household() -> Self {
        Self::from_weights(HOUSEHOLD).expect("the household shape has weight")
    }

    /// Weights normalised to sum to 1; `None` when they sum to nothing or one is negative.
    pub fn from_weights(weights: [f64; 24]) -> Option<Self> {
        let total: f64 = weights.iter().sum();
        if !total.is_finite() || total <= 0.0 || weights.iter().any(|w| *w < 0.0 || !w.is_finite())
        {
            return None;
        }
        Some(DailyShape {
            hourly: weights.map(|w| w / total),
        })
    }

    /// The shape of a metered series (`(start, kWh)` of each interval, any length): the mean
    /// consumption per local hour, normalised; plus the series' total and the days it spans.
    pub fn from_series(series: &[(Timestamp, f64)], zone: &TimeZone) -> Option<(Self, f64, f64)> {
        let mut sums = [0.0f64; 24];
        let mut total = 0.0;
        for (start, kwh) in series {
            let hour = start.to_zoned(zone.clone()).hour() as usize;
            sums[hour] += kwh;
            total += kwh;
        }
        let first = series.iter().map(|(s, _)| *s).min()?;
        let last = series.iter().map(|(s, _)| *s).max()?;
        // The span of the series, counting the last interval (assumed as long as the typical
        // spacing).
        let step = if series.len() > 1 {
            last.duration_since(first).as_secs_f64() / (series.len() - 1) as f64
        } else {
            3600.0
        };
        let days = (last.duration_since(first).as_secs_f64() + step) / 86_400.0;
        Self::from_weights(sums).map(|shape| (shape, total, days))
    }
}

/// A year's consumption and its shape.
#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    pub annual_kwh: Decimal,
    pub shape: DailyShape,
}

/// One interval of the period the tariffs are priced over, with the wholesale price per kWh
/// in the region's currency when one is stored.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Interval {
    pub start: Timestamp,
    pub minutes: u32,
    pub wholesale_per_kwh: Option<Decimal>,
}

/// A tariff's terms as the comparison needs them.
#[derive(Debug, Clone, PartialEq)]
pub struct Terms<'a> {
    pub rates: &'a Rates,
    /// Per day, in the tariff's currency.
    pub standing_charge: Decimal,
}

/// A tariff's yearly cost.
#[derive(Debug, Clone, PartialEq)]
pub struct AnnualCost {
    pub energy: Decimal,
    pub standing: Decimal,
    pub total: Decimal,
    pub per_kwh: Decimal,
}

/// Why a tariff has no cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unpriced {
    /// It tracks the wholesale price and no interval of the period has one.
    NoWholesalePrices,
}

/// The yearly cost of each tariff (in order) for `profile`, priced over `intervals` (their
/// energy cost scaled to the profile's annual kWh, so a period shorter than a year still gives a
/// yearly figure). Intervals of a wholesale-tracking tariff without a price are left out of its
/// sum and its scale.
pub fn annual_costs(
    tariffs: &[Terms<'_>],
    profile: &Profile,
    intervals: &[Interval],
    zone: &TimeZone,
) -> Vec<Result<AnnualCost, Unpriced>> {
    let annual_kwh = profile.annual_kwh;
    let daily = annual_kwh.try_into().unwrap_or(0.0f64) / 365.0;
    let pricers: Vec<_> = tariffs.iter().map(|t| t.rates.pricer()).collect();
    // Consumption per (weekday, local minute of the day): local-time tariffs are priced per
    // slot afterwards; the wholesale-tracking ones per interval here.
    let mut slots = vec![Decimal::ZERO; 7 * 1440];
    let tracking: Vec<usize> = (0..tariffs.len())
        .filter(|i| tariffs[*i].rates.tariff_type().tracks_wholesale())
        .collect();
    // Per tracking tariff, the sum of its rates per consumption class (an interval's length and
    // local hour fix its kWh): Σ rate × kWh becomes Σ kWh_class × Σ rate, one addition per
    // interval and tariff instead of a multiplication as well.
    let mut rate_sums: Vec<Vec<i128>> = vec![Vec::new(); tariffs.len()];
    let mut tracked_kwh = Decimal::ZERO;
    let mut all_kwh = Decimal::ZERO;
    // kWh of an interval by its local hour and length, worked out once per pair.
    let mut kwh_of: Vec<(u32, [Decimal; 24])> = Vec::new();
    for interval in intervals {
        let (day, at) = local_start(interval.start, zone);
        let class = kwh_of.iter().position(|(m, _)| *m == interval.minutes);
        let (class, per_hour) = match class {
            Some(class) => (class, &kwh_of[class].1),
            None => {
                let minutes = f64::from(interval.minutes);
                let table = std::array::from_fn(|h| {
                    Decimal::try_from(daily * profile.shape.hourly[h] * minutes / 60.0)
                        .unwrap_or(Decimal::ZERO)
                        .round_dp(6)
                });
                kwh_of.push((interval.minutes, table));
                (kwh_of.len() - 1, &kwh_of.last().expect("just pushed").1)
            }
        };
        let kwh = per_hour[at.hour() as usize];
        let class = class * 24 + at.hour() as usize;
        let slot = day.to_monday_zero_offset() as usize * 1440
            + at.hour() as usize * 60
            + at.minute() as usize;
        slots[slot] += kwh;
        all_kwh += kwh;
        if let Some(wholesale) = interval.wholesale_per_kwh {
            tracked_kwh += kwh;
            // Fixed-point: the same rates `unit_rate` gives, without Decimal arithmetic in the
            // loop that runs once per interval and tariff.
            let wholesale = wholesale_units(wholesale);
            for &i in &tracking {
                let rate = pricers[i].tracking_units(at, wholesale).unwrap_or(0);
                let sums = &mut rate_sums[i];
                if sums.len() <= class {
                    sums.resize(class + 1, 0);
                }
                sums[class] += rate;
            }
        }
    }
    let weekdays = [
        Weekday::Monday,
        Weekday::Tuesday,
        Weekday::Wednesday,
        Weekday::Thursday,
        Weekday::Friday,
        Weekday::Saturday,
        Weekday::Sunday,
    ];
    let filled: Vec<(Weekday, Time, Decimal)> = slots
        .iter()
        .enumerate()
        .filter(|(_, kwh)| !kwh.is_zero())
        .map(|(slot, kwh)| {
            let minute = slot % 1440;
            let time = Time::new((minute / 60) as i8, (minute % 60) as i8, 0, 0)
                .expect("a minute of the day");
            (weekdays[slot / 1440], time, *kwh)
        })
        .collect();
    tariffs
        .iter()
        .enumerate()
        .map(|(i, terms)| {
            let (energy, kwh) = if terms.rates.tariff_type().tracks_wholesale() {
                let energy: Decimal = rate_sums[i]
                    .iter()
                    .enumerate()
                    .map(|(class, sum)| {
                        let rates = rate_from_units(*sum).unwrap_or(Decimal::MAX);
                        kwh_of[class / 24].1[class % 24] * rates
                    })
                    .sum::<Decimal>()
                    * pricers[i].vat_factor();
                (energy, tracked_kwh)
            } else {
                let energy = filled
                    .iter()
                    .map(|(day, at, kwh)| {
                        pricers[i].unit_rate(*day, *at, None).unwrap_or_default() * kwh
                    })
                    .sum();
                (energy, all_kwh)
            };
            if kwh.is_zero() {
                return Err(Unpriced::NoWholesalePrices);
            }
            let energy = (energy * annual_kwh / kwh).round_dp(2);
            let standing = (terms.standing_charge * Decimal::from(365)).round_dp(2);
            let total = energy + standing;
            let per_kwh = if annual_kwh.is_zero() {
                Decimal::ZERO
            } else {
                (total / annual_kwh).round_dp(4)
            };
            Ok(AnnualCost {
                energy,
                standing,
                total,
                per_kwh,
            })
        })
        .collect()
}

/// Hourly intervals of the `days` local days before `end`, without prices: the calendar fixed,
/// variable and time-of-use tariffs are priced over when no prices are stored.
pub fn calendar(end: Timestamp, days: i64) -> Vec<Interval> {
    let hours = days * 24;
    (0..hours)
        .map(|h| Interval {
            start: end - jiff::SignedDuration::from_hours(hours - h),
            minutes: 60,
            wholesale_per_kwh: None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::tariff::{Days, RatePeriod};
    use rust_decimal::dec;

    fn hours(from: &str, n: i64, price: Option<Decimal>) -> Vec<Interval> {
        let start: Timestamp = from.parse().unwrap();
        (0..n)
            .map(|h| Interval {
                start: start + jiff::SignedDuration::from_hours(h),
                minutes: 60,
                wholesale_per_kwh: price,
            })
            .collect()
    }

    fn flat(kwh: Decimal) -> Profile {
        Profile {
            annual_kwh: kwh,
            shape: DailyShape::flat(),
        }
    }

    #[test]
    fn a_flat_tariff_costs_rate_times_kwh_plus_standing_charge() {
        let rates = Rates::Variable {
            unit_rate: dec!(0.2635),
        };
        let terms = [Terms {
            rates: &rates,
            standing_charge: dec!(0.5368),
        }];
        let utc = TimeZone::UTC;
        let cost = annual_costs(
            &terms,
            &flat(dec!(2700)),
            &hours("2026-01-01T00:00:00Z", 24 * 7, None),
            &utc,
        );
        // 2 700 kWh × 0.2635 = 711.45; 365 × 0.5368 = 195.932 → 195.93.
        let cost = cost[0].clone().unwrap();
        assert_eq!(cost.energy, dec!(711.45));
        assert_eq!(cost.standing, dec!(195.93));
        assert_eq!(cost.total, dec!(907.38));
        assert_eq!(cost.per_kwh, dec!(0.3361));
    }

    #[test]
    fn time_of_use_weighs_each_period_by_its_share_of_consumption_across_dst_days() {
        let rates = Rates::TimeOfUse {
            periods: vec![RatePeriod {
                days: Days::All,
                from: Time::new(0, 0, 0, 0).unwrap(),
                to: Time::new(6, 0, 0, 0).unwrap(),
                unit_rate: dec!(0.10),
            }],
            default_rate: dec!(0.40),
        };
        let terms = [Terms {
            rates: &rates,
            standing_charge: Decimal::ZERO,
        }];
        let london = TimeZone::get("Europe/London").unwrap();
        // The 23-hour day 2026-03-29 (local 01:00 is skipped) and the 25-hour day 2026-10-25
        // (local 01:00 twice): flat consumption per local hour, so the skipped hour's share is
        // lost and the repeated hour's is counted twice.
        for (start, n, night_hours) in [
            ("2026-03-29T00:00:00Z", 23, 5), // local 00,02,03,04,05 (01 skipped)
            ("2026-10-24T23:00:00Z", 25, 7), // local 00,01,01,02,03,04,05
        ] {
            let cost = annual_costs(&terms, &flat(dec!(3650)), &hours(start, n, None), &london)[0]
                .clone()
                .unwrap();
            // Energy scales to 3 650 kWh at the day's mix of night and day hours.
            let night = Decimal::from(night_hours);
            let day = Decimal::from(n) - night;
            let expected = dec!(3650) * (night * dec!(0.10) + day * dec!(0.40)) / Decimal::from(n);
            assert!(
                (cost.energy - expected).abs() < dec!(0.01),
                "{start}: {} vs {expected}",
                cost.energy
            );
        }
    }

    #[test]
    fn dynamic_tariffs_follow_prices_including_negative_ones_and_need_them() {
        let dynamic = Rates::Dynamic {
            factor: dec!(1),
            margin: dec!(0.10),
            cap: None,
            floor: None,
        };
        let fixed = Rates::Fixed {
            unit_rate: dec!(0.25),
        };
        let terms = [
            Terms {
                rates: &dynamic,
                standing_charge: dec!(0.40),
            },
            Terms {
                rates: &fixed,
                standing_charge: dec!(0.40),
            },
        ];
        // Half the hours at -0.05/kWh, half at 0.15/kWh: mean rate 0.15.
        let mut intervals = hours("2026-06-01T00:00:00Z", 24, Some(dec!(-0.05)));
        intervals.extend(hours("2026-06-02T00:00:00Z", 24, Some(dec!(0.15))));
        let costs = annual_costs(&terms, &flat(dec!(1000)), &intervals, &TimeZone::UTC);
        assert_eq!(costs[0].clone().unwrap().energy, dec!(150.00));
        assert_eq!(costs[1].clone().unwrap().energy, dec!(250.00));
        // Without any wholesale price the dynamic tariff has no cost; the fixed one still does.
        let costs = annual_costs(
            &terms,
            &flat(dec!(1000)),
            &hours("2026-06-01T00:00:00Z", 24, None),
            &TimeZone::UTC,
        );
        assert_eq!(costs[0], Err(Unpriced::NoWholesalePrices));
        assert!(costs[1].is_ok());
    }

    #[test]
    fn a_series_gives_its_shape_total_and_span() {
        let start: Timestamp = "2026-01-05T00:00:00Z".parse().unwrap();
        let series: Vec<(Timestamp, f64)> = (0..48)
            .map(|h| {
                let at = start + jiff::SignedDuration::from_hours(h);
                (at, if h % 24 == 18 { 3.0 } else { 0.5 })
            })
            .collect();
        let (shape, total, days) = DailyShape::from_series(&series, &TimeZone::UTC).unwrap();
        assert!((total - (2.0 * 3.0 + 46.0 * 0.5)).abs() < 1e-9);
        assert!((days - 2.0).abs() < 1e-9);
        assert!((shape.hourly[18] - 3.0 / 14.5).abs() < 1e-9);
        assert!((shape.hourly.iter().sum::<f64>() - 1.0).abs() < 1e-9);
        assert_eq!(DailyShape::from_series(&[], &TimeZone::UTC), None);
        assert!(DailyShape::from_weights([0.0; 24]).is_none());
    }
}
