//! SQLite storage: the embedded default. One file, WAL journal (committed batches survive a
//! crash of the process), migrations applied on open.

use std::str::FromStr;

use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use super::{StorageError, StorageOptions, sqlite_migrations};

/// Upsert of a whole batch in one statement: the batch is one JSON array of rows unpacked by
/// `json_each`, so the SQL stays constant whatever the batch size.
/// (`WHERE true` resolves SQLite's parsing ambiguity between `SELECT … ON CONFLICT` forms.)
const UPSERT: &str = "\
INSERT INTO price_points (region, source, start_at, duration_min, price, currency, unit, kind, fetched_at, estimated)
SELECT j.value ->> '$[0]', j.value ->> '$[1]', j.value ->> '$[2]', j.value ->> '$[3]', j.value ->> '$[4]',
       j.value ->> '$[5]', j.value ->> '$[6]', j.value ->> '$[7]', j.value ->> '$[8]', j.value ->> '$[9]'
FROM json_each(?1) AS j WHERE true
ON CONFLICT (region, source, start_at, duration_min) DO UPDATE SET
    price = excluded.price, currency = excluded.currency, unit = excluded.unit, kind = excluded.kind,
    fetched_at = excluded.fetched_at, estimated = excluded.estimated";

/// A whole range as one JSON array of rows, in (start, source) order.
const SELECT_RANGE: &str = "\
SELECT json_group_array(
           json_array(region, source, start_at, duration_min, price, currency, unit, kind, fetched_at, estimated)
           ORDER BY start_at, source)
FROM price_points
WHERE region = ?1 AND start_at >= ?2 AND start_at < ?3 AND (?4 IS NULL OR source = ?4)";

const UPSERT_WEATHER: &str = "\
INSERT INTO weather_points (region, source, at, temperature_c, cloud_cover_pct, wind_speed_ms, fetched_at)
SELECT j.value ->> '$[0]', j.value ->> '$[1]', j.value ->> '$[2]', j.value ->> '$[3]', j.value ->> '$[4]',
       j.value ->> '$[5]', j.value ->> '$[6]'
FROM json_each(?1) AS j WHERE true
ON CONFLICT (region, source, at) DO UPDATE SET
    temperature_c = excluded.temperature_c, cloud_cover_pct = excluded.cloud_cover_pct,
    wind_speed_ms = excluded.wind_speed_ms, fetched_at = excluded.fetched_at";

const SELECT_WEATHER: &str = "\
SELECT json_group_array(
           json_array(region, source, at, temperature_c, cloud_cover_pct, wind_speed_ms, fetched_at) ORDER BY at, source)
FROM weather_points
WHERE region = ?1 AND at >= ?2 AND at < ?3";

const UPSERT_FORECAST: &str = "\
INSERT INTO forecast_steps (region, model_version, start_at, duration_min, made_at, predicted, lower_bound, upper_bound, lead_days)
SELECT j.value ->> '$[0]', j.value ->> '$[1]', j.value ->> '$[2]', j.value ->> '$[3]', j.value ->> '$[4]',
       j.value ->> '$[5]', j.value ->> '$[6]', j.value ->> '$[7]', j.value ->> '$[8]'
FROM json_each(?1) AS j WHERE true
ON CONFLICT (region, model_version, start_at) DO UPDATE SET
    duration_min = excluded.duration_min, made_at = excluded.made_at, predicted = excluded.predicted,
    lower_bound = excluded.lower_bound, upper_bound = excluded.upper_bound, lead_days = excluded.lead_days";

const SELECT_FORECAST: &str = "\
SELECT json_group_array(
           json_array(region, model_version, start_at, duration_min, made_at, predicted, lower_bound, upper_bound, lead_days)
           ORDER BY start_at, model_version)
FROM forecast_steps
WHERE region = ?1 AND start_at >= ?2 AND start_at < ?3";

const PRUNE_FORECAST: &str = "DELETE FROM forecast_steps WHERE region = ?1 AND start_at < ?2";

/// SQLite-backed [`Storage`].
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating if missing, with its folder) the database file of `url` and migrates it.
    pub async fn open(url: &str, options: &StorageOptions) -> Result<Self, StorageError> {
        let connect = SqliteConnectOptions::from_str(url)
            .map_err(|e| StorageError::InvalidUrl(format!("{url}: {e}")))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(options.acquire_timeout)
            .foreign_keys(true);
        if let Some(parent) = connect
            .get_filename()
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
        {
            std::fs::create_dir_all(parent).map_err(|e| {
                StorageError::Unavailable(format!("cannot create {}: {e}", parent.display()))
            })?;
        }
        let pool = SqlitePoolOptions::new()
            .max_connections(options.max_connections.max(1))
            .acquire_timeout(options.acquire_timeout)
            .connect_with(connect)
            .await?;
        sqlite_migrations().run(&pool).await?;
        Ok(SqliteStore { pool })
    }
}

json_backed_store!(
    SqliteStore,
    "sqlite",
    UPSERT,
    SELECT_RANGE,
    UPSERT_WEATHER,
    SELECT_WEATHER,
    UPSERT_FORECAST,
    SELECT_FORECAST,
    PRUNE_FORECAST
);
