//! Price sources the fetchers use, built from configuration: the built-in simulator (always
//! available), real HTTP clients (ENTSO-E, Octopus Agile, EIA, Flatpeak), the CSV replay, and
//! the OpenWeatherMap forecast collector. A source that needs an API key is left out (with a
//! warning) when the key is not set.

pub mod eia;
pub mod entsoe;
pub mod flatpeak;
pub mod http;
pub mod octopus;
pub mod openweathermap;
pub mod replay;
pub mod simulator;

use std::sync::Arc;
use std::time::Duration;

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

/// The shared HTTP client of the providers, as configured.
pub fn provider_http(settings: &Settings) -> Result<ProviderHttp, ProviderError> {
    let retry = RetryPolicy {
        attempts: settings.providers.attempts,
        ..RetryPolicy::default()
    };
    ProviderHttp::new(Duration::from_secs(settings.providers.timeout_secs), retry)
        .map_err(|e| ProviderError::Http(e.to_string()))
}

/// Builds each enabled region's sources in failover order.
pub fn build_sources(
    settings: &Settings,
    clock: SharedClock,
) -> Result<RegionSources, ProviderError> {
    let http = provider_http(settings)?;
    let p = &settings.providers;
    let simulator: Arc<dyn PriceSource> =
        Arc::new(Simulator::new(settings.simulator.seed, clock.clone()));
    let entsoe: Option<Arc<dyn PriceSource>> = p.entsoe.api_key.clone().map(|key| {
        Arc::new(entsoe::Entsoe::new(
            http.clone(),
            p.entsoe.base_url.clone(),
            key,
            p.entsoe.italy_zone.clone(),
            clock.clone(),
        )) as Arc<dyn PriceSource>
    });
    let octopus: Arc<dyn PriceSource> = Arc::new(octopus::Octopus::new(
        http.clone(),
        p.octopus.base_url.clone(),
        p.octopus.product.clone(),
        p.octopus.region_letter.clone(),
        clock.clone(),
    ));
    let eia: Option<Arc<dyn PriceSource>> = p.eia.api_key.clone().map(|key| {
        Arc::new(eia::Eia::new(
            http.clone(),
            p.eia.base_url.clone(),
            key,
            p.eia.sector.clone(),
            clock.clone(),
        )) as Arc<dyn PriceSource>
    });
    let flatpeak_ready = !p.flatpeak.account_id.is_empty() && !p.flatpeak.location_id.is_empty();
    let flatpeak: Option<Arc<dyn PriceSource>> = p
        .flatpeak
        .api_key
        .clone()
        .filter(|_| flatpeak_ready)
        .map(|key| {
            Arc::new(flatpeak::Flatpeak::new(
                http.clone(),
                p.flatpeak.base_url.clone(),
                p.flatpeak.account_id.clone(),
                key,
                p.flatpeak.location_id.clone(),
                clock.clone(),
            )) as Arc<dyn PriceSource>
        });
    let mut regions = Vec::new();
    for region in settings.enabled_regions() {
        let mut sources: Vec<Arc<dyn PriceSource>> = Vec::new();
        let mut left_out = Vec::new();
        for source in settings.sources_for(region) {
            let (built, why) = match source {
                Source::Simulated => (Some(simulator.clone()), ""),
                Source::Entsoe if entsoe::zone(region, &p.entsoe.italy_zone).is_none() => {
                    return Err(unavailable(
                        region,
                        source,
                        "ENTSO-E covers only the EU regions",
                    ));
                }
                Source::Entsoe => (
                    entsoe.clone(),
                    "WATTLINE_PROVIDERS__ENTSOE__API_KEY is not set",
                ),
                Source::Octopus if region != Region::Uk => {
                    return Err(unavailable(region, source, "Agile covers only uk"));
                }
                Source::Octopus => (Some(octopus.clone()), ""),
                Source::Eia if eia::state(region).is_none() => {
                    return Err(unavailable(
                        region,
                        source,
                        "EIA covers only the us_* regions",
                    ));
                }
                Source::Eia => (eia.clone(), "WATTLINE_PROVIDERS__EIA__API_KEY is not set"),
                Source::Flatpeak => (
                    flatpeak.clone(),
                    "needs WATTLINE_PROVIDERS__FLATPEAK__API_KEY, account_id and location_id",
                ),
                Source::Replay => match p.replay.files.get(region.code()) {
                    Some(path) => {
                        let series = replay::ReplaySeries::load(path)
                            .map_err(|error| ProviderError::Replay { region, error })?;
                        (
                            Some(Arc::new(replay::Replay::new(region, series, clock.clone()))
                                as Arc<dyn PriceSource>),
                            "",
                        )
                    }
                    None => {
                        return Err(unavailable(
                            region,
                            source,
                            "no file in providers.replay.files for this region",
                        ));
                    }
                },
                Source::Forecast => {
                    return Err(unavailable(
                        region,
                        source,
                        "forecasts are made here, not fetched",
                    ));
                }
            };
            match built {
                Some(s) => sources.push(s),
                None => {
                    tracing::warn!(%region, %source, reason = why, "Price source left out.");
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
