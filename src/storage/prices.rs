//! Prices, weather and forecasts in storage: the ports the actors write through
//! ([`PriceStore`], [`WeatherStore`], [`ForecastStore`]) and the range reads of the edge.

use async_trait::async_trait;
use jiff::Timestamp;
use serde::Serialize;
use wattline_actors::domain::weather::WeatherPoint;
use wattline_actors::domain::{PricePoint, Region, Source};
use wattline_actors::forecaster::{RegionForecast, StoredStep};
use wattline_actors::ports::{ForecastStore, PriceStore, StoreError, WeatherStore};

use super::rows::{
    FORECAST_STEPS, ForecastRow, PRICE_POINTS, PriceRow, WEATHER_POINTS, WeatherRow,
};
use super::sql::{Dialect, OnConflict, Statement};
use super::{RangeQuery, Storage, StorageError, UnitOfWork, bound};

static UPSERT_PRICES: Statement =
    Statement::new(|d: Dialect| PRICE_POINTS.insert(d, "rows", OnConflict::Update));
static SELECT_PRICES: Statement = Statement::new(|d: Dialect| {
    PRICE_POINTS.select(
        d,
        "region = {region} AND start_at >= {from:time} AND start_at < {to:time} \
         AND ({source} IS NULL OR source = {source})",
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
    /// Adds an upsert of `points` (the same as [`PriceStore::upsert_prices`]) to the unit.
    pub fn upsert_prices(&mut self, points: &[PricePoint]) -> &mut Self {
        self.push(
            &UPSERT_PRICES,
            &Rows {
                rows: dedupe_by_key(points),
            },
        )
    }
}

/// Keeps the last point per storage key, so one statement never touches a row twice
/// (PostgreSQL refuses that).
fn dedupe_by_key(points: &[PricePoint]) -> Vec<PriceRow> {
    let mut index = std::collections::HashMap::with_capacity(points.len());
    let mut out: Vec<PriceRow> = Vec::with_capacity(points.len());
    for p in points {
        match index.get(&p.key()) {
            Some(&i) => out[i] = PriceRow::from(p),
            None => {
                index.insert(p.key(), out.len());
                out.push(PriceRow::from(p));
            }
        }
    }
    out
}

#[async_trait]
impl PriceStore for Storage {
    async fn upsert_prices(&self, points: &[PricePoint]) -> Result<u64, StoreError> {
        if points.is_empty() {
            return Ok(0);
        }
        let rows = dedupe_by_key(points);
        Ok(self.execute(&UPSERT_PRICES, &Rows { rows }).await?)
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
        // The last step per key wins.
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
        Ok(self.execute(&UPSERT_WEATHER, &Rows { rows }).await?)
    }
}

#[async_trait]
impl ForecastStore for Storage {
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
