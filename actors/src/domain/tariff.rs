//! Retail tariffs and the one pricing function that prices any of them for any interval.
//!
//! Money is in the tariff's currency, major units (GBP, EUR …) per kWh, exact decimals. Wholesale
//! day-ahead prices arrive per MWh (or per kWh) in the region's currency and are converted to per
//! kWh here; a tariff in another currency than its region's wholesale price cannot track it (no
//! exchange rates are held), which validation refuses.
//!
//! Local time decides time-of-use periods and the agile peak: an interval is priced by the local
//! wall-clock time at its start, so a 23-hour or 25-hour day has one hour fewer or more of
//! whichever period covers the shifted hour, and nothing else moves.

use jiff::Timestamp;
use jiff::civil::{Time, Weekday};
use jiff::tz::TimeZone;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::price::{Currency, EnergyUnit};
use super::region::Region;

/// How a tariff's unit rate is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TariffType {
    Fixed,
    Variable,
    TimeOfUse,
    Dynamic,
    Agile,
}

impl TariffType {
    pub const ALL: [TariffType; 5] = [
        TariffType::Fixed,
        TariffType::Variable,
        TariffType::TimeOfUse,
        TariffType::Dynamic,
        TariffType::Agile,
    ];

    /// The name used in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            TariffType::Fixed => "fixed",
            TariffType::Variable => "variable",
            TariffType::TimeOfUse => "time_of_use",
            TariffType::Dynamic => "dynamic",
            TariffType::Agile => "agile",
        }
    }

    /// Whether its rate follows the wholesale price.
    pub fn tracks_wholesale(self) -> bool {
        matches!(self, TariffType::Dynamic | TariffType::Agile)
    }
}

impl std::str::FromStr for TariffType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        TariffType::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| {
                format!("unknown tariff type {s:?} (fixed, variable, time_of_use, dynamic, agile)")
            })
    }
}

/// Which days a time-of-use period applies on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Days {
    All,
    Weekdays,
    Weekends,
}

impl Days {
    fn includes(self, day: Weekday) -> bool {
        let weekend = matches!(day, Weekday::Saturday | Weekday::Sunday);
        match self {
            Days::All => true,
            Days::Weekdays => !weekend,
            Days::Weekends => weekend,
        }
    }
}

/// One time-of-use period: `[from, to)` local time (wrapping past midnight when `to <= from`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RatePeriod {
    pub days: Days,
    #[serde(with = "hh_mm")]
    pub from: Time,
    #[serde(with = "hh_mm")]
    pub to: Time,
    pub unit_rate: Decimal,
}

impl RatePeriod {
    fn covers(&self, day: Weekday, at: Time) -> bool {
        let within = if self.from < self.to {
            self.from <= at && at < self.to
        } else {
            at >= self.from || at < self.to
        };
        // A period wrapping past midnight belongs to the day it started on.
        let day = if self.from >= self.to && at < self.to {
            day.previous()
        } else {
            day
        };
        within && self.days.includes(day)
    }
}

/// The rate rule of a tariff, by type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Rates {
    /// One unit rate, fixed for the contract.
    Fixed { unit_rate: Decimal },
    /// One unit rate the supplier may change (a price cap level, a standard variable tariff).
    Variable { unit_rate: Decimal },
    /// Rates by local time and weekday; the first period covering an instant wins, else
    /// `default_rate`.
    TimeOfUse {
        periods: Vec<RatePeriod>,
        default_rate: Decimal,
    },
    /// Wholesale per kWh × `factor` + `margin`, within `[floor, cap]`.
    Dynamic {
        factor: Decimal,
        margin: Decimal,
        #[serde(default)]
        cap: Option<Decimal>,
        #[serde(default)]
        floor: Option<Decimal>,
    },
    /// Octopus-style: (wholesale per MWh / 1000 × `multiplier` + `peak_adder` in the peak
    /// window), at most `cap`, then VAT (`vat_percent`). Per MWh / 10 is pence per kWh: the
    /// published formula's "wholesale/10", here in major units.
    Agile {
        multiplier: Decimal,
        peak_adder: Decimal,
        #[serde(with = "hh_mm")]
        peak_from: Time,
        #[serde(with = "hh_mm")]
        peak_to: Time,
        cap: Decimal,
        vat_percent: Decimal,
    },
}

