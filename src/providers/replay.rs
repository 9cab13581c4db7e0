//! The replay source: real prices from a CSV in the format of `shared/data/prices`
//! (`timestamp_utc`, `price`, `currency`, `unit`, …, `dst_flag`), served day by day on the engine
//! clock as if a market published them (tomorrow appears at the publication time). Used for
//! demos, load tests and integration tests, usually with an accelerated clock, and by
//! `wattline backfill --csv`.
//!
//! The CSVs hold one row per local hour: a spring-forward filler row has no UTC time and is
//! skipped; after an autumn merged row the UTC series misses an hour, which is filled with the
//! previous price and marked `estimated`.

use std::collections::BTreeMap;
use std::path::Path;
use std::str::FromStr;

use async_trait::async_trait;
use jiff::civil::Date;
use jiff::{SignedDuration, Timestamp};
use rust_decimal::Decimal;
use wattline_actors::domain::calendar::{day_bounds, publication_instant};
use wattline_actors::domain::{Currency, EnergyUnit, PriceKind, PricePoint, Region, Source};
use wattline_actors::ports::{PriceSource, SharedClock, SourceError};

/// `[providers.replay]`: CSV replays.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplaySettings {
    /// Region → CSV path.
    pub files: std::collections::BTreeMap<Region, std::path::PathBuf>,
}

/// The CSV replay in the provider registry: any region with a file.
pub struct ReplayProvider;

impl super::Provider for ReplayProvider {
    fn source(&self) -> Source {
        Source::Replay
    }

    fn covers(&self, region: Region, settings: &super::ProviderSettings) -> Result<(), String> {
        if settings.replay.files.contains_key(&region) {
            Ok(())
        } else {
            Err("no file in providers.replay.files for this region".into())
        }
    }

    fn build(
        &self,
        region: Region,
        cx: &super::Build<'_>,
    ) -> Result<super::Built, super::ProviderError> {
        let path = &cx.settings.replay.files[&region];
        let series = ReplaySeries::load(path)
            .map_err(|error| super::ProviderError::Replay { region, error })?;
        Ok(super::Built::Ready(std::sync::Arc::new(Replay::new(
            region,
            series,
            cx.clock.clone(),
        ))))
    }
}

/// A price series loaded from a CSV.
#[derive(Debug, Clone)]
pub struct ReplaySeries {
    prices: BTreeMap<Timestamp, Decimal>,
    minutes: u32,
    currency: Currency,
    unit: EnergyUnit,
    kind: PriceKind,
}

/// Why a CSV could not be loaded.
#[derive(Debug, thiserror::Error)]
#[error("replay file {path}: {message}")]
pub struct ReplayError {
    path: String,
    message: String,
}

