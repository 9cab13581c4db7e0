//! The last 365 days of a region's served prices, read from storage once per day and per
//! version of the region's latest prices, for the tariff comparison: reading 35 000 quarter
//! hours costs far more than pricing two dozen tariffs over them. A region's entry is replaced
//! when the writer replaces the region's series (new prices) or the day changes (the window
//! moves), so an entry is never older than both.

use std::sync::Arc;

use arc_swap::ArcSwapOption;
use jiff::civil::Date;
use jiff::{SignedDuration, Timestamp};
use wattline_actors::domain::{PricePoint, Region};
use wattline_actors::writer::latest::RegionSeries;

use crate::error::ApiError;
use crate::http::series::{Sources, series};
use crate::http::state::AppState;

/// One read of a region's year.
#[derive(Debug)]
pub struct Year {
    /// The latest-price series at the time of the read.
    series: RegionSeries,
    day: Date,
    pub points: Vec<PricePoint>,
}

/// Per region, the newest year read, and a gate so that concurrent requests after a change
/// wait for one read instead of each reading the year (fifty at once exhausted the pool).
pub struct YearPrices {
    regions: Vec<ArcSwapOption<Year>>,
    reading: Vec<tokio::sync::Mutex<()>>,
}

impl Default for YearPrices {
    fn default() -> Self {
        YearPrices {
            regions: Region::ALL.iter().map(|_| ArcSwapOption::empty()).collect(),
            reading: Region::ALL.iter().map(|_| Default::default()).collect(),
        }
    }
}

impl YearPrices {
    /// The served prices of `region` in the 365 days before now.
    pub async fn of(&self, state: &AppState, region: Region) -> Result<Arc<Year>, ApiError> {
        let now = state.now();
        let day = now.to_zoned(jiff::tz::TimeZone::UTC).date();
        let snapshot = state.latest().snapshot();
        let current = snapshot.series_arc(region);
        let slot = &self.regions[region.index()];
        let fresh = |year: &Arc<Year>| year.day == day && Arc::ptr_eq(&year.series, current);
        if let Some(year) = slot.load_full().filter(fresh) {
            return Ok(year);
        }
        let _reading = self.reading[region.index()].lock().await;
        // Another request may have read it while this one waited.
        if let Some(year) = slot.load_full().filter(fresh) {
            return Ok(year);
        }
        let from: Timestamp = now - SignedDuration::from_hours(365 * 24);
        let points = series(state, region, from, now, Sources::Served)
            .await?
            .to_vec();
        let year = Arc::new(Year {
            series: current.clone(),
            day,
            points,
        });
        slot.store(Some(year.clone()));
        Ok(year)
    }
}
