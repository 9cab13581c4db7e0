//! Prices, weather and forecasts in storage: the ports the actors write through
//! ([`PriceStore`], [`WeatherStore`], [`ForecastStore`]) and the range reads of the edge.

use async_trait::async_trait;
use jiff::Timestamp;
use serde::Serialize;
use wattline_actors::domain::weather::WeatherPoint;
use wattline_actors::domain::{PricePoint, Region, Source};
use wattline_actors::forecaster::{RegionForecast, StoredStep};
use wattline_actors::ports::{ForecastStore, PriceStore, StoreError, StoredModel, WeatherStore};

use super::models::{ModelRow, SELECT_MODEL, UPSERT_MODEL};
use super::rows::{
    FORECAST_STEPS, ForecastRow, PRICE_POINTS, PriceRow, WEATHER_POINTS, WeatherRow,
};
use super::sql::{Dialect, OnConflict, Statement};
use super::{RangeQuery, Storage, StorageError, UnitOfWork, bound};

/// An identical point is not rewritten (its `fetched_at` stays as first stored), so re-running a
/// backfill or re-fetching a published day writes nothing.
static UPSERT_PRICES: Statement = Statement::new(|d: Dialect| {
    PRICE_POINTS.insert(
        d,
        "rows",
        OnConflict::UpdateChanged {
            except: &["fetched_at"],
        },
    )
});
static COUNT_PRICES: Statement = Statement::new(|d: Dialect| {
    super::sql::render(
        "SELECT {sqlite:json_object('count', count(*))|postgres:json_build_object('count', count(*))::text} \
         FROM price_points WHERE region = {region} AND start_at >= {from:time} AND start_at < {to:time}",
        d,
    )
});
pub(crate) static SELECT_PRICES: Statement = Statement::new(|d: Dialect| {
    PRICE_POINTS.select(
        d,
        "region = {region} AND start_at >= {from:time} AND start_at < {to:time} \
         AND ({source} IS NULL OR source = {source})",
        "start_at, source",
        "",
    )
});
static SELECT_PAGE: Statement = Statement::new(|d: Dialect| {
    let filter = "region = {region} AND start_at >= {from:time} AND start_at < {to:time} \
         AND ({source} IS NULL OR source = {source}) \
         AND ({after} IS NULL OR start_at > {after:time})";
    PRICE_POINTS.select(
        d,
        &format!(
            "{filter} AND start_at IN (SELECT DISTINCT start_at FROM price_points WHERE {filter} \
             ORDER BY start_at LIMIT {{starts:int}})"
        ),
        "start_at, source",
        "",
    )
});
static SELECT_LONG: Statement = Statement::new(|d: Dialect| {
    PRICE_POINTS.select(
        d,
        "region = {region} AND start_at >= {from:time} AND start_at < {to:time} \
         AND duration_min > 1440",
        "start_at, source",
        "",
    )
});
static UPSERT_WEATHER: Statement =
    Statement::new(|d: Dialect| WEATHER_POINTS.insert(d, "rows", OnConflict::Update));
static SELECT_WEATHER: Statement = Statement::new(|d: Dialect| {
    WEATHER_POINTS.select(
        d,
        "region = {region} AND at >= {from:time} AND at < {to:time}",
        "at, source",
        "",
    )
});
static UPSERT_FORECAST: Statement =
    Statement::new(|d: Dialect| FORECAST_STEPS.insert(d, "rows", OnConflict::Update));
static SELECT_FORECAST: Statement = Statement::new(|d: Dialect| {
    FORECAST_STEPS.select(
        d,
        "region = {region} AND start_at >= {from:time} AND start_at < {to:time}",
        "start_at, model_version",
        "",
    )
});
static PRUNE_FORECAST: Statement = Statement::new(|d: Dialect| {
    super::sql::render(
        "DELETE FROM forecast_steps WHERE region = {region} AND start_at < {before:time}",
        d,
    )
});

/// A batch to write.
#[derive(Serialize)]
struct Rows<T> {
    rows: Vec<T>,
}

/// A range of one region.
#[derive(Serialize)]
struct Range {
    region: Region,
    from: Timestamp,
    to: Timestamp,
    source: Option<Source>,
}

