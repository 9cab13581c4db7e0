//! Which regions run, when their markets publish and where their prices come from.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer};
use wattline_actors::domain::{Region, Source};

/// Which regions run and where their prices come from.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegionSettings {
    /// Enabled regions (default all 14).
    pub enabled: Vec<Region>,
    /// Region (or `default`) → sources in failover order (default `["simulated"]`).
    pub sources: BTreeMap<SourcesFor, Sources>,
    /// Region → local publication time `HH:MM` (default: the market's usual time).
    pub publication: BTreeMap<Region, LocalTime>,
}

/// The key of a source list: one region, or the default of the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum SourcesFor {
    Default,
    Region(Region),
}

impl<'de> Deserialize<'de> for SourcesFor {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let key = String::deserialize(deserializer)?;
        if key == "default" {
            return Ok(SourcesFor::Default);
        }
        Region::parse(&key).map(SourcesFor::Region).map_err(|_| {
            let valid: Vec<_> = Region::codes().collect();
            serde::de::Error::custom(format!(
                "unknown region `{key}`; use `default` or one of {}",
                valid.join(", ")
            ))
        })
    }
}

/// A non-empty list of sources in failover order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sources(pub Vec<Source>);

impl<'de> Deserialize<'de> for Sources {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let list = Vec::<Source>::deserialize(deserializer)?;
        if list.is_empty() {
            return Err(serde::de::Error::custom("needs at least one source"));
        }
        Ok(Sources(list))
    }
}

/// A local time of day written `HH:MM`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalTime(pub jiff::civil::Time);

impl<'de> Deserialize<'de> for LocalTime {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        let parsed = (text.len() == 5)
            .then(|| text.parse::<jiff::civil::Time>().ok())
            .flatten();
        parsed
            .map(LocalTime)
            .ok_or_else(|| serde::de::Error::custom(format!("`{text}` is not a local time HH:MM")))
    }
}