impl Rates {
    /// The tariff type these rates belong to.
    pub fn tariff_type(&self) -> TariffType {
        match self {
            Rates::Fixed { .. } => TariffType::Fixed,
            Rates::Variable { .. } => TariffType::Variable,
            Rates::TimeOfUse { .. } => TariffType::TimeOfUse,
            Rates::Dynamic { .. } => TariffType::Dynamic,
            Rates::Agile { .. } => TariffType::Agile,
        }
    }

    /// The unit rate (per kWh) of an interval starting at local `day`/`at`, given the wholesale
    /// price per kWh then (needed by dynamic and agile; `None` when it is not known).
    pub fn unit_rate(
        &self,
        day: Weekday,
        at: Time,
        wholesale_per_kwh: Option<Decimal>,
    ) -> Option<Decimal> {
        self.pricer().unit_rate(day, at, wholesale_per_kwh)
    }

    /// These rates with their constants worked out once, for pricing many intervals.
    pub fn pricer(&self) -> Pricer<'_> {
        let vat_factor = match self {
            Rates::Agile { vat_percent, .. } => {
                (Decimal::ONE_HUNDRED + vat_percent) / Decimal::ONE_HUNDRED
            }
            _ => Decimal::ONE,
        };
        let nano = |d: &Decimal| fixed(*d, NANO_DIGITS);
        let atto = |d: &Decimal| fixed(*d, 2 * NANO_DIGITS);
        let tracking = match self {
            Rates::Dynamic {
                factor,
                margin,
                cap,
                floor,
            } => Some(Tracking::Dynamic {
                factor: nano(factor),
                margin: atto(margin),
                cap: cap.as_ref().map(atto),
                floor: floor.as_ref().map(atto),
            }),
            Rates::Agile {
                multiplier,
                peak_adder,
                peak_from,
                peak_to,
                cap,
                ..
            } => Some(Tracking::Agile {
                multiplier: nano(multiplier),
                peak_adder: atto(peak_adder),
                peak_from: *peak_from,
                peak_to: *peak_to,
                cap: atto(cap),
            }),
            _ => None,
        };
        Pricer {
            rates: self,
            vat_factor,
            tracking,
        }
    }

    /// What is wrong with these rates, if anything (each message names the field).
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let mut non_negative = |name: &str, value: &Decimal| {
            if value.is_sign_negative() && !value.is_zero() {
                problems.push(format!("{name} must not be negative"));
            }
            if value.normalize().scale() > NANO_DIGITS {
                problems.push(format!("{name} must have at most {NANO_DIGITS} decimals"));
            }
        };
        match self {
            Rates::Fixed { unit_rate } | Rates::Variable { unit_rate } => {
                non_negative("unit_rate", unit_rate)
            }
            Rates::TimeOfUse {
                periods,
                default_rate,
            } => {
                non_negative("default_rate", default_rate);
                for p in periods {
                    non_negative("periods.unit_rate", &p.unit_rate);
                }
                if periods.iter().any(|p| p.from == p.to) {
                    problems.push("a period's from and to must differ".into());
                }
            }
            Rates::Dynamic {
                factor, cap, floor, ..
            } => {
                non_negative("factor", factor);
                if let (Some(cap), Some(floor)) = (cap, floor)
                    && cap < floor
                {
                    problems.push("cap must not be below floor".into());
                }
            }
            Rates::Agile {
                multiplier,
                peak_from,
                peak_to,
                vat_percent,
                ..
            } => {
                non_negative("multiplier", multiplier);
                non_negative("vat_percent", vat_percent);
                if peak_from >= peak_to {
                    problems.push("peak_from must be before peak_to".into());
                }
            }
        }
        problems
    }
}