impl ReplaySeries {
    /// Loads and checks a CSV file.
    pub fn load(path: &Path) -> Result<Self, ReplayError> {
        let text = std::fs::read_to_string(path).map_err(|e| ReplayError {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        Self::parse(&text).map_err(|message| ReplayError {
            path: path.display().to_string(),
            message,
        })
    }

    /// Parses CSV text.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut lines = text.lines();
        let header: Vec<&str> = lines
            .next()
            .ok_or("empty file")?
            .split(',')
            .map(str::trim)
            .collect();
        let column = |name: &str| {
            header
                .iter()
                .position(|h| *h == name)
                .ok_or(format!("no `{name}` column"))
        };
        let (ts, price, currency, unit) = (
            column("timestamp_utc")?,
            column("price")?,
            column("currency")?,
            column("unit")?,
        );
        let mut prices = BTreeMap::new();
        let mut quote: Option<(String, String)> = None;
        for (number, line) in lines.enumerate() {
            let fields: Vec<&str> = line.split(',').collect();
            let field = |i: usize| fields.get(i).map(|f| f.trim()).unwrap_or("");
            if field(ts).is_empty() {
                continue; // a spring-forward filler: not a real instant
            }
            let at: Timestamp = field(ts)
                .parse()
                .map_err(|_| format!("line {}: bad timestamp_utc", number + 2))?;
            let value = Decimal::from_str(field(price))
                .or_else(|_| Decimal::from_scientific(field(price)))
                .map_err(|_| format!("line {}: bad price {:?}", number + 2, field(price)))?;
            let this = (field(currency).to_string(), field(unit).to_string());
            match &quote {
                None => quote = Some(this),
                Some(q) if *q != this => {
                    return Err(format!("line {}: units change within the file", number + 2));
                }
                Some(_) => {}
            }
            prices.insert(at, value);
        }
        let (currency_text, unit_text) = quote.ok_or("no rows")?;
        let currency = Currency::from_str(&currency_text).map_err(|e| e.to_string())?;
        let (unit, kind, scale) = match unit_text.as_str() {
            u if u.ends_with("/MWh") => (EnergyUnit::MWh, PriceKind::DayAhead, Decimal::ONE),
            "p/kWh_inc_vat" | "p/kWh" => (EnergyUnit::KWh, PriceKind::Retail, Decimal::ONE_HUNDRED),
            u if u.ends_with("/kWh") => (EnergyUnit::KWh, PriceKind::Retail, Decimal::ONE),
            other => return Err(format!("unknown unit {other:?}")),
        };
        let minutes = prices
            .keys()
            .zip(prices.keys().skip(1))
            .map(|(a, b)| b.duration_since(*a).as_mins())
            .filter(|m| *m > 0)
            .min()
            .unwrap_or(60);
        if !matches!(minutes, 15 | 30 | 60) {
            return Err(format!(
                "rows {minutes} minutes apart; expected 15, 30 or 60"
            ));
        }
        for value in prices.values_mut() {
            *value /= scale;
        }
        Ok(ReplaySeries {
            prices,
            minutes: minutes as u32,
            currency,
            unit,
            kind,
        })
    }

    /// First and last instant of the series.
    pub fn span(&self) -> Option<(Timestamp, Timestamp)> {
        Some((
            *self.prices.keys().next()?,
            *self.prices.keys().next_back()?,
        ))
    }

    /// Every interval of local `day` in `region` the file knows; a missing interval between known
    /// ones repeats the previous price and is marked `estimated`.
    pub fn day(&self, region: Region, day: Date, fetched_at: Timestamp) -> Vec<PricePoint> {
        let (start, end) = day_bounds(region, day);
        let step = SignedDuration::from_mins(i64::from(self.minutes));
        let mut previous = self.prices.range(..start).next_back().map(|(_, p)| *p);
        let mut points = Vec::new();
        let mut at = start;
        while at < end {
            let (price, estimated) = match self.prices.get(&at) {
                Some(p) => (Some(*p), false),
                None => (previous, true),
            };
            if let Some(price) = price {
                points.push(PricePoint {
                    region,
                    start: at,
                    duration_minutes: self.minutes,
                    price,
                    currency: self.currency,
                    unit: self.unit,
                    kind: self.kind,
                    source: Source::Replay,
                    fetched_at,
                    estimated,
                });
                previous = Some(price);
            }
            at += step;
        }
        // Only gaps between known prices are filled: past the last known one the day is missing.
        while points.last().is_some_and(|p| p.estimated) {
            points.pop();
        }
        points
    }
}

/// The replay of one file for one region, as a [`PriceSource`].
pub struct Replay {
    region: Region,
    series: ReplaySeries,
    clock: SharedClock,
}

impl Replay {
    /// Serves `series` for `region` on `clock`.
    pub fn new(region: Region, series: ReplaySeries, clock: SharedClock) -> Self {
        Replay {
            region,
            series,
            clock,
        }
    }
}

#[async_trait]
impl PriceSource for Replay {
    fn source(&self) -> Source {
        Source::Replay
    }

