//! SQLite storage: the embedded default. One file, WAL journal (committed batches survive a
//! crash of the process), migrations applied on open.

use std::str::FromStr;

use async_trait::async_trait;
use jiff::Timestamp;
use rust_decimal::Decimal;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{Row, SqlitePool};
use wattline_actors::domain::{PricePoint, Region};
use wattline_actors::ports::{PriceStore, StoreError};

use super::{RangeQuery, Storage, StorageError, StorageOptions, dedupe_by_key, sqlite_migrations};

/// Upsert of a whole batch in one statement: the batch is bound as one JSON array of rows and
/// unpacked by `json_each`, so the SQL stays constant whatever the batch size.
/// (`WHERE true` resolves SQLite's parsing ambiguity between `SELECT … ON CONFLICT` forms.)
const UPSERT: &str = "\
INSERT INTO price_points (region, source, start_at, duration_min, price, currency, unit, kind, fetched_at, estimated)
SELECT j.value ->> '$[0]', j.value ->> '$[1]', j.value ->> '$[2]', j.value ->> '$[3]', j.value ->> '$[4]',
       j.value ->> '$[5]', j.value ->> '$[6]', j.value ->> '$[7]', j.value ->> '$[8]', j.value ->> '$[9]'
FROM json_each(?1) AS j WHERE true
ON CONFLICT (region, source, start_at, duration_min) DO UPDATE SET
    price = excluded.price, currency = excluded.currency, unit = excluded.unit, kind = excluded.kind,
    fetched_at = excluded.fetched_at, estimated = excluded.estimated";

const SELECT_RANGE: &str = "\
SELECT region, source, start_at, duration_min, price, currency, unit, kind, fetched_at, estimated
FROM price_points
WHERE region = ?1 AND start_at >= ?2 AND start_at < ?3 AND (?4 IS NULL OR source = ?4)
ORDER BY start_at, source";

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

/// RFC 3339 UTC with whole seconds: fixed width, so text order is time order.
pub(crate) fn start_text(at: Timestamp) -> String {
    at.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn point_from_row(row: &SqliteRow) -> Result<PricePoint, StorageError> {
    let text = |col: &str| -> Result<String, StorageError> { Ok(row.try_get::<String, _>(col)?) };
    let corrupt =
        |col: &str, e: &dyn std::fmt::Display| StorageError::Corrupt(format!("{col}: {e}"));
    let region = text("region")?;
    let start = text("start_at")?;
    let price = text("price")?;
    let fetched = text("fetched_at")?;
    Ok(PricePoint {
        region: Region::parse(&region).map_err(|e| corrupt("region", &e))?,
        start: start.parse().map_err(|e| corrupt("start_at", &e))?,
        duration_minutes: u32::try_from(row.try_get::<i64, _>("duration_min")?)
            .map_err(|e| corrupt("duration_min", &e))?,
        price: Decimal::from_str(&price).map_err(|e| corrupt("price", &e))?,
        currency: text("currency")?
            .parse()
            .map_err(|e| corrupt("currency", &e))?,
        unit: text("unit")?.parse().map_err(|e| corrupt("unit", &e))?,
        kind: text("kind")?.parse().map_err(|e| corrupt("kind", &e))?,
        source: text("source")?.parse().map_err(|e| corrupt("source", &e))?,
        fetched_at: fetched.parse().map_err(|e| corrupt("fetched_at", &e))?,
        estimated: row.try_get::<i64, _>("estimated")? != 0,
    })
}

/// The batch as the JSON array of rows `UPSERT` unpacks.
fn batch_json(points: &[PricePoint]) -> String {
    let rows: Vec<_> = dedupe_by_key(points)
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
                u8::from(p.estimated),
            )
        })
        .collect();
    serde_json::to_string(&rows).unwrap_or_else(|_| "[]".to_string())
}

#[async_trait]
impl PriceStore for SqliteStore {
    async fn upsert_prices(&self, points: &[PricePoint]) -> Result<u64, StoreError> {
        if points.is_empty() {
            return Ok(0);
        }
        let result = sqlx::query(UPSERT)
            .bind(batch_json(points))
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
impl Storage for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    async fn ping(&self) -> Result<(), StorageError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn price_range(&self, query: &RangeQuery) -> Result<Vec<PricePoint>, StorageError> {
        let rows = sqlx::query(SELECT_RANGE)
            .bind(query.region.code())
            .bind(start_text(query.from))
            .bind(start_text(query.to))
            .bind(query.source.map(|s| s.as_str()))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(point_from_row).collect()
    }

    async fn close(&self) {
        self.pool.close().await;
    }
}
