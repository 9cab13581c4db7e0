//! The port implementations both backends share. Each backend's SQL exchanges a batch or a range
//! as one JSON array of rows (see `JsonRow` in `mod.rs`), so only the statements and the pool
//! differ; this macro writes the rest once.

/// Implements [`PriceStore`](wattline_actors::ports::PriceStore) and [`Storage`](super::Storage)
/// for `$store` (a struct with a sqlx `pool`), given its backend name and its statements:
/// `$upsert` binds the batch JSON; `$select_range` binds region, from, to and an optional source
/// and returns the JSON array of rows; the weather and forecast pairs do the same for weather and
/// forecast steps; `$prune_forecast` binds region and a cut-off and deletes the older steps.
macro_rules! json_backed_store {
    ($store:ty, $backend:literal, $upsert:expr, $select_range:expr, $upsert_weather:expr, $select_weather:expr,
     $upsert_forecast:expr, $select_forecast:expr, $prune_forecast:expr) => {
        #[async_trait::async_trait]
        impl wattline_actors::ports::ForecastStore for $store {
            async fn save_forecast(
                &self,
                forecast: &wattline_actors::forecaster::RegionForecast,
            ) -> Result<u64, wattline_actors::ports::StoreError> {
                if forecast.steps.is_empty() {
                    return Ok(0);
                }
                let result = sqlx::query($upsert_forecast)
                    .bind(super::forecast_json(forecast))
                    .execute(&self.pool)
                    .await
                    .map_err(super::StorageError::from)?;
                Ok(result.rows_affected())
            }

            async fn forecast_steps(
                &self,
                region: wattline_actors::domain::Region,
                from: jiff::Timestamp,
                to: jiff::Timestamp,
            ) -> Result<Vec<wattline_actors::forecaster::StoredStep>, wattline_actors::ports::StoreError> {
                let json: String = sqlx::query_scalar($select_forecast)
                    .bind(region.code())
                    .bind(super::bound_text(from))
                    .bind(super::bound_text(to))
                    .fetch_one(&self.pool)
                    .await
                    .map_err(super::StorageError::from)?;
                Ok(super::forecast_steps_from_json(&json)?)
            }

            async fn prune_forecasts(
                &self,
                region: wattline_actors::domain::Region,
                before: jiff::Timestamp,
            ) -> Result<u64, wattline_actors::ports::StoreError> {
                let result = sqlx::query($prune_forecast)
                    .bind(region.code())
                    .bind(super::bound_text(before))
                    .execute(&self.pool)
                    .await
                    .map_err(super::StorageError::from)?;
                Ok(result.rows_affected())
            }
        }

        #[async_trait::async_trait]
        impl wattline_actors::ports::PriceStore for $store {
            async fn upsert_prices(
                &self,
                points: &[wattline_actors::domain::PricePoint],
            ) -> Result<u64, wattline_actors::ports::StoreError> {
                if points.is_empty() {
                    return Ok(0);
                }
                let result = sqlx::query($upsert)
                    .bind(super::batch_json(points))
                    .execute(&self.pool)
                    .await
                    .map_err(super::StorageError::from)?;
                Ok(result.rows_affected())
            }

            async fn prices_since(
                &self,
                region: wattline_actors::domain::Region,
                since: jiff::Timestamp,
            ) -> Result<Vec<wattline_actors::domain::PricePoint>, wattline_actors::ports::StoreError> {
                use super::Storage as _;
                let mut points = self.price_range(&super::RangeQuery::running_since(region, since)).await?;
                points.retain(|p| p.end() > since);
                Ok(points)
            }
        }

        #[async_trait::async_trait]
        impl wattline_actors::ports::WeatherStore for $store {
            async fn upsert_weather(
                &self,
                points: &[wattline_actors::domain::weather::WeatherPoint],
            ) -> Result<u64, wattline_actors::ports::StoreError> {
                if points.is_empty() {
                    return Ok(0);
                }
                let result = sqlx::query($upsert_weather)
                    .bind(super::weather_json(points))
                    .execute(&self.pool)
                    .await
                    .map_err(super::StorageError::from)?;
                Ok(result.rows_affected())
            }
        }

        #[async_trait::async_trait]
        impl super::Storage for $store {
            fn backend(&self) -> &'static str {
                $backend
            }

            async fn ping(&self) -> Result<(), super::StorageError> {
                sqlx::query("SELECT 1").execute(&self.pool).await?;
                Ok(())
            }

            async fn price_range(
                &self,
                query: &super::RangeQuery,
            ) -> Result<Vec<wattline_actors::domain::PricePoint>, super::StorageError> {
                let json: String = sqlx::query_scalar($select_range)
                    .bind(query.region.code())
                    .bind(super::bound_text(query.from))
                    .bind(super::bound_text(query.to))
                    .bind(query.source.map(|s| s.as_str()))
                    .fetch_one(&self.pool)
                    .await?;
                super::points_from_json(&json)
            }

            async fn weather_range(
                &self,
                region: wattline_actors::domain::Region,
                from: jiff::Timestamp,
                to: jiff::Timestamp,
            ) -> Result<Vec<wattline_actors::domain::weather::WeatherPoint>, super::StorageError> {
                let json: String = sqlx::query_scalar($select_weather)
                    .bind(region.code())
                    .bind(super::bound_text(from))
                    .bind(super::bound_text(to))
                    .fetch_one(&self.pool)
                    .await?;
                super::weather_from_json(&json)
            }

            async fn close(&self) {
                self.pool.close().await;
            }
        }
    };
}
