//! Storage behind one interface with two implementations: SQLite (the embedded default, a file
//! created on first start) and PostgreSQL (production, multi-node). Both run the same contract
//! tests (`tests/storage_contract.rs`). Only `app.rs` (and the CLI) open a backend.

mod migrations;
#[macro_use]
mod json_store;
mod postgres;
mod sqlite;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use jiff::{SignedDuration, Timestamp};
use wattline_actors::domain::weather::WeatherPoint;
use wattline_actors::domain::{PricePoint, Region, Source};
use wattline_actors::forecaster::{ForecastStep, RegionForecast, StoredStep};
use wattline_actors::ports::{ForecastStore, PriceStore, StoreError, WeatherStore};

pub use migrations::{postgres_migrations, sqlite_migrations};
pub use postgres::PgStore;
pub use sqlite::SqliteStore;

/// Why storage failed. Mapped to HTTP only in `error.rs`.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The database URL is not one we can open.
    #[error("unsupported database url: {0}")]
    InvalidUrl(String),
    /// The database cannot be reached, or the pool timed out.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// The database refused a write (constraint, encoding).
    #[error("database rejected the data: {0}")]
    Rejected(String),
    /// A stored row could not be read back into the domain.
    #[error("stored row is corrupt: {0}")]
    Corrupt(String),
    /// Migrations could not be applied.
    #[error("migration failed: {0}")]
    Migration(String),
}

impl From<sqlx::Error> for StorageError {
    fn from(error: sqlx::Error) -> Self {
        match error {
            sqlx::Error::Database(db) => StorageError::Rejected(db.to_string()),
            sqlx::Error::ColumnDecode { .. }
            | sqlx::Error::Decode(_)
            | sqlx::Error::ColumnNotFound(_) => StorageError::Corrupt(error.to_string()),
            other => StorageError::Unavailable(other.to_string()),
        }
    }
}

impl From<sqlx::migrate::MigrateError> for StorageError {
    fn from(error: sqlx::migrate::MigrateError) -> Self {
        StorageError::Migration(error.to_string())
    }
}

impl From<StorageError> for StoreError {
    fn from(error: StorageError) -> Self {
        match error {
            StorageError::Rejected(m) | StorageError::Corrupt(m) => StoreError::Rejected(m),
            other => StoreError::Unavailable(other.to_string()),
        }
    }
}

/// A read of stored points of one region over `[from, to)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RangeQuery {
    pub region: Region,
    pub from: Timestamp,
    pub to: Timestamp,
    /// Only this source; all sources when `None`.
    pub source: Option<Source>,
}

impl RangeQuery {
    /// Longest interval we store (a monthly retail average): how far before an instant a point
    /// may start and still be running at it.
    const LONGEST_INTERVAL: SignedDuration = SignedDuration::from_hours(32 * 24);

    /// Every point of `region` that may still be running at `since` or starts later; callers
    /// drop those that ended before `since`.
    pub fn running_since(region: Region, since: Timestamp) -> Self {
        let from = since
            .checked_sub(Self::LONGEST_INTERVAL)
            .unwrap_or(Timestamp::MIN);
        RangeQuery {
            region,
            from,
            to: Timestamp::MAX,
            source: None,
        }
    }
}

/// Everything the service reads and writes. Price writes go through the writer actor via the
/// [`PriceStore`] port; reads come straight from the edge.
#[async_trait]
pub trait Storage: PriceStore + ForecastStore + WeatherStore {
    /// Which backend this is (`sqlite` or `postgres`), for health output.
    fn backend(&self) -> &'static str;

    /// Checks the database answers.
    async fn ping(&self) -> Result<(), StorageError>;

    /// Points in the range ordered by start, then source.
    async fn price_range(&self, query: &RangeQuery) -> Result<Vec<PricePoint>, StorageError>;

    /// Weather steps of `region` in `[from, to)`, ordered by instant, then source.
    async fn weather_range(
        &self,
        region: Region,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<WeatherPoint>, StorageError>;

    /// Closes the pool (waits for checked-out connections).
    async fn close(&self);
}

/// Connection settings shared by both backends.
#[derive(Debug, Clone)]
pub struct StorageOptions {
    pub max_connections: u32,
    pub acquire_timeout: Duration,
}

/// Opens the database named by `url` (`sqlite://path` or `postgres://…`) and applies pending
/// migrations.
pub async fn open(url: &str, options: &StorageOptions) -> Result<Arc<dyn Storage>, StorageError> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(SqliteStore::open(url, options).await?))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(PgStore::open(url, options, None).await?))
    } else {
        Err(StorageError::InvalidUrl(redact(url)))
    }
}

