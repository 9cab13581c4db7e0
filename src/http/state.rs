//! What every handler can reach: settings, storage for reads, typed actor handles and the
//! latest-price cache.

use std::sync::Arc;
use std::time::Instant;

use metrics_exporter_prometheus::PrometheusHandle;
use tokio::sync::watch;
use wattline_actors::broadcast::BroadcastHandle;
use wattline_actors::domain::Region;
use wattline_actors::domain::price::SourcePreference;
use wattline_actors::domain::schedule::SolveLimits;
use wattline_actors::fetcher::PricesHandle;
use wattline_actors::forecaster::ForecastHandle;
use wattline_actors::ports::SharedClock;
use wattline_actors::supervision::SupervisorHandle;
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
    storage: Arc<Storage>,
    prices: PricesHandle,
    broadcast: BroadcastHandle,
    forecasts: Option<ForecastHandle>,
    optimization: SolveLimits,
    latest: LatestPrices,
    preference: Arc<SourcePreference>,
    metrics: PrometheusHandle,
    clock: SharedClock,
    root: SupervisorHandle,
    workers: Option<wattline_actors::workers::WorkersHandle>,
    alerts: Option<wattline_actors::alerts::AlertsHandle>,
    node_id: String,
    shutdown: watch::Receiver<bool>,
    redis: Option<fred::prelude::Client>,
    accounts: Arc<crate::auth::Accounts>,
    billing: Option<Arc<crate::billing::StripeBilling>>,
    enabled: [bool; Region::ALL.len()],
    started: Instant,
    rendered: crate::http::rendered::RenderedPrices,
    year_prices: crate::http::year_prices::YearPrices,
}

/// The parts [`AppState`] is made of.
pub struct AppParts {
    pub settings: Settings,
    pub storage: Arc<Storage>,
    pub prices: PricesHandle,
    pub broadcast: BroadcastHandle,
    /// The forecaster; `None` when forecasting is disabled.
    pub forecasts: Option<ForecastHandle>,
    /// Limits of the exact appliance scheduler.
    pub optimization: SolveLimits,
    pub latest: LatestPrices,
    pub preference: Arc<SourcePreference>,
    pub metrics: PrometheusHandle,
    pub clock: SharedClock,
    /// The root supervisor (every top-level actor's state and restarts).
    pub root: SupervisorHandle,
    /// The WorkerSupervisor and its workers' counters.
    pub workers: Option<wattline_actors::workers::WorkersHandle>,
    /// The AlertEvaluator, told about rules edited here.
    pub alerts: Option<wattline_actors::alerts::AlertsHandle>,
    pub node_id: String,
    /// Turns true when the server starts shutting down (streams end with a final event).
    pub shutdown: watch::Receiver<bool>,
    /// The Redis client, when clustered (for readiness).
    pub redis: Option<fred::prelude::Client>,
    /// Tokens, revocations and sign-in counters of the account routes.
    pub accounts: Arc<crate::auth::Accounts>,
    /// The Stripe client; `None` without a Stripe key.
    pub billing: Option<Arc<crate::billing::StripeBilling>>,
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
                broadcast: parts.broadcast,
                forecasts: parts.forecasts,
                optimization: parts.optimization,
                latest: parts.latest,
                preference: parts.preference,
                metrics: parts.metrics,
                clock: parts.clock,
                root: parts.root,
                workers: parts.workers,
                alerts: parts.alerts,
                node_id: parts.node_id,
                shutdown: parts.shutdown,
                redis: parts.redis,
                accounts: parts.accounts,
                billing: parts.billing,
                enabled,
                started: Instant::now(),
                rendered: Default::default(),
                year_prices: Default::default(),
            }),
        }
    }

    pub fn settings(&self) -> &Settings {
        &self.inner.settings
    }

    pub fn storage(&self) -> &Storage {
        self.inner.storage.as_ref()
    }

    pub fn prices(&self) -> &PricesHandle {
        &self.inner.prices
    }

    pub fn broadcast(&self) -> &BroadcastHandle {
        &self.inner.broadcast
    }

    /// The forecaster, or a 503 when forecasting is disabled on this server.
    pub fn forecasts(&self) -> Result<&ForecastHandle, ApiError> {
        self.inner
            .forecasts
            .as_ref()
            .ok_or(ApiError::ForecastingDisabled)
    }

    /// Limits of the exact appliance scheduler.
    pub fn optimization(&self) -> &SolveLimits {
        &self.inner.optimization
    }

    /// The outbox workers, when they run.
    pub fn workers(&self) -> Option<&wattline_actors::workers::WorkersHandle> {
        self.inner.workers.as_ref()
    }

    /// The AlertEvaluator, when it runs.
    pub fn alerts(&self) -> Option<&wattline_actors::alerts::AlertsHandle> {
        self.inner.alerts.as_ref()
    }

    /// The root supervisor of the actor tree.
    pub fn root(&self) -> &SupervisorHandle {
        &self.inner.root
    }

    /// Tokens, revocations and sign-in counters.
    pub fn accounts(&self) -> &crate::auth::Accounts {
        &self.inner.accounts
    }

    /// The Stripe client, when a Stripe key is configured.
    pub fn billing(&self) -> Option<&crate::billing::StripeBilling> {
        self.inner.billing.as_deref()
    }

    /// The Redis client, when clustered.
    pub fn redis(&self) -> Option<&fred::prelude::Client> {
        self.inner.redis.as_ref()
    }

    pub fn node_id(&self) -> &str {
        &self.inner.node_id
    }

    /// A receiver that turns true when shutdown starts.
    pub fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.inner.shutdown.clone()
    }

    pub fn latest(&self) -> &LatestPrices {
        &self.inner.latest
    }

    /// The JSON of the cache's served prices, rendered once per version.
    /// The last 365 days of each region's prices, read once per day and price version.
    pub fn year_prices(&self) -> &crate::http::year_prices::YearPrices {
        &self.inner.year_prices
    }

    pub fn rendered(&self) -> &crate::http::rendered::RenderedPrices {
        &self.inner.rendered
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
