//! PostgreSQL storage for production and multi-node setups. Batches are upserted with one
//! `INSERT … SELECT FROM UNNEST(arrays)` statement; prices are exact NUMERIC.

use std::str::FromStr;

use async_trait::async_trait;
use jiff::Timestamp;
use rust_decimal::Decimal;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgRow};
use sqlx::{PgPool, Row};
use time::OffsetDateTime;
use wattline_actors::domain::{PricePoint, Region};
use wattline_actors::ports::{PriceStore, StoreError};

use super::{
    RangeQuery, Storage, StorageError, StorageOptions, dedupe_by_key, postgres_migrations, redact,
};

const UPSERT: &str = "\
INSERT INTO price_points (region, source, start_at, duration_min, price, currency, unit, kind, fetched_at, estimated)
SELECT * FROM UNNEST($1::text[], $2::text[], $3::timestamptz[], $4::int4[], $5::numeric[], $6::text[], $7::text[],
                     $8::text[], $9::timestamptz[], $10::bool[])
ON CONFLICT (region, source, start_at, duration_min) DO UPDATE SET
    price = excluded.price, currency = excluded.currency, unit = excluded.unit, kind = excluded.kind,
    fetched_at = excluded.fetched_at, estimated = excluded.estimated";

const SELECT_RANGE: &str = "\
SELECT region, source, start_at, duration_min, price, currency, unit, kind, fetched_at, estimated
FROM price_points
WHERE region = $1 AND start_at >= $2 AND start_at < $3 AND ($4::text IS NULL OR source = $4)
ORDER BY start_at, source";

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

/// Converts to PostgreSQL's timestamp type. Open range bounds (`Timestamp::MIN`/`MAX`) are
/// clamped to years PostgreSQL accepts.
fn to_sql_time(at: Timestamp) -> OffsetDateTime {
    const FLOOR: i64 = -2_208_988_800; // 1900-01-01T00:00:00Z
    const CEILING: i64 = 253_402_214_400; // 9999-12-31T00:00:00Z
    let seconds = at.as_second().clamp(FLOOR, CEILING);
    let nanos = i128::from(seconds) * 1_000_000_000 + i128::from(at.subsec_nanosecond());
    OffsetDateTime::from_unix_timestamp_nanos(nanos).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

fn from_sql_time(at: OffsetDateTime) -> Result<Timestamp, StorageError> {
    Timestamp::from_nanosecond(at.unix_timestamp_nanos())
        .map_err(|e| StorageError::Corrupt(e.to_string()))
}

fn point_from_row(row: &PgRow) -> Result<PricePoint, StorageError> {
    let text = |col: &str| -> Result<String, StorageError> { Ok(row.try_get::<String, _>(col)?) };
    let corrupt =
        |col: &str, e: &dyn std::fmt::Display| StorageError::Corrupt(format!("{col}: {e}"));
    Ok(PricePoint {
        region: Region::parse(&text("region")?).map_err(|e| corrupt("region", &e))?,
        start: from_sql_time(row.try_get("start_at")?)?,
        duration_minutes: u32::try_from(row.try_get::<i32, _>("duration_min")?)
            .map_err(|e| corrupt("duration_min", &e))?,
        price: row.try_get::<Decimal, _>("price")?,
        currency: text("currency")?
            .parse()
            .map_err(|e| corrupt("currency", &e))?,
        unit: text("unit")?.parse().map_err(|e| corrupt("unit", &e))?,
        kind: text("kind")?.parse().map_err(|e| corrupt("kind", &e))?,
        source: text("source")?.parse().map_err(|e| corrupt("source", &e))?,
        fetched_at: from_sql_time(row.try_get("fetched_at")?)?,
        estimated: row.try_get::<bool, _>("estimated")?,
    })
}

#[async_trait]
impl PriceStore for PgStore {
    async fn upsert_prices(&self, points: &[PricePoint]) -> Result<u64, StoreError> {
        if points.is_empty() {
            return Ok(0);
        }
        let rows = dedupe_by_key(points);
        let column =
            |f: fn(&PricePoint) -> String| rows.iter().map(|p| f(p)).collect::<Vec<String>>();
        let result = sqlx::query(UPSERT)
            .bind(column(|p| p.region.code().to_string()))
            .bind(column(|p| p.source.as_str().to_string()))
            .bind(
                rows.iter()
                    .map(|p| to_sql_time(p.start))
                    .collect::<Vec<_>>(),
            )
            .bind(
                rows.iter()
                    .map(|p| i32::try_from(p.duration_minutes).unwrap_or(i32::MAX))
                    .collect::<Vec<_>>(),
            )
            .bind(rows.iter().map(|p| p.price).collect::<Vec<Decimal>>())
            .bind(column(|p| p.currency.as_str().to_string()))
            .bind(column(|p| p.unit.as_str().to_string()))
            .bind(column(|p| p.kind.as_str().to_string()))
            .bind(
                rows.iter()
                    .map(|p| to_sql_time(p.fetched_at))
                    .collect::<Vec<_>>(),
            )
            .bind(rows.iter().map(|p| p.estimated).collect::<Vec<_>>())
            .execute(&self.pool)
            .await
            .map_err(StorageError::from)?;
        Ok(result.rows_affected())
    }

    async fn prices_since(
        &self,
        region: Region,
        since: Timestamp,
    ) -> Result<Vec<PricePoint>, StoreError> {
        let mut points = self
            .price_range(&RangeQuery::running_since(region, since))
            .await?;
        points.retain(|p| p.end() > since);
        Ok(points)
    }
}

#[async_trait]
impl Storage for PgStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    async fn ping(&self) -> Result<(), StorageError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn price_range(&self, query: &RangeQuery) -> Result<Vec<PricePoint>, StorageError> {
        let rows = sqlx::query(SELECT_RANGE)
            .bind(query.region.code())
            .bind(to_sql_time(query.from))
            .bind(to_sql_time(query.to))
            .bind(query.source.map(|s| s.as_str()))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(point_from_row).collect()
    }

    async fn close(&self) {
        self.pool.close().await;
    }
}
