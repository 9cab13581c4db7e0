//! The engine: storage, fetching and writing prices, restarts, the cluster and the clock.

use std::num::{NonZeroU32, NonZeroUsize};
use std::time::Duration;

use serde::{Deserialize, Deserializer};

use super::human::{self, Word};

/// Database.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageSettings {
    /// `sqlite://PATH` (default `sqlite://data/wattline.sqlite3`) or `postgres://…`.
    pub database_url: String,
    /// Pool size (default 8).
    pub max_connections: NonZeroU32,
    /// Pool acquire timeout, and SQLite's busy timeout (default 5s).
    #[serde(deserialize_with = "human::positive_duration")]
    pub acquire_timeout: Duration,
}

/// Fetching, writing and serving prices.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriceSettings {
    /// Points per writer batch (default 1000).
    pub writer_batch_size: NonZeroUsize,
    /// Writer flush interval (default 50ms).
    #[serde(deserialize_with = "human::positive_duration")]
    pub writer_flush_interval: Duration,
    /// Per-source fetch timeout (default 30s).
    #[serde(deserialize_with = "human::positive_duration")]
    pub fetch_timeout: Duration,
    /// Retry interval for unpublished days (default 5m).
    #[serde(deserialize_with = "human::positive_duration")]
    pub retry_interval: Duration,
    /// Age after which served prices are marked stale (default 36h).
    #[serde(deserialize_with = "human::positive_duration")]
    pub freshness_limit: Duration,
    /// Edge-to-actor call timeout (default 2s).
    #[serde(deserialize_with = "human::positive_duration")]
    pub call_timeout: Duration,
    /// Refresh wait (default 30s).
    #[serde(deserialize_with = "human::positive_duration")]
    pub refresh_timeout: Duration,
    /// How far back recent prices are held in memory and read from there (default 31d).
    #[serde(deserialize_with = "human::duration")]
    pub memory: Duration,
}

/// How supervisors restart failed actors.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SupervisionSettings {
    /// First restart delay (default 1s).
    #[serde(deserialize_with = "human::positive_duration")]
    pub backoff_initial: Duration,
    /// Largest restart delay (default 5m).
    #[serde(deserialize_with = "human::positive_duration")]
    pub backoff_max: Duration,
    /// Delay growth factor (default 2).
    pub backoff_multiplier: NonZeroU32,
    /// Delay spread fraction, 0–1 (default 0.1).
    #[serde(deserialize_with = "human::fraction")]
    pub backoff_jitter: f64,
    /// Restart budget per window (default 5; 0 degrades at the first failure).
    pub max_restarts: u32,
    /// Budget window (default 10m).
    #[serde(deserialize_with = "human::positive_duration")]
    pub restart_window: Duration,
    /// Probe interval of degraded actors (default 15m).
    #[serde(deserialize_with = "human::positive_duration")]
    pub degraded_retry: Duration,
    /// Uptime after which backoff starts afresh (default 10m).
    #[serde(deserialize_with = "human::duration")]
    pub healthy_after: Duration,
}

/// Several nodes sharing Redis.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterSettings {
    /// Node name (default: random per start).
    pub node_id: Word,
    /// Redis URL (default none: single node).
    #[serde(deserialize_with = "redis_url")]
    pub redis_url: Option<String>,
    /// Key and channel prefix (default `wattline`).
    pub key_prefix: Word,
    /// Fetch lease lifetime (default 30s).
    #[serde(deserialize_with = "human::positive_duration")]
    pub lease_ttl: Duration,
}

/// An empty string (no Redis) or a `redis://` URL.
fn redis_url<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    let url = String::deserialize(deserializer)?;
    if url.is_empty() {
        return Ok(None);
    }
    if !url.starts_with("redis://") {
        return Err(serde::de::Error::custom(
            "must start with redis:// (or be empty)",
        ));
    }
    Ok(Some(url))
}

/// The engine's clock.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClockSettings {
    /// Speed relative to real time, above zero (default 1.0).
    #[serde(deserialize_with = "positive_speed")]
    pub speed: f64,
    /// Start of an accelerated clock, RFC 3339 (default empty: now).
    #[serde(deserialize_with = "optional_instant")]
    pub start: Option<jiff::Timestamp>,
}

fn positive_speed<'de, D: Deserializer<'de>>(deserializer: D) -> Result<f64, D::Error> {
    let speed = f64::deserialize(deserializer)?;
    if !(speed.is_finite() && speed > 0.0) {
        return Err(serde::de::Error::custom("must be a positive number"));
    }
    Ok(speed)
}

fn optional_instant<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<jiff::Timestamp>, D::Error> {
    let text = String::deserialize(deserializer)?;
    if text.is_empty() {
        return Ok(None);
    }
    wattline_actors::domain::calendar::parse_rfc3339(&text)
        .map(Some)
        .map_err(|_| {
            serde::de::Error::custom("must be an RFC 3339 timestamp with offset, or empty")
        })
}

/// The built-in price simulator.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimulatorSettings {
    /// Seed (default 42).
    pub seed: u64,
}
