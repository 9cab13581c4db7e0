//! A price point and the small closed vocabularies around it: currency, energy unit, kind and
//! source. Prices are exact decimals end to end; only display code rounds.

use std::fmt;
use std::str::FromStr;

use jiff::{SignedDuration, Timestamp};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::region::Region;

/// ISO 4217 currency of a price.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Currency {
    Gbp,
    Eur,
    Usd,
    Aud,
    Jpy,
}

/// The energy quantity a price is per: retail tariffs are per kWh, wholesale markets per MWh.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EnergyUnit {
    #[serde(rename = "kWh")]
    KWh,
    #[serde(rename = "MWh")]
    MWh,
}

impl EnergyUnit {
    /// kWh in one unit: a price per unit divided by this is a price per kWh.
    pub fn kwh(self) -> f64 {
        match self {
            EnergyUnit::KWh => 1.0,
            EnergyUnit::MWh => 1000.0,
        }
    }

    /// Decimal places a derived price per this unit is shown with (a cent per MWh, a
    /// thousandth of a cent per kWh: the same resolution).
    pub fn price_decimals(self) -> u32 {
        match self {
            EnergyUnit::KWh => 5,
            EnergyUnit::MWh => 2,
        }
    }
}

/// What a price is: a published day-ahead price, a retail tariff rate, or our own forecast.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PriceKind {
    DayAhead,
    Retail,
    Forecast,
}

/// Where a price came from. `Simulated` is the built-in generator, never real market data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    Simulated,
    Entsoe,
    Octopus,
    Eia,
    Flatpeak,
    Replay,
    Forecast,
}

/// A stored text did not name a known value of one of the vocabularies above.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} '{given}'")]
pub struct VocabularyError {
    /// Which vocabulary (`currency`, `unit`, `kind`, `source`).
    pub what: &'static str,
    /// The rejected text.
    pub given: String,
}

macro_rules! text_vocabulary {
    ($ty:ident, $what:literal, { $($variant:ident => $text:literal),+ $(,)? }) => {
        impl $ty {
            /// The canonical text, as stored and served.
            pub fn as_str(self) -> &'static str {
                match self { $($ty::$variant => $text),+ }
            }
        }
        impl FromStr for $ty {
            type Err = VocabularyError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok($ty::$variant),)+
                    _ => Err(VocabularyError { what: $what, given: s.chars().take(64).collect() }),
                }
            }
        }
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

text_vocabulary!(Currency, "currency", { Gbp => "GBP", Eur => "EUR", Usd => "USD", Aud => "AUD", Jpy => "JPY" });
text_vocabulary!(EnergyUnit, "unit", { KWh => "kWh", MWh => "MWh" });
text_vocabulary!(PriceKind, "kind", { DayAhead => "day_ahead", Retail => "retail", Forecast => "forecast" });
text_vocabulary!(Source, "source", {
    Simulated => "simulated", Entsoe => "entsoe", Octopus => "octopus", Eia => "eia",
    Flatpeak => "flatpeak", Replay => "replay", Forecast => "forecast",
});

impl Source {
    /// Every source, for config validation and error messages.
    pub const ALL: [Source; 7] = [
        Source::Simulated,
        Source::Entsoe,
        Source::Octopus,
        Source::Eia,
        Source::Flatpeak,
        Source::Replay,
        Source::Forecast,
    ];
}

/// One price for one delivery interval of one region, as one source reported it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PricePoint {
    pub region: Region,
    /// Start of the delivery interval (UTC).
    pub start: Timestamp,
    /// Length of the delivery interval in minutes (15, 30 and 60 are the market resolutions).
    pub duration_minutes: u32,
    pub price: Decimal,
    pub currency: Currency,
    pub unit: EnergyUnit,
    pub kind: PriceKind,
    pub source: Source,
    /// When Wattline received (or, for the simulator, generated) this value.
    pub fetched_at: Timestamp,
    /// True when the value is filled in or derived rather than published as is.
    pub estimated: bool,
}

impl PricePoint {
    /// End of the delivery interval (exclusive).
    pub fn end(&self) -> Timestamp {
        self.start
            .checked_add(SignedDuration::from_mins(i64::from(self.duration_minutes)))
            .unwrap_or(Timestamp::MAX)
    }

    /// True when `at` falls inside this interval.
    pub fn covers(&self, at: Timestamp) -> bool {
        self.start <= at && at < self.end()
    }

    /// The identity under which storage keeps one value (re-fetches replace it).
    pub fn key(&self) -> (Region, Source, Timestamp, u32) {
        (self.region, self.source, self.start, self.duration_minutes)
    }
}

/// Each region's sources in the order they are trusted (the configured failover order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourcePreference {
    by_region: Vec<Vec<Source>>,
}

impl SourcePreference {
    /// Builds the table from `(region, ordered sources)` pairs; unlisted regions prefer nothing.
    pub fn new(entries: impl IntoIterator<Item = (Region, Vec<Source>)>) -> Self {
        let mut by_region = vec![Vec::new(); Region::ALL.len()];
        for (region, sources) in entries {
            by_region[region.index()] = sources;
        }
        SourcePreference { by_region }
    }

    /// The ordered sources of `region`.
    pub fn for_region(&self, region: Region) -> &[Source] {
        &self.by_region[region.index()]
    }
}