/// The URL with any password replaced, for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme && url[scheme + 3..at].contains(':') => {
            let user = url[scheme + 3..at].split(':').next().unwrap_or("");
            format!("{}{}:***{}", &url[..scheme + 3], user, &url[at..])
        }
        _ => url.to_string(),
    }
}

/// One price point as both backends exchange it with the database: a JSON array of
/// `[region, source, start, duration_min, price, currency, unit, kind, fetched_at, estimated]`
/// with the price as decimal text and instants as RFC 3339 UTC. Writes bind a whole batch as one
/// JSON array and reads aggregate a whole range into one, so a batch or a range costs one
/// round trip (sqlx's SQLite driver otherwise hands over every row through a thread wake-up).
type JsonRow<'a> = (
    &'a str,
    &'a str,
    String,
    u32,
    String,
    &'a str,
    &'a str,
    &'a str,
    String,
    bool,
);

/// The batch as the JSON array of rows the upsert statements unpack; keeps the last point per
/// key, so one statement never touches a row twice (PostgreSQL refuses that).
fn batch_json(points: &[PricePoint]) -> String {
    let rows: Vec<JsonRow<'_>> = dedupe_by_key(points)
        .into_iter()
        .map(|p| {
            (
                p.region.code(),
                p.source.as_str(),
                start_text(p.start),
                p.duration_minutes,
                p.price.to_string(),
                p.currency.as_str(),
                p.unit.as_str(),
                p.kind.as_str(),
                p.fetched_at.to_string(),
                p.estimated,
            )
        })
        .collect();
    serde_json::to_string(&rows).expect("rows of strings and numbers serialise")
}

/// RFC 3339 UTC with whole seconds: fixed width, so text order is time order.
fn start_text(at: Timestamp) -> String {
    at.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// A range bound as text; open bounds are clamped to 1900, as PostgreSQL cannot take the
/// years of `Timestamp::MIN`.
fn bound_text(at: Timestamp) -> String {
    const YEAR_1900: i64 = -2_208_988_800;
    start_text(at.max(Timestamp::from_second(YEAR_1900).unwrap_or(Timestamp::UNIX_EPOCH)))
}

/// A stored value as it comes back inside a JSON row (SQLite gives 0/1 for booleans).
#[derive(serde::Deserialize)]
#[serde(untagged)]
enum Flag {
    Bool(bool),
    Int(i64),
}

/// Decodes the JSON array of rows a range read returns.
fn points_from_json(json: &str) -> Result<Vec<PricePoint>, StorageError> {
    type Raw<'a> = (
        &'a str,
        &'a str,
        &'a str,
        u32,
        &'a str,
        &'a str,
        &'a str,
        &'a str,
        &'a str,
        Flag,
    );
    let rows: Vec<Raw<'_>> =
        serde_json::from_str(json).map_err(|e| StorageError::Corrupt(e.to_string()))?;
    let corrupt =
        |col: &str, e: &dyn std::fmt::Display| StorageError::Corrupt(format!("{col}: {e}"));
    rows.into_iter()
        .map(
            |(region, source, start, minutes, price, currency, unit, kind, fetched, estimated)| {
                Ok(PricePoint {
                    region: Region::parse(region).map_err(|e| corrupt("region", &e))?,
                    start: start.parse().map_err(|e| corrupt("start_at", &e))?,
                    duration_minutes: minutes,
                    price: price.parse().map_err(|e| corrupt("price", &e))?,
                    currency: currency.parse().map_err(|e| corrupt("currency", &e))?,
                    unit: unit.parse().map_err(|e| corrupt("unit", &e))?,
                    kind: kind.parse().map_err(|e| corrupt("kind", &e))?,
                    source: source.parse().map_err(|e| corrupt("source", &e))?,
                    fetched_at: fetched.parse().map_err(|e| corrupt("fetched_at", &e))?,
                    estimated: match estimated {
                        Flag::Bool(b) => b,
                        Flag::Int(i) => i != 0,
                    },
                })
            },
        )
        .collect()
}