/// Decimal places of the fixed-point form of tracking rates: wholesale prices per kWh and the
/// rates' coefficients in nano-units (a price per MWh to the micro-unit), their products in
/// atto-units. Exact for every figure with at most nine decimals (validation keeps rates so;
/// a wholesale price with more is rounded to the nano-unit), and in `i128` two orders of
/// magnitude clear of overflow for a year of intervals.
const NANO_DIGITS: u32 = 9;

/// `value` × 10^`digits` as an integer, rounded to that many places.
fn fixed(value: Decimal, digits: u32) -> i128 {
    let rounded = value.round_dp(digits);
    rounded.mantissa() * 10i128.pow(digits - rounded.scale())
}

/// A wholesale price per kWh in the fixed-point form [`Pricer::tracking_units`] takes.
pub fn wholesale_units(per_kwh: Decimal) -> i128 {
    fixed(per_kwh, NANO_DIGITS)
}

/// Atto-units of [`Pricer::tracking_units`] (or a sum of them) as a decimal; `None` beyond the
/// decimal's range.
pub fn rate_from_units(units: i128) -> Option<Decimal> {
    Decimal::try_from_i128_with_scale(units, 2 * NANO_DIGITS)
        .ok()
        .map(|d| d.normalize())
}

/// The fixed-point coefficients of a wholesale-tracking rate (see [`NANO_DIGITS`]).
#[derive(Debug, Clone, Copy)]
enum Tracking {
    Dynamic {
        factor: i128,
        margin: i128,
        cap: Option<i128>,
        floor: Option<i128>,
    },
    Agile {
        multiplier: i128,
        peak_adder: i128,
        peak_from: Time,
        peak_to: Time,
        cap: i128,
    },
}

/// [`Rates`] ready to price many intervals: the one pricing function.
#[derive(Debug, Clone, Copy)]
pub struct Pricer<'a> {
    rates: &'a Rates,
    /// `1 + vat_percent / 100` for agile rates, 1 otherwise.
    vat_factor: Decimal,
    tracking: Option<Tracking>,
}

impl Pricer<'_> {
    /// The unit rate (per kWh) of an interval starting at local `day`/`at`, given the wholesale
    /// price per kWh then (needed by dynamic and agile; `None` when it is not known).
    pub fn unit_rate(
        &self,
        day: Weekday,
        at: Time,
        wholesale_per_kwh: Option<Decimal>,
    ) -> Option<Decimal> {
        match self.rates {
            Rates::Fixed { unit_rate } | Rates::Variable { unit_rate } => Some(*unit_rate),
            Rates::TimeOfUse {
                periods,
                default_rate,
            } => Some(
                periods
                    .iter()
                    .find(|p| p.covers(day, at))
                    .map_or(*default_rate, |p| p.unit_rate),
            ),
            Rates::Dynamic { .. } | Rates::Agile { .. } => {
                let units = self.tracking_units(at, wholesale_units(wholesale_per_kwh?))?;
                Some(rate_from_units(units)? * self.vat_factor)
            }
        }
    }

    /// A tracking rate before VAT in atto-units (per kWh) for a wholesale price in nano-units
    /// ([`wholesale_units`]); `None` for rates that do not track. Multiply by
    /// [`Pricer::vat_factor`] after summing.
    pub fn tracking_units(&self, at: Time, wholesale: i128) -> Option<i128> {
        Some(match self.tracking? {
            Tracking::Dynamic {
                factor,
                margin,
                cap,
                floor,
            } => {
                let mut rate = wholesale * factor + margin;
                if let Some(cap) = cap {
                    rate = rate.min(cap);
                }
                if let Some(floor) = floor {
                    rate = rate.max(floor);
                }
                rate
            }
            Tracking::Agile {
                multiplier,
                peak_adder,
                peak_from,
                peak_to,
                cap,
            } => {
                let peak = if peak_from <= at && at < peak_to {
                    peak_adder
                } else {
                    0
                };
                (wholesale * multiplier + peak).min(cap)
            }
        })
    }

    /// What VAT multiplies a rate by (1 unless the rates add it).
    pub fn vat_factor(&self) -> Decimal {
        self.vat_factor
    }
}

