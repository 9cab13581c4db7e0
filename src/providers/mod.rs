//! Price sources the fetchers use, built from configuration through one registry
//! ([`PROVIDERS`]): the built-in simulator (always available), real HTTP clients (ENTSO-E,
//! Octopus Agile, EIA, Flatpeak) and the CSV replay; plus the OpenWeatherMap client of the
//! weather collector. Each provider module owns its settings, its construction and the regions
//! it covers. A source that needs an API key is left out (with a warning) when it is not set.

pub mod eia;
pub mod entsoe;
pub mod flatpeak;
pub mod http;
pub mod octopus;
pub mod openweathermap;
pub mod replay;
pub mod simulator;

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use wattline_actors::RegionSources;
use wattline_actors::domain::{Region, Source};
use wattline_actors::ports::{PriceSource, SharedClock};

use crate::config::Settings;
pub use http::{ProviderHttp, RetryPolicy};
pub use simulator::Simulator;

/// Why the configured sources cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// A source is named for a region but cannot serve it.
    #[error(
        "configuration key `regions.sources.{region}`: source `{price_source}` is not available ({why})"
    )]
    Unavailable {
        region: Region,
        price_source: Source,
        why: String,
    },
    /// Every source of a region was left out.
    #[error("configuration key `regions.sources.{region}`: no usable source is left ({why})")]
    Empty { region: Region, why: String },
    /// A replay file is broken.
    #[error("configuration key `providers.replay.files.{region}`: {error}")]
    Replay {
        region: Region,
        error: replay::ReplayError,
    },
    /// The HTTP client could not be built.
    #[error("provider HTTP client: {0}")]
    Http(String),
}

/// `[providers]`: the HTTP clients' limits and each provider's own section.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderSettings {
    /// Per-request timeout (default 20s).
    #[serde(deserialize_with = "crate::config::human::positive_duration")]
    pub timeout: Duration,
    /// Tries per call (default 3).
    pub attempts: NonZeroU32,
    pub entsoe: entsoe::EntsoeSettings,
    pub octopus: octopus::OctopusSettings,
    pub eia: eia::EiaSettings,
    pub flatpeak: flatpeak::FlatpeakSettings,
    pub openweathermap: openweathermap::WeatherSettings,
    pub replay: replay::ReplaySettings,
}

impl ProviderSettings {
    /// Every secret key of the providers and whether it is set.
    pub fn secrets(&self) -> [(&'static str, bool); 4] {
        [
            ("providers.entsoe.api_key", self.entsoe.api_key.is_some()),
            ("providers.eia.api_key", self.eia.api_key.is_some()),
            (
                "providers.flatpeak.api_key",
                self.flatpeak.api_key.is_some(),
            ),
            (
                "providers.openweathermap.api_key",
                self.openweathermap.api_key.is_some(),
            ),
        ]
    }
}

/// What building a region's source needs.
pub struct Build<'a> {
    pub settings: &'a ProviderSettings,
    pub http: &'a ProviderHttp,
    pub clock: &'a SharedClock,
    pub simulator_seed: u64,
}

/// A built source, or why it was left out (a key that is not set).
pub enum Built {
    Ready(Arc<dyn PriceSource>),
    LeftOut(String),
}

/// A kind of price source: the regions it covers and how its client is made. Adding a
/// provider is a module with its settings and one of these, a line in [`PROVIDERS`] and its
/// section in `config/default.toml`.
pub trait Provider: Sync {
    /// The source its points carry.
    fn source(&self) -> Source;

    /// `Err(why)` when it cannot serve `region` at all (configuring it there is an error).
    fn covers(&self, region: Region, settings: &ProviderSettings) -> Result<(), String>;

    /// The client for `region` (which it covers).
    fn build(&self, region: Region, cx: &Build<'_>) -> Result<Built, ProviderError>;
}

/// Every provider.
pub static PROVIDERS: &[&dyn Provider] = &[
    &simulator::SimulatorProvider,
    &entsoe::EntsoeProvider,
    &octopus::OctopusProvider,
    &eia::EiaProvider,
    &flatpeak::FlatpeakProvider,
    &replay::ReplayProvider,
];

/// The shared HTTP client of the providers, as configured.
pub fn provider_http(settings: &Settings) -> Result<ProviderHttp, ProviderError> {
    let retry = RetryPolicy {
        attempts: settings.providers.attempts.get(),
        ..RetryPolicy::default()
    };
    ProviderHttp::new(settings.providers.timeout, retry)
        .map_err(|e| ProviderError::Http(e.to_string()))
}

/// Builds each enabled region's sources in failover order.
pub fn build_sources(
    settings: &Settings,
    clock: SharedClock,
) -> Result<RegionSources, ProviderError> {
    let http = provider_http(settings)?;
    let cx = Build {
        settings: &settings.providers,
        http: &http,
        clock: &clock,
        simulator_seed: settings.simulator.seed,
    };
    let mut regions = Vec::new();
    for region in settings.enabled_regions() {
        let mut sources: Vec<Arc<dyn PriceSource>> = Vec::new();
        let mut left_out = Vec::new();
        for source in settings.sources_for(region) {
            let Some(provider) = PROVIDERS.iter().find(|p| p.source() == source) else {
                return Err(unavailable(
                    region,
                    source,
                    "forecasts are made here, not fetched",
                ));
            };
            provider
                .covers(region, &settings.providers)
                .map_err(|why| unavailable(region, source, &why))?;
            match provider.build(region, &cx)? {
                Built::Ready(built) => sources.push(built),
                Built::LeftOut(why) => {
                    tracing::warn!(%region, %source, reason = %why, "Price source left out.");
                    left_out.push(format!("{source}: {why}"));
                }
            }
        }
        if !sources
            .iter()
            .any(|s| s.role() == wattline_actors::ports::SourceRole::Primary)
        {
            return Err(ProviderError::Empty {
                region,
                why: left_out.join("; "),
            });
        }
        regions.push((region, sources));
    }
    Ok(regions)
}

fn unavailable(region: Region, price_source: Source, why: &str) -> ProviderError {
    ProviderError::Unavailable {
        region,
        price_source,
        why: why.to_string(),
    }
}

/// The weather collector's client, when a key is configured.
pub fn weather_client(
    settings: &Settings,
    clock: SharedClock,
) -> Result<Option<openweathermap::OpenWeatherMap>, ProviderError> {
    let Some(key) = settings.providers.openweathermap.api_key.clone() else {
        return Ok(None);
    };
    let http = provider_http(settings)?;
    Ok(Some(openweathermap::OpenWeatherMap::new(
        http,
        settings.providers.openweathermap.base_url.clone(),
        key,
        clock,
    )))
}
