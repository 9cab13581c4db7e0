//! PostgreSQL storage for production and multi-node setups. Prices are exact NUMERIC; batches
//! and ranges travel as one JSON array each (see `JsonRow`), one round trip per call.

use std::str::FromStr;

use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use super::{StorageError, StorageOptions, postgres_migrations, redact};

const UPSERT: &str = "\
INSERT INTO price_points (region, source, start_at, duration_min, price, currency, unit, kind, fetched_at, estimated)
SELECT r->>0, r->>1, (r->>2)::timestamptz, (r->>3)::int4, (r->>4)::numeric, r->>5, r->>6, r->>7,
       (r->>8)::timestamptz, (r->>9)::bool
FROM jsonb_array_elements($1::jsonb) AS r
ON CONFLICT (region, source, start_at, duration_min) DO UPDATE SET
    price = excluded.price, currency = excluded.currency, unit = excluded.unit, kind = excluded.kind,
    fetched_at = excluded.fetched_at, estimated = excluded.estimated";

/// A whole range as one JSON array of rows, in (start, source) order. Prices go out as text so
/// NUMERIC keeps its exact digits; instants in JSON's RFC 3339 form (with the session's offset,
/// which the decoder honours; measured twice as fast as formatting them with `to_char`).
const SELECT_RANGE: &str = "\
SELECT COALESCE(json_agg(json_build_array(
           region, source, start_at, duration_min, price::text, currency, unit, kind, fetched_at, estimated)
           ORDER BY start_at, source)::text, '[]')
FROM price_points
WHERE region = $1 AND start_at >= $2::timestamptz AND start_at < $3::timestamptz
  AND ($4::text IS NULL OR source = $4)";

const UPSERT_WEATHER: &str = "\
INSERT INTO weather_points (region, source, at, temperature_c, cloud_cover_pct, wind_speed_ms, fetched_at)
SELECT r->>0, r->>1, (r->>2)::timestamptz, (r->>3)::float8, (r->>4)::float8, (r->>5)::float8, (r->>6)::timestamptz
FROM jsonb_array_elements($1::jsonb) AS r
ON CONFLICT (region, source, at) DO UPDATE SET
    temperature_c = excluded.temperature_c, cloud_cover_pct = excluded.cloud_cover_pct,
    wind_speed_ms = excluded.wind_speed_ms, fetched_at = excluded.fetched_at";

const SELECT_WEATHER: &str = "\
SELECT COALESCE(json_agg(json_build_array(
           region, source, at, temperature_c, cloud_cover_pct, wind_speed_ms, fetched_at) ORDER BY at, source)::text, '[]')
FROM weather_points
WHERE region = $1 AND at >= $2::timestamptz AND at < $3::timestamptz";

const UPSERT_FORECAST: &str = "\
INSERT INTO forecast_steps (region, model_version, start_at, duration_min, made_at, predicted, lower_bound, upper_bound, lead_days)
SELECT r->>0, r->>1, (r->>2)::timestamptz, (r->>3)::int4, (r->>4)::timestamptz, (r->>5)::float8, (r->>6)::float8,
       (r->>7)::float8, (r->>8)::int4
FROM jsonb_array_elements($1::jsonb) AS r
ON CONFLICT (region, model_version, start_at) DO UPDATE SET
    duration_min = excluded.duration_min, made_at = excluded.made_at, predicted = excluded.predicted,
    lower_bound = excluded.lower_bound, upper_bound = excluded.upper_bound, lead_days = excluded.lead_days";

const SELECT_FORECAST: &str = "\
SELECT COALESCE(json_agg(json_build_array(
           region, model_version, start_at, duration_min, made_at, predicted, lower_bound, upper_bound, lead_days)
           ORDER BY start_at, model_version)::text, '[]')
FROM forecast_steps
WHERE region = $1 AND start_at >= $2::timestamptz AND start_at < $3::timestamptz";

const PRUNE_FORECAST: &str =
    "DELETE FROM forecast_steps WHERE region = $1 AND start_at < $2::timestamptz";

/// PostgreSQL-backed [`Storage`].
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    /// Connects to `url` and migrates. With `schema`, every connection works inside that schema
    /// (created if missing); tests use one schema each.
    pub async fn open(
        url: &str,
        options: &StorageOptions,
        schema: Option<&str>,
    ) -> Result<Self, StorageError> {
        let mut connect = PgConnectOptions::from_str(url)
            .map_err(|e| StorageError::InvalidUrl(format!("{}: {e}", redact(url))))?;
        if let Some(schema) = schema {
            connect = connect.options([("search_path", schema)]);
        }
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections.max(1))
            .acquire_timeout(options.acquire_timeout)
            .connect_with(connect)
            .await?;
        if let Some(schema) = schema {
            let create = format!(
                "CREATE SCHEMA IF NOT EXISTS \"{}\"",
                schema.replace('"', "")
            );
            sqlx::raw_sql(sqlx::AssertSqlSafe(create))
                .execute(&pool)
                .await?;
        }
        postgres_migrations().run(&pool).await?;
        Ok(PgStore { pool })
    }

    /// The pool, for test helpers that drop their schema.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

json_backed_store!(
    PgStore,
    "postgres",
    UPSERT,
    SELECT_RANGE,
    UPSERT_WEATHER,
    SELECT_WEATHER,
    UPSERT_FORECAST,
    SELECT_FORECAST,
    PRUNE_FORECAST
);
