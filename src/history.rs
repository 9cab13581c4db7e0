//! History bootstrap: on start, each region whose stored history is shorter than
//! `forecast.bootstrap_days` gets the missing past days from its sources (newest first, so the
//! model's window grows backwards from the present), written straight to storage in batches,
//! then the forecaster is asked to recalibrate. Runs in the background: serving starts at once.

use std::sync::Arc;
use std::time::Duration;

use jiff::civil::Date;
use wattline_actors::RegionSources;
use wattline_actors::domain::Region;
use wattline_actors::domain::calendar::{day_bounds, expected_intervals, local_date};
use wattline_actors::fetcher::cycle::fetch_day;
use wattline_actors::forecaster::ForecastHandle;
use wattline_actors::ports::{PriceSource, SharedClock};

use crate::storage::{RangeQuery, Storage};

/// Days fetched before they are written in one batch.
const BATCH_DAYS: usize = 10;

/// What a bootstrap did for one region.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BootstrapReport {
    pub loaded_days: usize,
    pub failed_days: usize,
}

/// Fills every enabled region's missing past days, one region after the other.
pub async fn bootstrap_all(
    sources: RegionSources,
    storage: Arc<dyn Storage>,
    clock: SharedClock,
    days: usize,
    fetch_timeout: Duration,
    forecasts: Option<ForecastHandle>,
) {
    for (region, region_sources) in sources {
        let sources: Arc<[Arc<dyn PriceSource>]> = region_sources.into();
        match bootstrap_region(
            region,
            &sources,
            storage.as_ref(),
            &clock,
            days,
            fetch_timeout,
        )
        .await
        {
            Ok(report) if report.loaded_days > 0 || report.failed_days > 0 => {
                tracing::info!(%region, loaded = report.loaded_days, failed = report.failed_days, "History bootstrap done.");
                if let Some(forecasts) = &forecasts {
                    let _ = forecasts.recalibrate(region);
                }
            }
            Ok(_) => {}
            Err(error) => {
                tracing::warn!(%region, %error, "History bootstrap could not read storage.")
            }
        }
    }
}

/// Loads the days among the last `days` (before today) that storage lacks.
pub async fn bootstrap_region(
    region: Region,
    sources: &Arc<[Arc<dyn PriceSource>]>,
    storage: &dyn Storage,
    clock: &SharedClock,
    days: usize,
    fetch_timeout: Duration,
) -> Result<BootstrapReport, crate::storage::StorageError> {
    let today = local_date(region, clock.now());
    let missing = missing_days(region, storage, today, days).await?;
    let mut report = BootstrapReport::default();
    let mut batch = Vec::new();
    for (i, day) in missing.iter().enumerate() {
        let outcome = fetch_day(region, *day, sources.clone(), fetch_timeout).await;
        if outcome.failed.is_empty() {
            report.loaded_days += 1;
            batch.extend(outcome.fetched.into_iter().flat_map(|f| f.points));
        } else {
            report.failed_days += 1;
        }
        if (i + 1) % BATCH_DAYS == 0 || i + 1 == missing.len() {
            storage
                .upsert_prices(&std::mem::take(&mut batch))
                .await
                .map_err(|e| crate::storage::StorageError::Unavailable(e.to_string()))?;
        }
    }
    Ok(report)
}

/// Local days in `[today − days, today)` without a complete set of stored intervals, newest
/// first.
async fn missing_days(
    region: Region,
    storage: &dyn Storage,
    today: Date,
    days: usize,
) -> Result<Vec<Date>, crate::storage::StorageError> {
    let Some(first) = today.checked_sub(jiff::Span::new().days(days as i64)).ok() else {
        return Ok(Vec::new());
    };
    let query = RangeQuery {
        region,
        from: day_bounds(region, first).0,
        to: day_bounds(region, today).0,
        source: None,
    };
    let stored = storage.price_range(&query).await?;
    let mut starts_per_day =
        std::collections::BTreeMap::<Date, std::collections::BTreeSet<jiff::Timestamp>>::new();
    for p in &stored {
        starts_per_day
            .entry(local_date(region, p.start))
            .or_default()
            .insert(p.start);
    }
    let missing = first
        .series(jiff::Span::new().days(1))
        .take_while(|d| *d < today)
        .filter(|d| starts_per_day.get(d).map_or(0, |s| s.len()) < expected_intervals(region, *d))
        .collect::<Vec<_>>();
    Ok(missing.into_iter().rev().collect())
}
