//! What every handler can reach: settings, storage for reads, typed actor handles and the
//! latest-price cache.

use std::sync::Arc;
use std::time::Instant;

use metrics_exporter_prometheus::PrometheusHandle;
use wattline_actors::domain::Region;
use wattline_actors::domain::price::SourcePreference;
use wattline_actors::fetcher::PricesHandle;
use wattline_actors::ports::SharedClock;
use wattline_actors::writer::LatestPrices;

use crate::config::Settings;
use crate::error::ApiError;
use crate::storage::Storage;

/// Shared application state (cheap to clone).
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    settings: Settings,
    storage: Arc<dyn Storage>,
    prices: PricesHandle,
    latest: LatestPrices,
    preference: Arc<SourcePreference>,
    metrics: PrometheusHandle,
    clock: SharedClock,
    enabled: [bool; Region::ALL.len()],
    started: Instant,
}

/// The parts [`AppState`] is made of.
pub struct AppParts {
    pub settings: Settings,
    pub storage: Arc<dyn Storage>,
    pub prices: PricesHandle,
    pub latest: LatestPrices,
    pub preference: Arc<SourcePreference>,
    pub metrics: PrometheusHandle,
    pub clock: SharedClock,
}

impl AppState {
    /// Assembles the state.
    pub fn new(parts: AppParts) -> Self {
        let mut enabled = [false; Region::ALL.len()];
        for region in parts.settings.enabled_regions() {
            enabled[region.index()] = true;
        }
        AppState {
            inner: Arc::new(Inner {
                settings: parts.settings,
                storage: parts.storage,
                prices: parts.prices,
                latest: parts.latest,
                preference: parts.preference,
                metrics: parts.metrics,
                clock: parts.clock,
                enabled,
                started: Instant::now(),
            }),
        }
    }

    pub fn settings(&self) -> &Settings {
        &self.inner.settings
    }

    pub fn storage(&self) -> &dyn Storage {
        self.inner.storage.as_ref()
    }

    pub fn prices(&self) -> &PricesHandle {
        &self.inner.prices
    }

    pub fn latest(&self) -> &LatestPrices {
        &self.inner.latest
    }

    pub fn preference(&self) -> &SourcePreference {
        &self.inner.preference
    }

    pub fn metrics(&self) -> &PrometheusHandle {
        &self.inner.metrics
    }

    pub fn now(&self) -> jiff::Timestamp {
        self.inner.clock.now()
    }

    pub fn uptime(&self) -> std::time::Duration {
        self.inner.started.elapsed()
    }

    /// Parses a region code from a request and checks this server serves it.
    pub fn region(&self, code: &str) -> Result<Region, ApiError> {
        let region = Region::parse(code)?;
        if self.inner.enabled[region.index()] {
            Ok(region)
        } else {
            Err(ApiError::RegionDisabled(region))
        }
    }

    /// Enabled regions, in listing order.
    pub fn enabled_regions(&self) -> impl Iterator<Item = Region> + '_ {
        Region::ALL
            .into_iter()
            .filter(|r| self.inner.enabled[r.index()])
    }
}