/// Weather steps as one JSON array of `[region, source, at, temperature_c, cloud_cover_pct,
/// wind_speed_ms, fetched_at]` rows (the last per key wins).
fn weather_json(points: &[WeatherPoint]) -> String {
    let mut seen = std::collections::HashMap::new();
    let mut rows: Vec<(&str, &str, String, f64, f64, f64, String)> = Vec::new();
    for p in points {
        let row = (
            p.region.code(),
            p.source.as_str(),
            start_text(p.at),
            p.temperature_c,
            p.cloud_cover_pct,
            p.wind_speed_ms,
            p.fetched_at.to_string(),
        );
        match seen.get(&(p.region, p.source.clone(), p.at)) {
            Some(&i) => rows[i] = row,
            None => {
                seen.insert((p.region, p.source.clone(), p.at), rows.len());
                rows.push(row);
            }
        }
    }
    serde_json::to_string(&rows).expect("rows of strings and numbers serialise")
}

/// Decodes the JSON array of weather rows a range read returns.
fn weather_from_json(json: &str) -> Result<Vec<WeatherPoint>, StorageError> {
    type Raw<'a> = (&'a str, &'a str, &'a str, f64, f64, f64, &'a str);
    let rows: Vec<Raw<'_>> =
        serde_json::from_str(json).map_err(|e| StorageError::Corrupt(e.to_string()))?;
    rows.into_iter()
        .map(
            |(region, source, at, temperature_c, cloud_cover_pct, wind_speed_ms, fetched)| {
                Ok(WeatherPoint {
                    region: Region::parse(region)
                        .map_err(|e| StorageError::Corrupt(e.to_string()))?,
                    at: at
                        .parse()
                        .map_err(|e: jiff::Error| StorageError::Corrupt(e.to_string()))?,
                    temperature_c,
                    cloud_cover_pct,
                    wind_speed_ms,
                    source: source.to_string(),
                    fetched_at: fetched
                        .parse()
                        .map_err(|e: jiff::Error| StorageError::Corrupt(e.to_string()))?,
                })
            },
        )
        .collect()
}

/// A forecast's steps as one JSON array of `[region, model_version, start, duration_min, made_at,
/// predicted, lower, upper, lead_days]` rows.
fn forecast_json(forecast: &RegionForecast) -> String {
    let made_at = start_text(forecast.model.calibrated_at);
    let rows: Vec<_> = forecast
        .steps
        .iter()
        .map(|s| {
            (
                forecast.region.code(),
                forecast.model.version.as_str(),
                start_text(s.start),
                s.duration_minutes,
                made_at.as_str(),
                s.predicted,
                s.lower,
                s.upper,
                s.lead_days,
            )
        })
        .collect();
    serde_json::to_string(&rows).expect("rows of strings and numbers serialise")
}

/// Decodes the JSON array of forecast rows a range read returns.
fn forecast_steps_from_json(json: &str) -> Result<Vec<StoredStep>, StorageError> {
    type Raw<'a> = (&'a str, String, &'a str, u32, &'a str, f64, f64, f64, u32);
    let rows: Vec<Raw<'_>> =
        serde_json::from_str(json).map_err(|e| StorageError::Corrupt(e.to_string()))?;
    let corrupt = |e: jiff::Error| StorageError::Corrupt(e.to_string());
    rows.into_iter()
        .map(
            |(
                _,
                model_version,
                start,
                duration_minutes,
                made_at,
                predicted,
                lower,
                upper,
                lead_days,
            )| {
                Ok(StoredStep {
                    model_version,
                    made_at: made_at.parse().map_err(corrupt)?,
                    step: ForecastStep {
                        start: start.parse().map_err(corrupt)?,
                        duration_minutes,
                        predicted,
                        lower,
                        upper,
                        lead_days,
                    },
                })
            },
        )
        .collect()
}

/// Keeps the last point per storage key.
fn dedupe_by_key(points: &[PricePoint]) -> Vec<&PricePoint> {
    let mut index: HashMap<_, usize> = HashMap::with_capacity(points.len());
    let mut out: Vec<&PricePoint> = Vec::with_capacity(points.len());
    for p in points {
        match index.get(&p.key()) {
            Some(&i) => out[i] = p,
            None => {
                index.insert(p.key(), out.len());
                out.push(p);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_hides_the_password_only() {
        assert_eq!(
            redact("postgres://app:s3cret@db:5432/x"),
            "postgres://app:***@db:5432/x"
        );
        assert_eq!(redact("sqlite://data/w.sqlite3"), "sqlite://data/w.sqlite3");
        assert_eq!(redact("postgres://app@db/x"), "postgres://app@db/x");
    }
}
