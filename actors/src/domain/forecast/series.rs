//! A price history as whole local days of `periods` values each (24 hourly, 48 half-hourly, 96
//! quarter-hourly), with optional exogenous series of the same shape. DST days are brought to the
//! same length: the skipped spring interval is interpolated, the repeated autumn intervals are
//! averaged, as the benchmark data sets do.

use std::collections::BTreeMap;

use jiff::civil::Date;
use rust_decimal::prelude::ToPrimitive;

use crate::domain::calendar::local_date;
use crate::domain::{PricePoint, Region};

/// Whole days of prices (and exogenous inputs), oldest first, without gaps between days.
#[derive(Debug, Clone, PartialEq)]
pub struct DailySeries {
    pub first_day: Date,
    pub periods: usize,
    /// `days × periods` prices.
    pub prices: Vec<f64>,
    /// Exogenous series, each `days × periods`, known a day ahead (forecasts, not actuals).
    pub exogenous: Vec<Vec<f64>>,
    pub exogenous_names: Vec<String>,
}

impl DailySeries {
    /// Number of days.
    pub fn days(&self) -> usize {
        self.prices.len() / self.periods.max(1)
    }

    /// The local date of day index `i`.
    pub fn date(&self, i: usize) -> Date {
        self.first_day
            .checked_add(jiff::Span::new().days(i as i64))
            .unwrap_or(self.first_day)
    }

    /// Index of `date`, if inside the series.
    pub fn index_of(&self, date: Date) -> Option<usize> {
        let days = self.first_day.until(date).ok()?.get_days();
        usize::try_from(days).ok().filter(|i| *i < self.days())
    }

    /// Prices of day `i`.
    pub fn day(&self, i: usize) -> &[f64] {
        &self.prices[i * self.periods..(i + 1) * self.periods]
    }

    /// The last whole run of days of `region`'s points at `periods` per day, ending with the
    /// newest complete day. Days with missing intervals end the run (older days are dropped).
    pub fn from_points(
        region: Region,
        points: &[PricePoint],
        periods: usize,
    ) -> Option<DailySeries> {
        let minutes = (24 * 60 / periods) as u32;
        let tz = region.time_zone();
        // Local day → local slot → values (two on the repeated autumn hour).
        let mut days: BTreeMap<Date, Vec<Vec<f64>>> = BTreeMap::new();
        for p in points.iter().filter(|p| p.duration_minutes == minutes) {
            let local = p.start.to_zoned(tz.clone());
            let slot =
                (i64::from(local.hour()) * 60 + i64::from(local.minute())) / i64::from(minutes);
            let Some(value) = p.price.to_f64() else {
                continue;
            };
            let day = local_date(region, p.start);
            days.entry(day).or_insert_with(|| vec![Vec::new(); periods])[slot as usize].push(value);
        }
        let mut run: Vec<(Date, Vec<f64>)> = Vec::new();
        for (day, slots) in days {
            let missing = slots.iter().filter(|s| s.is_empty()).count();
            // A DST day lacks at most one hour of slots; anything else is an incomplete day.
            let complete = missing <= 60 / minutes as usize;
            let continues = run
                .last()
                .is_none_or(|(last, _)| last.tomorrow().ok() == Some(day));
            if !complete || !continues {
                run.clear();
                if !complete {
                    continue;
                }
            }
            run.push((day, fill_day(&slots)));
        }
        let (first_day, _) = run.first()?;
        Some(DailySeries {
            first_day: *first_day,
            periods,
            prices: run.iter().flat_map(|(_, v)| v.iter().copied()).collect(),
            exogenous: Vec::new(),
            exogenous_names: Vec::new(),
        })
    }
}

/// One value per slot: the mean of repeated slots, linear interpolation over skipped ones.
fn fill_day(slots: &[Vec<f64>]) -> Vec<f64> {
    let mut out: Vec<Option<f64>> = slots
        .iter()
        .map(|s| (!s.is_empty()).then(|| s.iter().sum::<f64>() / s.len() as f64))
        .collect();
    for i in 0..out.len() {
        if out[i].is_none() {
            let before = out[..i].iter().rev().find_map(|v| *v);
            let after = out[i + 1..].iter().find_map(|v| *v);
            out[i] = match (before, after) {
                (Some(a), Some(b)) => Some((a + b) / 2.0),
                (a, b) => a.or(b),
            };
        }
    }
    out.into_iter().map(|v| v.unwrap_or(0.0)).collect()
}

/// Why a CSV could not be read as a daily series.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("price file: {0}")]
pub struct SeriesError(pub String);