    async fn fetch_day(&self, region: Region, day: Date) -> Result<Vec<PricePoint>, SourceError> {
        if region != self.region {
            return Err(SourceError::UnsupportedRegion { region });
        }
        let now = self.clock.now();
        if now < publication_instant(region, day) {
            return Err(SourceError::NotPublished { day });
        }
        let points = self.series.day(region, day, now);
        if points.is_empty() {
            return Err(SourceError::Incomplete {
                expected: 1,
                got: 0,
            });
        }
        if points.iter().any(|p| p.currency != region.currency()) {
            return Err(SourceError::Malformed(format!(
                "replay file is in {}, not {}",
                points[0].currency,
                region.currency()
            )));
        }
        Ok(points)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    const NL_AUTUMN: &str = "timestamp_utc,local_time,price,currency,unit,dst_flag
2018-10-27T22:00:00Z,2018-10-28T00:00:00,50.5,EUR,EUR/MWh,
2018-10-27T23:00:00Z,2018-10-28T01:00:00,49,EUR,EUR/MWh,
2018-10-28T00:00:00Z,2018-10-28T02:00:00,48.25,EUR,EUR/MWh,autumn_merged
2018-10-28T02:00:00Z,2018-10-28T03:00:00,47,EUR,EUR/MWh,
";

    #[test]
    fn autumn_gap_is_filled_and_marked_estimated() {
        let series = ReplaySeries::parse(NL_AUTUMN).unwrap();
        let points = series.day(
            Region::Netherlands,
            date(2018, 10, 28),
            Timestamp::UNIX_EPOCH,
        );
        // The CSV covers the day's first five hours (one of them only by the fill).
        assert_eq!(points.len(), 5);
        assert_eq!(points[2].price, Decimal::from_str("48.25").unwrap());
        assert!(points[3].estimated, "the hour after the merged row");
        assert_eq!(points[3].price, points[2].price);
        assert!(!points[4].estimated);
    }

    #[test]
    fn agile_pence_become_pounds_per_kwh() {
        let csv = "timestamp_utc,local_time,price,currency,unit,region,region_name
2018-02-19T00:00:00Z,2018-02-19T00:00:00,9.2715,GBP,p/kWh_inc_vat,A,Eastern_England
2018-02-19T00:30:00Z,2018-02-19T00:30:00,9.7755,GBP,p/kWh_inc_vat,A,Eastern_England
";
        let series = ReplaySeries::parse(csv).unwrap();
        let points = series.day(Region::Uk, date(2018, 2, 19), Timestamp::UNIX_EPOCH);
        assert_eq!(points[0].price.to_string(), "0.092715");
        assert_eq!(points[0].unit, EnergyUnit::KWh);
        assert_eq!(points[0].duration_minutes, 30);
        assert_eq!(points.len(), 2, "only the rows the file has");
    }

    #[test]
    fn broken_files_are_refused_with_a_reason() {
        assert!(ReplaySeries::parse("").is_err());
        assert!(
            ReplaySeries::parse("timestamp_utc,price\n")
                .unwrap_err()
                .contains("currency")
        );
        let bad = "timestamp_utc,price,currency,unit\n2018-01-01T00:00:00Z,abc,EUR,EUR/MWh\n";
        assert!(ReplaySeries::parse(bad).unwrap_err().contains("bad price"));
    }

    #[test]
    fn the_shared_data_files_load_and_give_complete_days() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/prices");
        let Ok(series) = ReplaySeries::load(&dir.join("entsoe_DE_LU_2018_2023.csv")) else {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI is set but ../shared/data/prices is missing: the replay test cannot run"
            );
            eprintln!("shared data not present; skipping");
            return;
        };
        for day in [date(2019, 3, 31), date(2019, 10, 27), date(2021, 6, 1)] {
            let points = series.day(Region::Germany, day, Timestamp::UNIX_EPOCH);
            wattline_actors::fetcher::cycle::validate_day(
                Region::Germany,
                day,
                Source::Replay,
                &points,
            )
            .unwrap();
        }
    }
}
