//! The stored tables of prices, weather and forecasts: each table's columns and the row struct
//! whose fields carry the same names, so rows go to and from the database by name. Adding a
//! column is a migration, a field here and its entry in the table beside it (a test checks the
//! two agree).

use jiff::Timestamp;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use wattline_actors::domain::weather::WeatherPoint;
use wattline_actors::domain::{Currency, EnergyUnit, PriceKind, PricePoint, Region, Source};
use wattline_actors::forecaster::{ForecastStep, RegionForecast, StoredStep};

use super::sql::{Kind, Table, col};

/// `price_points`: one row per (region, source, interval start, interval length).
pub static PRICE_POINTS: Table = Table {
    name: "price_points",
    columns: &[
        col("region", Kind::Text),
        col("source", Kind::Text),
        col("start_at", Kind::Time),
        col("duration_min", Kind::Int),
        col("price", Kind::Money),
        col("currency", Kind::Text),
        col("unit", Kind::Text),
        col("kind", Kind::Text),
        col("fetched_at", Kind::Time),
        col("estimated", Kind::Bool),
    ],
    key: &["region", "source", "start_at", "duration_min"],
};

/// A row of [`PRICE_POINTS`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PriceRow {
    pub region: Region,
    pub source: Source,
    pub start_at: Timestamp,
    pub duration_min: u32,
    pub price: Decimal,
    pub currency: Currency,
    pub unit: EnergyUnit,
    pub kind: PriceKind,
    pub fetched_at: Timestamp,
    pub estimated: bool,
}

impl From<&PricePoint> for PriceRow {
    fn from(p: &PricePoint) -> Self {
        PriceRow {
            region: p.region,
            source: p.source,
            start_at: p.start,
            duration_min: p.duration_minutes,
            price: p.price,
            currency: p.currency,
            unit: p.unit,
            kind: p.kind,
            fetched_at: p.fetched_at,
            estimated: p.estimated,
        }
    }
}

impl From<PriceRow> for PricePoint {
    fn from(r: PriceRow) -> Self {
        PricePoint {
            region: r.region,
            start: r.start_at,
            duration_minutes: r.duration_min,
            price: r.price,
            currency: r.currency,
            unit: r.unit,
            kind: r.kind,
            source: r.source,
            fetched_at: r.fetched_at,
            estimated: r.estimated,
        }
    }
}

/// `weather_points`: one row per (region, source, instant).
pub static WEATHER_POINTS: Table = Table {
    name: "weather_points",
    columns: &[
        col("region", Kind::Text),
        col("source", Kind::Text),
        col("at", Kind::Time),
        col("temperature_c", Kind::Real),
        col("cloud_cover_pct", Kind::Real),
        col("wind_speed_ms", Kind::Real),
        col("fetched_at", Kind::Time),
    ],
    key: &["region", "source", "at"],
};

/// A row of [`WEATHER_POINTS`]: the domain type has the column names already.
pub type WeatherRow = WeatherPoint;

/// `forecast_steps`: one row per (region, model version, interval).
pub static FORECAST_STEPS: Table = Table {
    name: "forecast_steps",
    columns: &[
        col("region", Kind::Text),
        col("model_version", Kind::Text),
        col("start_at", Kind::Time),
        col("duration_min", Kind::Int),
        col("made_at", Kind::Time),
        col("predicted", Kind::Real),
        col("lower_bound", Kind::Real),
        col("upper_bound", Kind::Real),
        col("lead_days", Kind::Int),
    ],
    key: &["region", "model_version", "start_at"],
};

/// A row of [`FORECAST_STEPS`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ForecastRow {
    pub region: Region,
    pub model_version: String,
    pub start_at: Timestamp,
    pub duration_min: u32,
    pub made_at: Timestamp,
    pub predicted: f64,
    pub lower_bound: f64,
    pub upper_bound: f64,
    pub lead_days: u32,
}

impl ForecastRow {
    /// The rows of every step of `forecast`.
    pub fn all(forecast: &RegionForecast) -> Vec<ForecastRow> {
        forecast
            .steps
            .iter()
            .map(|s| ForecastRow {
                region: forecast.region,
                model_version: forecast.model.version.clone(),
                start_at: s.start,
                duration_min: s.duration_minutes,
                made_at: forecast.model.calibrated_at,
                predicted: s.predicted,
                lower_bound: s.lower,
                upper_bound: s.upper,
                lead_days: s.lead_days,
            })
            .collect()
    }
}

impl From<ForecastRow> for StoredStep {
    fn from(r: ForecastRow) -> Self {
        StoredStep {
            model_version: r.model_version,
            made_at: r.made_at,
            step: ForecastStep {
                start: r.start_at,
                duration_minutes: r.duration_min,
                predicted: r.predicted,
                lower: r.lower_bound,
                upper: r.upper_bound,
                lead_days: r.lead_days,
            },
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The field names `row` serialises with, sorted.
    pub(crate) fn fields(row: impl Serialize) -> Vec<String> {
        let serde_json::Value::Object(map) = serde_json::to_value(row).unwrap() else {
            panic!("rows serialise as objects");
        };
        let mut names: Vec<String> = map.keys().cloned().collect();
        names.sort();
        names
    }

    /// The column names of `table`, sorted.
    pub(crate) fn columns(table: &Table) -> Vec<String> {
        let mut names: Vec<String> = table.names().map(str::to_string).collect();
        names.sort();
        names
    }

    #[test]
    fn every_row_struct_names_exactly_its_table_columns() {
        let at = Timestamp::UNIX_EPOCH;
        let price = PriceRow {
            region: Region::Uk,
            source: Source::Simulated,
            start_at: at,
            duration_min: 30,
            price: Decimal::ONE,
            currency: Currency::Gbp,
            unit: EnergyUnit::KWh,
            kind: PriceKind::DayAhead,
            fetched_at: at,
            estimated: false,
        };
        assert_eq!(fields(&price), columns(&PRICE_POINTS));
        let weather = WeatherRow {
            region: Region::Uk,
            at,
            temperature_c: 1.0,
            cloud_cover_pct: 2.0,
            wind_speed_ms: 3.0,
            source: "x".into(),
            fetched_at: at,
        };
        assert_eq!(fields(&weather), columns(&WEATHER_POINTS));
        let forecast = ForecastRow {
            region: Region::Uk,
            model_version: "v".into(),
            start_at: at,
            duration_min: 30,
            made_at: at,
            predicted: 1.0,
            lower_bound: 0.0,
            upper_bound: 2.0,
            lead_days: 1,
        };
        assert_eq!(fields(&forecast), columns(&FORECAST_STEPS));
    }
}