/// Expresses every point in the unit most of them use (per MWh on a tie), converting the others
/// exactly (1 MWh = 1000 kWh). A region whose primary source quotes per kWh and whose fallback
/// quotes per MWh then still serves one comparable series.
pub fn harmonize_units(mut points: Vec<PricePoint>) -> Vec<PricePoint> {
    let per_kwh = points.iter().filter(|p| p.unit == EnergyUnit::KWh).count();
    let target = if per_kwh * 2 > points.len() {
        EnergyUnit::KWh
    } else {
        EnergyUnit::MWh
    };
    let thousand = Decimal::ONE_THOUSAND;
    for p in points.iter_mut().filter(|p| p.unit != target) {
        p.price = match target {
            EnergyUnit::MWh => p.price * thousand,
            EnergyUnit::KWh => p.price / thousand,
        };
        p.unit = target;
    }
    points
}

/// Keeps one point per interval start, taking the source listed first in `preference`
/// (unlisted sources rank last), then the most recently fetched, then the later in the input.
/// Input must be sorted by `start`; output is too.
pub fn prefer_sources(points: Vec<PricePoint>, preference: &[Source]) -> Vec<PricePoint> {
    let rank = |s: Source| {
        preference
            .iter()
            .position(|p| *p == s)
            .unwrap_or(preference.len())
    };
    let mut out: Vec<PricePoint> = Vec::with_capacity(points.len());
    for point in points {
        match out.last_mut() {
            Some(last) if last.start == point.start => {
                let better = (rank(point.source), std::cmp::Reverse(point.fetched_at))
                    <= (rank(last.source), std::cmp::Reverse(last.fetched_at));
                if better {
                    *last = point;
                }
            }
            _ => out.push(point),
        }
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A day-ahead point of `region` for tests, fetched at the epoch.
    pub(crate) fn point(
        region: Region,
        start: Timestamp,
        minutes: u32,
        price: Decimal,
    ) -> PricePoint {
        PricePoint {
            region,
            start,
            duration_minutes: minutes,
            price,
            currency: region.currency(),
            unit: EnergyUnit::MWh,
            kind: PriceKind::DayAhead,
            source: Source::Simulated,
            fetched_at: Timestamp::UNIX_EPOCH,
            estimated: false,
        }
    }

    /// Consecutive German points of `minutes` each from 2026-01-01T00:00Z with these prices.
    pub(crate) fn series(
        prices: impl IntoIterator<Item = Decimal>,
        minutes: u32,
    ) -> Vec<PricePoint> {
        let t0: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        prices
            .into_iter()
            .enumerate()
            .map(|(i, p)| {
                let start = t0 + SignedDuration::from_mins(i64::from(minutes) * i as i64);
                point(Region::Germany, start, minutes, p)
            })
            .collect()
    }

    #[test]
    fn vocabularies_round_trip_their_text() {
        for s in Source::ALL {
            assert_eq!(s.as_str().parse::<Source>(), Ok(s));
        }
        assert_eq!("kWh".parse::<EnergyUnit>(), Ok(EnergyUnit::KWh));
        assert_eq!("day_ahead".parse::<PriceKind>(), Ok(PriceKind::DayAhead));
        assert!("kwh".parse::<EnergyUnit>().is_err());
    }

    #[test]
    fn end_and_covers_use_the_duration() {
        let start: Timestamp = "2026-03-29T00:00:00Z".parse().unwrap();
        let p = point(Region::Germany, start, 15, Decimal::ONE);
        assert_eq!(p.end(), "2026-03-29T00:15:00Z".parse().unwrap());
        assert!(p.covers(start));
        assert!(!p.covers(p.end()));
    }

    #[test]
    fn units_are_harmonised_to_the_majority_exactly() {
        let t: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        let mut kwh = point(Region::Uk, t, 30, Decimal::new(2731, 4));
        kwh.unit = EnergyUnit::KWh;
        let mwh = point(
            Region::Uk,
            t + SignedDuration::from_mins(30),
            30,
            Decimal::new(8523, 2),
        );
        let out = harmonize_units(vec![kwh.clone(), kwh.clone(), mwh.clone()]);
        assert!(out.iter().all(|p| p.unit == EnergyUnit::KWh));
        assert_eq!(out[2].price, Decimal::new(8523, 5));
        let out = harmonize_units(vec![kwh, mwh.clone()]);
        assert_eq!(out[0].price, Decimal::new(2731, 1), "tie: per MWh");
        assert_eq!(out[1], mwh);
    }

    #[test]
    fn preferred_source_wins_then_freshest() {
        let start: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        let mut sim = point(Region::Germany, start, 60, Decimal::ONE);
        sim.fetched_at = "2026-01-02T00:00:00Z".parse().unwrap();
        let mut real = sim.clone();
        real.source = Source::Entsoe;
        real.fetched_at = "2026-01-01T00:00:00Z".parse().unwrap();
        let chosen = prefer_sources(
            vec![sim.clone(), real.clone()],
            &[Source::Entsoe, Source::Simulated],
        );
        assert_eq!(chosen, vec![real]);
        let mut newer = sim.clone();
        newer.fetched_at = "2026-01-03T00:00:00Z".parse().unwrap();
        let chosen = prefer_sources(vec![sim, newer.clone()], &[Source::Simulated]);
        assert_eq!(chosen, vec![newer]);
    }
}