/// Reads a file in the format of `shared/data/prices`: rows by `local_time`, whole local days of
/// equally spaced rows (fillers included, as the benchmark does), `price`, and every `*_mw`
/// column except actual measurements (`*_actual_mw`, not known a day ahead) as exogenous input.
pub fn from_csv(text: &str) -> Result<DailySeries, SeriesError> {
    let err = |m: String| SeriesError(m);
    let mut lines = text.lines();
    let header: Vec<&str> = lines
        .next()
        .ok_or_else(|| err("empty file".into()))?
        .split(',')
        .map(str::trim)
        .collect();
    let col = |name: &str| {
        header
            .iter()
            .position(|h| *h == name)
            .ok_or_else(|| err(format!("no `{name}` column")))
    };
    let (local_col, price_col) = (col("local_time")?, col("price")?);
    let exo_cols: Vec<(usize, String)> = header
        .iter()
        .enumerate()
        .filter(|(_, h)| h.ends_with("_mw") && !h.ends_with("_actual_mw"))
        .map(|(i, h)| (i, h.to_string()))
        .collect();
    let mut days: Vec<(Date, Vec<f64>, Vec<Vec<f64>>)> = Vec::new();
    for (number, line) in lines.enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split(',').collect();
        let field = |i: usize| fields.get(i).map(|f| f.trim()).unwrap_or("");
        let local = field(local_col);
        let date: Date = local
            .get(..10)
            .and_then(|d| d.parse().ok())
            .ok_or_else(|| err(format!("line {}: bad local_time", number + 2)))?;
        let price: f64 = field(price_col)
            .parse()
            .map_err(|_| err(format!("line {}: bad price", number + 2)))?;
        if days.last().is_none_or(|(d, _, _)| *d != date) {
            if let Some((last, _, _)) = days.last()
                && last.tomorrow().ok() != Some(date)
            {
                return Err(err(format!(
                    "line {}: day {date} does not follow {last}",
                    number + 2
                )));
            }
            days.push((date, Vec::new(), vec![Vec::new(); exo_cols.len()]));
        }
        let (_, prices, exo) = days.last_mut().expect("pushed");
        prices.push(price);
        for (k, (i, name)) in exo_cols.iter().enumerate() {
            let v: f64 = field(*i)
                .parse()
                .map_err(|_| err(format!("line {}: bad {name}", number + 2)))?;
            exo[k].push(v);
        }
    }
    let periods = days
        .first()
        .map(|(_, p, _)| p.len())
        .ok_or_else(|| err("no rows".into()))?;
    if let Some((d, p, _)) = days.iter().find(|(_, p, _)| p.len() != periods) {
        return Err(err(format!(
            "day {d} has {} rows, the first day {periods}",
            p.len()
        )));
    }
    Ok(DailySeries {
        first_day: days[0].0,
        periods,
        prices: days
            .iter()
            .flat_map(|(_, p, _)| p.iter().copied())
            .collect(),
        exogenous: (0..exo_cols.len())
            .map(|k| {
                days.iter()
                    .flat_map(|(_, _, e)| e[k].iter().copied())
                    .collect()
            })
            .collect(),
        exogenous_names: exo_cols.into_iter().map(|(_, n)| n).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::calendar::interval_starts;
    use crate::domain::price::tests::point;
    use jiff::civil::date;
    use rust_decimal::Decimal;

    #[test]
    fn csv_days_and_exogenous_columns_are_read() {
        let csv = "timestamp_utc,local_time,price,currency,unit,load_forecast_mw,load_actual_mw,dst_flag\n\
                   2013-01-01T00:00:00Z,2013-01-01T00:00:00,10,EUR,EUR/MWh,100,99,\n\
                   2013-01-01T01:00:00Z,2013-01-01T01:00:00,11,EUR,EUR/MWh,101,98,\n\
                   2013-01-02T00:00:00Z,2013-01-02T00:00:00,12,EUR,EUR/MWh,102,97,\n\
                   2013-01-02T01:00:00Z,2013-01-02T01:00:00,13,EUR,EUR/MWh,103,96,\n";
        let s = from_csv(csv).unwrap();
        assert_eq!((s.days(), s.periods), (2, 2));
        assert_eq!(s.day(1), &[12.0, 13.0]);
        assert_eq!(
            s.exogenous_names,
            vec!["load_forecast_mw"],
            "actual load is not a forecast input"
        );
        assert_eq!(s.exogenous[0], vec![100.0, 101.0, 102.0, 103.0]);
        assert_eq!(s.index_of(date(2013, 1, 2)), Some(1));
        let gap = csv
            .replace("2013-01-02T00:00:00,12", "2013-01-03T00:00:00,12")
            .replace("2013-01-02T01:00:00,13", "2013-01-03T01:00:00,13");
        assert!(from_csv(&gap).is_err());
    }

    #[test]
    fn dst_days_from_points_are_brought_to_24_hours() {
        // Hourly German prices around the spring change (the 29th has 23 hours).
        let points: Vec<_> = [date(2026, 3, 28), date(2026, 3, 29), date(2026, 3, 30)]
            .into_iter()
            .flat_map(|d| interval_starts(Region::Germany, d).step_by(4).enumerate())
            .map(|(h, t)| point(Region::Germany, t, 60, Decimal::from(h as i64)))
            .collect();
        let s = DailySeries::from_points(Region::Germany, &points, 24).unwrap();
        assert_eq!(s.days(), 3);
        // On the 29th local hour 2 does not exist: interpolated between 1 and 3 (values 1 and 2).
        assert_eq!(s.day(1)[2], 1.5);
        assert_eq!(s.day(1)[3], 2.0);
    }

    #[test]
    fn an_incomplete_day_cuts_the_run() {
        let all: Vec<_> = [date(2026, 5, 1), date(2026, 5, 2), date(2026, 5, 3)]
            .into_iter()
            .flat_map(|d| interval_starts(Region::Japan, d))
            .map(|t| point(Region::Japan, t, 60, Decimal::ONE))
            .collect();
        // One missing hour is tolerated (it could be a DST day) and interpolated.
        let one_missing: Vec<_> = all
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != 30)
            .map(|(_, p)| p.clone())
            .collect();
        assert_eq!(
            DailySeries::from_points(Region::Japan, &one_missing, 24)
                .unwrap()
                .days(),
            3
        );
        // Three missing hours on May 2nd: only May 3rd is a usable run.
        let three_missing: Vec<_> = all
            .iter()
            .enumerate()
            .filter(|(i, _)| !(30..33).contains(i))
            .map(|(_, p)| p.clone())
            .collect();
        let s = DailySeries::from_points(Region::Japan, &three_missing, 24).unwrap();
        assert_eq!((s.days(), s.first_day), (1, date(2026, 5, 3)));
    }
}
