//! Price sources the fetchers use, built from configuration. The simulator needs nothing; the
//! others are real HTTP clients.

pub mod simulator;

use std::sync::Arc;

use wattline_actors::RegionSources;
use wattline_actors::domain::{Region, Source};
use wattline_actors::ports::{PriceSource, SharedClock};

use crate::config::Settings;
pub use simulator::Simulator;

/// Why the configured sources cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// A source is named for a region but is not available in this build or configuration.
    #[error(
        "configuration key `regions.sources.{region}`: source `{price_source}` is not available ({why})"
    )]
    Unavailable {
        region: Region,
        price_source: Source,
        why: &'static str,
    },
}

/// Builds each enabled region's sources in failover order.
pub fn build_sources(
    settings: &Settings,
    clock: SharedClock,
) -> Result<RegionSources, ProviderError> {
    let simulator: Arc<dyn PriceSource> = Arc::new(Simulator::new(settings.simulator.seed, clock));
    settings
        .enabled_regions()
        .into_iter()
        .map(|region| {
            let sources = settings
                .sources_for(region)
                .into_iter()
                .map(|source| match source {
                    Source::Simulated => Ok(simulator.clone()),
                    other => Err(ProviderError::Unavailable {
                        region,
                        price_source: other,
                        why: "no client for it yet",
                    }),
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok((region, sources))
        })
        .collect()
}