/// Contract lengths a tariff may have.
pub const CONTRACT_LENGTHS: [&str; 5] = ["monthly", "annual", "two_year", "three_year", "rolling"];

/// Every problem of a tariff's terms in `region`, each starting with the field it is about.
pub fn check_terms(
    region: Region,
    currency: &str,
    rates: &Rates,
    standing_charge: Decimal,
    exit_fee: Decimal,
    green_share: u8,
    contract_length: &str,
) -> Vec<String> {
    let mut problems = Vec::new();
    match currency.parse::<Currency>() {
        Err(_) => problems.push(format!(
            "currency: {currency:?} is not one of GBP, EUR, USD, AUD, JPY"
        )),
        Ok(currency) if rates.tariff_type().tracks_wholesale() && currency != region.currency() => {
            problems.push(format!(
                "currency: a {} tariff tracks {}'s wholesale price and must be in its currency",
                rates.tariff_type().as_str(),
                region.code()
            ))
        }
        Ok(_) => {}
    }
    if standing_charge.is_sign_negative() && !standing_charge.is_zero() {
        problems.push("standing_charge: must not be negative".into());
    }
    if exit_fee.is_sign_negative() && !exit_fee.is_zero() {
        problems.push("exit_fee: must not be negative".into());
    }
    if green_share > 100 {
        problems.push("green_share: must be 0 to 100".into());
    }
    if !CONTRACT_LENGTHS.contains(&contract_length) {
        problems.push(format!(
            "contract_length: must be one of {}",
            CONTRACT_LENGTHS.join(", ")
        ));
    }
    problems.extend(rates.problems().into_iter().map(|p| format!("rates.{p}")));
    problems
}

/// A wholesale price per `unit` as a price per kWh.
pub fn per_kwh(price: Decimal, unit: EnergyUnit) -> Decimal {
    match unit {
        EnergyUnit::KWh => price,
        // Three more decimal places is the exact division by 1 000, without dividing.
        EnergyUnit::MWh => {
            let mut per_kwh = price;
            match per_kwh.set_scale(price.scale() + 3) {
                Ok(()) => per_kwh,
                Err(_) => price / Decimal::ONE_THOUSAND,
            }
        }
    }
}

/// The local weekday and wall-clock time at which an interval starting at `start` begins.
pub fn local_start(start: Timestamp, zone: &TimeZone) -> (Weekday, Time) {
    let local = zone.to_datetime(start);
    (local.weekday(), local.time())
}