impl Storage {
    /// How many points (of every source) are stored in the range.
    pub async fn count_prices(&self, query: &RangeQuery) -> Result<u64, StorageError> {
        #[derive(serde::Deserialize)]
        struct Count {
            count: u64,
        }
        let range = Range {
            region: query.region,
            from: bound(query.from),
            to: bound(query.to),
            source: query.source,
        };
        let json = self
            .pool()
            .fetch_json(&COUNT_PRICES, &super::to_json(&range))
            .await?;
        let count: Count = serde_json::from_str(json.as_deref().unwrap_or(r#"{"count":0}"#))
            .map_err(|e| StorageError::Corrupt(e.to_string()))?;
        Ok(count.count)
    }

    /// Points in the range ordered by start, then source.
    pub async fn price_range(&self, query: &RangeQuery) -> Result<Vec<PricePoint>, StorageError> {
        let rows: Vec<PriceRow> = self
            .rows(
                &SELECT_PRICES,
                &Range {
                    region: query.region,
                    from: bound(query.from),
                    to: bound(query.to),
                    source: query.source,
                },
            )
            .await?;
        Ok(rows.into_iter().map(PricePoint::from).collect())
    }

    /// The points of the first `starts` distinct interval starts of the range after `after`
    /// (every source's, or `query.source`'s), ordered by start, then source: a page of history
    /// without reading the rest of the range.
    pub async fn price_page(
        &self,
        query: &RangeQuery,
        after: Option<Timestamp>,
        starts: usize,
    ) -> Result<Vec<PricePoint>, StorageError> {
        let rows: Vec<PriceRow> = self
            .rows(
                &SELECT_PAGE,
                &serde_json::json!({
                    "region": query.region,
                    "from": bound(query.from),
                    "to": bound(query.to),
                    "source": query.source,
                    "after": after.map(bound),
                    "starts": starts,
                }),
            )
            .await?;
        Ok(rows.into_iter().map(PricePoint::from).collect())
    }

    /// The points longer than a day (monthly retail references) of `region` starting in
    /// `[from, to)`: what per-day statistics leave out.
    pub async fn long_points(
        &self,
        region: Region,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<PricePoint>, StorageError> {
        let rows: Vec<PriceRow> = self
            .rows(
                &SELECT_LONG,
                &Range {
                    region,
                    from: bound(from),
                    to: bound(to),
                    source: None,
                },
            )
            .await?;
        Ok(rows.into_iter().map(PricePoint::from).collect())
    }

    /// Weather steps of `region` in `[from, to)`, ordered by instant, then source.
    pub async fn weather_range(
        &self,
        region: Region,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<WeatherPoint>, StorageError> {
        self.rows(
            &SELECT_WEATHER,
            &Range {
                region,
                from: bound(from),
                to: bound(to),
                source: None,
            },
        )
        .await
    }
}

impl UnitOfWork {
    /// Adds an upsert of weather steps (as [`WeatherStore::upsert_weather`]) to the unit.
    pub fn upsert_weather(&mut self, points: &[WeatherPoint]) -> &mut Self {
        self.push(
            &UPSERT_WEATHER,
            &Rows {
                rows: last_per_key(points),
            },
        )
    }
}

/// Keeps the last point per storage key, so one statement never touches a row twice
/// (PostgreSQL refuses that).
fn dedupe_by_key(points: &[PricePoint]) -> Vec<&PricePoint> {
    let mut index = std::collections::HashMap::with_capacity(points.len());
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

/// The last weather step per (region, source, instant).
fn last_per_key(points: &[WeatherPoint]) -> Vec<&WeatherRow> {
    let mut rows: Vec<&WeatherRow> = Vec::with_capacity(points.len());
    let mut index = std::collections::HashMap::new();
    for p in points {
        match index.get(&(p.region, p.source.as_str(), p.at)) {
            Some(&i) => rows[i] = p,
            None => {
                index.insert((p.region, p.source.as_str(), p.at), rows.len());
                rows.push(p);
            }
        }
    }
    rows
}

#[async_trait]
impl PriceStore for Storage {
    async fn upsert_prices(&self, points: &[PricePoint]) -> Result<u64, StoreError> {
        if points.is_empty() {
            return Ok(0);
        }
        let points: Vec<PricePoint> = dedupe_by_key(points).into_iter().cloned().collect();
        let rows: Vec<PriceRow> = points.iter().map(PriceRow::from).collect();
        // The points and their day statistics commit together.
        let mut tx = self.begin().await?;
        let written = tx
            .execute(&UPSERT_PRICES, &super::to_json(&Rows { rows }))
            .await?;
        super::days::refresh(&mut tx, &points).await?;
        tx.commit().await?;
        Ok(written)
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
impl WeatherStore for Storage {
    async fn upsert_weather(&self, points: &[WeatherPoint]) -> Result<u64, StoreError> {
        if points.is_empty() {
            return Ok(0);
        }
        let rows = last_per_key(points);
        Ok(self.execute(&UPSERT_WEATHER, &Rows { rows }).await?)
    }
}

#[async_trait]
impl ForecastStore for Storage {
    async fn save_model(&self, model: &StoredModel) -> Result<(), StoreError> {
        let rows = vec![ModelRow {
            region: model.region,
            version: model.version.clone(),
            calibrated_at: model.calibrated_at,
            model: model.model.clone(),
        }];
        self.execute(&UPSERT_MODEL, &Rows { rows }).await?;
        Ok(())
    }

    async fn load_model(&self, region: Region) -> Result<Option<StoredModel>, StoreError> {
        #[derive(Serialize)]
        struct Key {
            region: Region,
        }
        let rows: Vec<ModelRow> = self.rows(&SELECT_MODEL, &Key { region }).await?;
        Ok(rows.into_iter().next().map(|row| StoredModel {
            region: row.region,
            version: row.version,
            calibrated_at: row.calibrated_at,
            model: row.model,
        }))
    }

    async fn save_forecast(&self, forecast: &RegionForecast) -> Result<u64, StoreError> {
        if forecast.steps.is_empty() {
            return Ok(0);
        }
        let rows = ForecastRow::all(forecast);
        Ok(self.execute(&UPSERT_FORECAST, &Rows { rows }).await?)
    }

    async fn forecast_steps(
        &self,
        region: Region,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<StoredStep>, StoreError> {
        let rows: Vec<ForecastRow> = self
            .rows(
                &SELECT_FORECAST,
                &Range {
                    region,
                    from: bound(from),
                    to: bound(to),
                    source: None,
                },
            )
            .await?;
        Ok(rows.into_iter().map(StoredStep::from).collect())
    }

    async fn prune_forecasts(&self, region: Region, before: Timestamp) -> Result<u64, StoreError> {
        #[derive(Serialize)]
        struct Prune {
            region: Region,
            before: Timestamp,
        }
        Ok(self
            .execute(
                &PRUNE_FORECAST,
                &Prune {
                    region,
                    before: bound(before),
                },
            )
            .await?)
    }
}