/// `HH:MM` local times.
mod hh_mm {
    use jiff::civil::Time;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(time: &Time, s: S) -> Result<S::Ok, S::Error> {
        if *time == Time::MAX {
            return s.serialize_str("24:00");
        }
        s.serialize_str(&format!("{:02}:{:02}", time.hour(), time.minute()))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Time, D::Error> {
        let text = String::deserialize(d)?;
        let (h, m) = text
            .split_once(':')
            .ok_or_else(|| serde::de::Error::custom(format!("{text:?} is not HH:MM")))?;
        let parse = |v: &str, max: i8| {
            v.parse::<i8>()
                .ok()
                .filter(|n| (0..=max).contains(n) && v.len() == 2)
                .ok_or_else(|| serde::de::Error::custom(format!("{text:?} is not HH:MM")))
        };
        let (h, m) = (parse(h, 24)?, parse(m, 59)?);
        if h == 24 && m != 0 {
            return Err(serde::de::Error::custom(format!("{text:?} is not HH:MM")));
        }
        // 24:00 is the end of the day: the last representable instant before midnight.
        Ok(if h == 24 {
            Time::MAX
        } else {
            Time::new(h, m, 0, 0).expect("checked ranges")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::dec;

    fn t(h: i8, m: i8) -> Time {
        Time::new(h, m, 0, 0).unwrap()
    }

    fn economy7() -> Rates {
        Rates::TimeOfUse {
            periods: vec![RatePeriod {
                days: Days::All,
                from: t(0, 30),
                to: t(7, 30),
                unit_rate: dec!(0.15),
            }],
            default_rate: dec!(0.30),
        }
    }

    #[test]
    fn time_of_use_rates_follow_local_time_and_weekday() {
        let rates = economy7();
        assert_eq!(
            rates.unit_rate(Weekday::Monday, t(0, 30), None),
            Some(dec!(0.15))
        );
        assert_eq!(
            rates.unit_rate(Weekday::Monday, t(7, 29), None),
            Some(dec!(0.15))
        );
        assert_eq!(
            rates.unit_rate(Weekday::Monday, t(7, 30), None),
            Some(dec!(0.30))
        );
        let weekend_nights = Rates::TimeOfUse {
            periods: vec![RatePeriod {
                days: Days::Weekends,
                from: t(22, 0),
                to: t(6, 0),
                unit_rate: dec!(0.10),
            }],
            default_rate: dec!(0.25),
        };
        // Saturday 23:00 and the small hours of Sunday belong to Saturday's night; Friday's
        // night does not count, even in Saturday's small hours.
        assert_eq!(
            weekend_nights.unit_rate(Weekday::Saturday, t(23, 0), None),
            Some(dec!(0.10))
        );
        assert_eq!(
            weekend_nights.unit_rate(Weekday::Sunday, t(3, 0), None),
            Some(dec!(0.10))
        );
        assert_eq!(
            weekend_nights.unit_rate(Weekday::Saturday, t(3, 0), None),
            Some(dec!(0.25))
        );
        assert_eq!(
            weekend_nights.unit_rate(Weekday::Monday, t(3, 0), None),
            Some(dec!(0.10))
        );
        assert_eq!(
            weekend_nights.unit_rate(Weekday::Friday, t(23, 0), None),
            Some(dec!(0.25))
        );
    }

    #[test]
    fn dynamic_rates_track_wholesale_within_cap_and_floor() {
        let rates = Rates::Dynamic {
            factor: dec!(1.19),
            margin: dec!(0.18),
            cap: Some(dec!(0.60)),
            floor: Some(dec!(0.00)),
        };
        // 85.23 EUR/MWh = 0.08523 EUR/kWh; × 1.19 + 0.18.
        let w = per_kwh(dec!(85.23), EnergyUnit::MWh);
        assert_eq!(
            rates.unit_rate(Weekday::Monday, t(12, 0), Some(w)),
            Some(dec!(0.2814237))
        );
        // A deeply negative price stops at the floor, a spike at the cap.
        let negative = per_kwh(dec!(-250), EnergyUnit::MWh);
        assert_eq!(
            rates.unit_rate(Weekday::Monday, t(12, 0), Some(negative)),
            Some(dec!(0.00))
        );
        let spike = per_kwh(dec!(3000), EnergyUnit::MWh);
        assert_eq!(
            rates.unit_rate(Weekday::Monday, t(12, 0), Some(spike)),
            Some(dec!(0.60))
        );
        // Without a floor a negative price passes through (the customer is paid).
        let unfloored = Rates::Dynamic {
            factor: dec!(1),
            margin: dec!(0.10),
            cap: None,
            floor: None,
        };
        assert_eq!(
            unfloored.unit_rate(Weekday::Monday, t(12, 0), Some(negative)),
            Some(dec!(-0.15))
        );
        assert_eq!(rates.unit_rate(Weekday::Monday, t(12, 0), None), None);
    }

    #[test]
    fn agile_applies_multiplier_peak_adder_cap_and_vat() {
        let agile = Rates::Agile {
            multiplier: dec!(2.2),
            peak_adder: dec!(0.12),
            peak_from: t(16, 0),
            peak_to: t(19, 0),
            cap: dec!(0.95238),
            vat_percent: dec!(5),
        };
        let w = per_kwh(dec!(80), EnergyUnit::MWh); // 8 p/kWh
        assert_eq!(w, dec!(0.080));
        assert_eq!(per_kwh(dec!(-12.34), EnergyUnit::MWh), dec!(-0.01234));
        // Off peak: 8 × 2.2 = 17.6 p, + 5 % VAT = 18.48 p.
        assert_eq!(
            agile.unit_rate(Weekday::Tuesday, t(15, 30), Some(w)),
            Some(dec!(0.1848))
        );
        // Peak: 17.6 + 12 = 29.6 p, + VAT = 31.08 p.
        assert_eq!(
            agile.unit_rate(Weekday::Tuesday, t(16, 0), Some(w)),
            Some(dec!(0.3108))
        );
        assert_eq!(
            agile.unit_rate(Weekday::Tuesday, t(19, 0), Some(w)),
            Some(dec!(0.1848))
        );
        // Capped before VAT: 95.238 p × 1.05 = 99.9999 p.
        let spike = per_kwh(dec!(1000), EnergyUnit::MWh);
        assert_eq!(
            agile.unit_rate(Weekday::Tuesday, t(17, 0), Some(spike)),
            Some(dec!(0.999999))
        );
        // Negative wholesale: negative unit rate (Agile pays), VAT on the negative amount.
        let negative = per_kwh(dec!(-20), EnergyUnit::MWh);
        assert_eq!(
            agile.unit_rate(Weekday::Tuesday, t(3, 0), Some(negative)),
            Some(dec!(-0.0462))
        );
    }

    #[test]
    fn local_start_follows_the_clock_change() {
        let london = TimeZone::get("Europe/London").unwrap();
        // 2026-03-29: clocks go forward at 01:00 UTC; 01:00 UTC is 02:00 BST.
        let (day, at) = local_start("2026-03-29T01:00:00Z".parse().unwrap(), &london);
        assert_eq!((day, at), (Weekday::Sunday, t(2, 0)));
        // 2026-10-25: 00:30 and 01:30 UTC are 01:30 BST and 01:30 GMT.
        let (_, first) = local_start("2026-10-25T00:30:00Z".parse().unwrap(), &london);
        let (_, second) = local_start("2026-10-25T01:30:00Z".parse().unwrap(), &london);
        assert_eq!((first, second), (t(1, 30), t(1, 30)));
    }

    #[test]
    fn rates_round_trip_and_refuse_nonsense() {
        let json = serde_json::json!({
            "type": "time_of_use", "default_rate": "0.30",
            "periods": [{ "days": "all", "from": "00:30", "to": "07:30", "unit_rate": "0.15" }]
        });
        let rates: Rates = serde_json::from_value(json).unwrap();
        assert_eq!(rates, economy7());
        assert_eq!(
            serde_json::to_value(&rates).unwrap()["periods"][0]["from"],
            "00:30"
        );
        // The end of the day survives a round trip.
        let all_day: RatePeriod = serde_json::from_value(serde_json::json!({
            "days": "weekends", "from": "00:00", "to": "24:00", "unit_rate": "0.1"
        }))
        .unwrap();
        assert_eq!(serde_json::to_value(&all_day).unwrap()["to"], "24:00");
        assert!(all_day.covers(Weekday::Sunday, t(23, 59)));
        assert!(
            serde_json::from_value::<Rates>(serde_json::json!({
                "type": "fixed", "unit_rate": "0.2", "extra": 1
            }))
            .is_err()
        );
        assert!(
            serde_json::from_value::<Rates>(serde_json::json!({
                "type": "time_of_use", "default_rate": "0.3",
                "periods": [{ "days": "all", "from": "25:00", "to": "07:30", "unit_rate": "0.15" }]
            }))
            .is_err()
        );
        let bad = Rates::Dynamic {
            factor: dec!(-1),
            margin: dec!(0),
            cap: Some(dec!(0.1)),
            floor: Some(dec!(0.2)),
        };
        assert_eq!(bad.problems().len(), 2);
        assert!(economy7().problems().is_empty());
    }
}
