//! One typed settings tree, loaded once at start: the embedded `config/default.toml` (which holds
//! every key), then an optional file, then `WATTLINE_<SECTION>__<KEY>` environment variables.
//! A wrong value stops the start with a message naming the key. Secrets come only from the
//! environment.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::Figment;
use figment::providers::{Env, Format, Toml};
use serde::Deserialize;
use wattline_actors::broadcast::BroadcasterConfig;
use wattline_actors::domain::forecast::LearConfig;
use wattline_actors::domain::forecast::lars::Criterion;
use wattline_actors::domain::schedule::SolveLimits;
use wattline_actors::domain::{Region, Source};
use wattline_actors::fetcher::FetcherConfig;
use wattline_actors::forecaster::ForecasterConfig;
use wattline_actors::ports::{ScaledClock, SharedClock, SystemClock};
use wattline_actors::supervision::{BackoffPolicy, RestartPolicy};
use wattline_actors::writer::WriterConfig;
use wattline_actors::{BootstrapConfig, TreeConfig};

/// The defaults, compiled in so the binary runs from any directory.
pub const DEFAULT_TOML: &str = include_str!("../config/default.toml");

/// Everything configurable. Field docs give the meaning; defaults live in `config/default.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub server: ServerSettings,
    pub storage: StorageSettings,
    pub regions: RegionSettings,
    pub providers: ProviderSettings,
    pub prices: PriceSettings,
    pub supervision: SupervisionSettings,
    pub stream: StreamSettings,
    pub cluster: ClusterSettings,
    pub clock: ClockSettings,
    pub simulator: SimulatorSettings,
    pub forecast: ForecastSettings,
    pub optimization: OptimizationSettings,
    pub telemetry: TelemetrySettings,
    pub security: SecuritySettings,
}

/// HTTP server.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    /// Listen address (default 127.0.0.1:8080).
    pub bind: SocketAddr,
    /// Request deadline in milliseconds (default 10000).
    pub request_timeout_ms: u64,
    /// Largest request body in bytes (default 65536).
    pub body_limit_bytes: usize,
    /// CORS origins; `*` allows any (default none).
    pub cors_allowed_origins: Vec<String>,
    /// Send HSTS (default false; set behind a TLS proxy).
    pub hsts: bool,
    /// Shutdown deadline in seconds (default 10).
    pub shutdown_timeout_secs: u64,
}

/// Database.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageSettings {
    /// `sqlite://PATH` (default `sqlite://data/wattline.sqlite3`) or `postgres://…`.
    pub database_url: String,
    /// Pool size (default 8).
    pub max_connections: u32,
    /// Pool acquire timeout in milliseconds (default 5000).
    pub acquire_timeout_ms: u64,
}

/// Which regions run and where their prices come from.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegionSettings {
    /// Enabled regions (default all 14).
    pub enabled: Vec<Region>,
    /// Region code (or `default`) → sources in failover order (default `["simulated"]`).
    pub sources: BTreeMap<String, Vec<Source>>,
    /// Region code → local publication time `HH:MM` (default: the market's usual time).
    pub publication: BTreeMap<String, String>,
}

/// Price and weather provider clients.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderSettings {
    /// Per-request timeout in seconds (default 20).
    pub timeout_secs: u64,
    /// Tries per call (default 3).
    pub attempts: u32,
    pub entsoe: EntsoeSettings,
    pub octopus: OctopusSettings,
    pub eia: EiaSettings,
    pub flatpeak: FlatpeakSettings,
    pub openweathermap: WeatherSettings,
    pub replay: ReplaySettings,
}

/// ENTSO-E Transparency Platform.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntsoeSettings {
    pub base_url: String,
    /// Bidding zone of `italy` (default North, 10Y1001A1001A73I).
    pub italy_zone: String,
    /// Security token (environment only).
    #[serde(default)]
    pub api_key: Option<Secret>,
}

/// Octopus Energy Agile.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OctopusSettings {
    pub base_url: String,
    /// Agile product code (default AGILE-24-10-01).
    pub product: String,
    /// GB region letter (default C, London).
    pub region_letter: String,
}

/// EIA API v2.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EiaSettings {
    pub base_url: String,
    /// Sector (default RES).
    pub sector: String,
    /// API key (environment only).
    #[serde(default)]
    pub api_key: Option<Secret>,
}

/// Flatpeak tariff rates.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlatpeakSettings {
    pub base_url: String,
    pub account_id: String,
    pub location_id: String,
    /// API key (environment only).
    #[serde(default)]
    pub api_key: Option<Secret>,
}

/// OpenWeatherMap forecasts.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WeatherSettings {
    pub base_url: String,
    /// Fetch interval in hours (default 3).
    pub refresh_hours: u64,
    /// API key (environment only).
    #[serde(default)]
    pub api_key: Option<Secret>,
}

/// CSV replays.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplaySettings {
    /// Region code → CSV path.
    pub files: BTreeMap<String, PathBuf>,
}

/// Fetching, writing and serving prices.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriceSettings {
    /// Points per writer batch (default 1000).
    pub writer_batch_size: usize,
    /// Writer flush interval in milliseconds (default 50).
    pub writer_flush_interval_ms: u64,
    /// Per-source fetch timeout in seconds (default 30).
    pub fetch_timeout_secs: u64,
    /// Retry interval for unpublished days in seconds (default 300).
    pub retry_interval_secs: u64,
    /// Age in hours after which served prices are marked stale (default 36).
    pub freshness_limit_hours: u64,
    /// Edge-to-actor call timeout in milliseconds (default 2000).
    pub call_timeout_ms: u64,
    /// Refresh wait in seconds (default 30).
    pub refresh_timeout_secs: u64,
}

/// Restart policy of the fetchers.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SupervisionSettings {
    /// First restart delay in milliseconds (default 1000).
    pub backoff_initial_ms: u64,
    /// Largest restart delay in seconds (default 300).
    pub backoff_max_secs: u64,
    /// Delay growth factor (default 2).
    pub backoff_multiplier: u32,
    /// Delay spread fraction (default 0.1).
    pub backoff_jitter: f64,
    /// Restart budget per window (default 5).
    pub max_restarts: u32,
    /// Budget window in seconds (default 600).
    pub restart_window_secs: u64,
    /// Probe interval of degraded regions in seconds (default 900).
    pub degraded_retry_secs: u64,
    /// Uptime in seconds after which backoff starts afresh (default 600).
    pub healthy_after_secs: u64,
}

/// Live SSE streams.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamSettings {
    /// Heartbeat period in seconds (default 15).
    pub heartbeat_secs: u64,
    /// Client reconnect hint in milliseconds (default 3000).
    pub retry_ms: u64,
    /// Broadcast channel capacity in events (default 1024).
    pub channel_capacity: usize,
    /// Replay buffer per region in events (default 256).
    pub replay_per_region: usize,
    /// Subscriber limit of the node (default 20000).
    pub max_subscribers: usize,
    /// Subscriber limit per client address (default 100).
    pub max_per_address: usize,
    /// Stuck-socket timeout in seconds (default 30).
    pub write_timeout_secs: u64,
}

/// Several nodes sharing Redis.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterSettings {
    /// Node name (default: random per start).
    pub node_id: String,
    /// Redis URL (default empty: single node).
    pub redis_url: String,
    /// Key and channel prefix (default `wattline`).
    pub key_prefix: String,
    /// Fetch lease lifetime in seconds (default 30).
    pub lease_ttl_secs: u64,
}

/// The engine's clock.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClockSettings {
    /// Speed relative to real time (default 1.0).
    pub speed: f64,
    /// Start of an accelerated clock, RFC 3339 (default empty: now).
    pub start: String,
}

/// The built-in price simulator.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimulatorSettings {
    /// Seed (default 42).
    pub seed: u64,
}

/// The day-ahead forecaster.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForecastSettings {
    /// Run the ForecastActor (default true).
    pub enabled: bool,
    /// Calibration windows in days (default 56, 84, 1092, 1456).
    pub windows: Vec<usize>,
    /// `aic` or `bic` (default aic).
    pub criterion: CriterionSetting,
    /// Days of recent errors that weight the windows in the forecast (default 28).
    pub combine_days: usize,
    /// Days forecast after the newest published day (default 8).
    pub horizon_days: usize,
    /// Days of stored prices read per calibration (default 1484).
    pub history_days: usize,
    /// Days of errors behind each interval (default 56).
    pub error_days: usize,
    /// Walk-forward days seeding the intervals on a cold start (default 14).
    pub seed_days: usize,
    /// Interval quantiles (default 0.1 and 0.9).
    pub interval_low: f64,
    pub interval_high: f64,
    /// Days of stored forecasts in the live accuracy (default 30).
    pub accuracy_days: usize,
    /// Past days loaded from the sources on start when fewer are stored (default 120; 0 = off).
    pub bootstrap_days: usize,
}

/// Penalty selection criterion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CriterionSetting {
    Aic,
    Bic,
}

impl CriterionSetting {
    /// The criterion's short name.
    pub fn name(self) -> &'static str {
        match self {
            CriterionSetting::Aic => "AIC",
            CriterionSetting::Bic => "BIC",
        }
    }
}

/// The appliance scheduler.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OptimizationSettings {
    /// Binary decisions above which the heuristic is used (default 4000).
    pub max_exact_binaries: usize,
    /// Branch & bound node limit (default 5000).
    pub node_limit: u64,
    /// Exact solver time limit in milliseconds (default 2000).
    pub time_limit_ms: u64,
}

impl ForecastSettings {
    /// The forecaster's configuration.
    pub fn forecaster_config(&self) -> ForecasterConfig {
        ForecasterConfig {
            lear: LearConfig {
                windows: self.windows.clone(),
                criterion: match self.criterion {
                    CriterionSetting::Aic => Criterion::Aic,
                    CriterionSetting::Bic => Criterion::Bic,
                },
                combine_days: self.combine_days,
                ..LearConfig::default()
            },
            horizon_days: self.horizon_days,
            history_days: self.history_days,
            error_days: self.error_days,
            seed_days: self.seed_days,
            interval: (self.interval_low, self.interval_high),
            accuracy_days: self.accuracy_days,
            ..ForecasterConfig::default()
        }
    }
}

impl OptimizationSettings {
    /// The scheduler's limits.
    pub fn limits(&self) -> SolveLimits {
        SolveLimits {
            max_exact_binaries: self.max_exact_binaries,
            node_limit: self.node_limit,
            time_limit: Duration::from_millis(self.time_limit_ms),
        }
    }
}

/// Logs.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelemetrySettings {
    /// `pretty` or `json` (default pretty).
    pub log_format: LogFormat,
    /// tracing filter (default `info`; `RUST_LOG` wins).
    pub log_filter: String,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    Pretty,
    Json,
}

/// Secrets (environment only).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecuritySettings {
    /// Operator/refresh API key (`WATTLINE_SECURITY__API_KEY`; unset disables those endpoints).
    #[serde(default)]
    pub api_key: Option<Secret>,
}

/// A secret string: never printed, compared in constant time.
#[derive(Clone, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// Compares with `candidate` in time independent of where they differ.
    pub fn matches(&self, candidate: &str) -> bool {
        let (a, b) = (self.0.as_bytes(), candidate.as_bytes());
        let mut diff = a.len() ^ b.len();
        for i in 0..a.len().max(b.len()) {
            diff |= usize::from(a.get(i).copied().unwrap_or(0) ^ b.get(i).copied().unwrap_or(0xff));
        }
        diff == 0
    }

    /// The secret itself, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// True when the secret is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Why the configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A key has a value that cannot be used.
    #[error("invalid configuration key `{key}`: {message}")]
    Invalid { key: String, message: String },
    /// The named config file does not exist.
    #[error("configuration file {0} does not exist")]
    MissingFile(PathBuf),
}

impl ConfigError {
    fn invalid(key: &str, message: impl Into<String>) -> Self {
        ConfigError::Invalid {
            key: key.to_string(),
            message: message.into(),
        }
    }

    fn from_figment(error: figment::Error) -> Self {
        let key = if error.path.is_empty() {
            "(root)".to_string()
        } else {
            error.path.join(".")
        };
        let origin = error
            .metadata
            .as_ref()
            .map(|m| format!(" (from {})", m.name))
            .unwrap_or_default();
        ConfigError::Invalid {
            key,
            message: format!("{}{origin}", error.kind),
        }
    }
}

impl Settings {
    /// Loads the layers: defaults, then `file` (or `$WATTLINE_CONFIG`), then the environment.
    pub fn load(file: Option<&Path>) -> Result<Settings, ConfigError> {
        let file = file
            .map(Path::to_path_buf)
            .or_else(|| std::env::var_os("WATTLINE_CONFIG").map(PathBuf::from));
        let mut figment = Figment::from(Toml::string(DEFAULT_TOML));
        if let Some(path) = file {
            if !path.is_file() {
                return Err(ConfigError::MissingFile(path));
            }
            figment = figment.merge(Toml::file_exact(path));
        }
        figment = figment.merge(Env::prefixed("WATTLINE_").split("__").ignore(&["config"]));
        Settings::from_figment(&figment)
    }

    /// The built-in defaults alone (tests start from these).
    pub fn defaults() -> Settings {
        Settings::from_figment(&Figment::from(Toml::string(DEFAULT_TOML)))
            .expect("config/default.toml is valid")
    }

    /// Extracts and validates settings from an assembled figment.
    pub fn from_figment(figment: &Figment) -> Result<Settings, ConfigError> {
        let settings: Settings = figment.extract().map_err(ConfigError::from_figment)?;
        for (key, set) in settings.secrets() {
            let from_env = figment
                .find_metadata(key)
                .is_some_and(|m| m.name.contains("environment"));
            if set && !from_env {
                let variable = format!("WATTLINE_{}", key.to_uppercase().replace('.', "__"));
                return Err(ConfigError::invalid(
                    key,
                    format!(
                        "secrets are read only from the environment ({variable}), never from a file"
                    ),
                ));
            }
        }
        settings.validate()?;
        Ok(settings)
    }

    /// Every secret key and whether it is set.
    fn secrets(&self) -> [(&'static str, bool); 5] {
        let p = &self.providers;
        [
            ("security.api_key", self.security.api_key.is_some()),
            ("providers.entsoe.api_key", p.entsoe.api_key.is_some()),
            ("providers.eia.api_key", p.eia.api_key.is_some()),
            ("providers.flatpeak.api_key", p.flatpeak.api_key.is_some()),
            (
                "providers.openweathermap.api_key",
                p.openweathermap.api_key.is_some(),
            ),
        ]
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let positive = [
            ("server.request_timeout_ms", self.server.request_timeout_ms),
            (
                "server.body_limit_bytes",
                self.server.body_limit_bytes as u64,
            ),
            (
                "storage.max_connections",
                u64::from(self.storage.max_connections),
            ),
            (
                "prices.writer_batch_size",
                self.prices.writer_batch_size as u64,
            ),
            (
                "prices.writer_flush_interval_ms",
                self.prices.writer_flush_interval_ms,
            ),
            ("prices.fetch_timeout_secs", self.prices.fetch_timeout_secs),
            (
                "prices.retry_interval_secs",
                self.prices.retry_interval_secs,
            ),
            (
                "prices.freshness_limit_hours",
                self.prices.freshness_limit_hours,
            ),
            ("prices.call_timeout_ms", self.prices.call_timeout_ms),
            (
                "prices.refresh_timeout_secs",
                self.prices.refresh_timeout_secs,
            ),
            (
                "supervision.backoff_initial_ms",
                self.supervision.backoff_initial_ms,
            ),
            (
                "supervision.backoff_multiplier",
                u64::from(self.supervision.backoff_multiplier),
            ),
            (
                "supervision.restart_window_secs",
                self.supervision.restart_window_secs,
            ),
        ];
        if let Some((key, _)) = positive.iter().find(|(_, v)| *v == 0) {
            return Err(ConfigError::invalid(key, "must be greater than zero"));
        }
        let forecast = &self.forecast;
        if forecast.windows.is_empty() || forecast.windows.iter().any(|w| *w < 8) {
            return Err(ConfigError::invalid(
                "forecast.windows",
                "needs at least one window of 8 days or more",
            ));
        }
        let forecast_positive = [
            ("forecast.horizon_days", forecast.horizon_days),
            ("forecast.history_days", forecast.history_days),
            ("forecast.error_days", forecast.error_days),
            ("forecast.combine_days", forecast.combine_days),
            ("forecast.accuracy_days", forecast.accuracy_days),
            (
                "optimization.max_exact_binaries",
                self.optimization.max_exact_binaries,
            ),
            (
                "optimization.time_limit_ms",
                self.optimization.time_limit_ms as usize,
            ),
        ];
        if let Some((key, _)) = forecast_positive.iter().find(|(_, v)| *v == 0) {
            return Err(ConfigError::invalid(key, "must be greater than zero"));
        }
        if !(0.0 < forecast.interval_low
            && forecast.interval_low < forecast.interval_high
            && forecast.interval_high < 1.0)
        {
            return Err(ConfigError::invalid(
                "forecast.interval_low",
                "interval quantiles must satisfy 0 < interval_low < interval_high < 1",
            ));
        }
        if !(0.0..=1.0).contains(&self.supervision.backoff_jitter) {
            return Err(ConfigError::invalid(
                "supervision.backoff_jitter",
                "must be between 0 and 1",
            ));
        }
        if !(self.clock.speed.is_finite() && self.clock.speed > 0.0) {
            return Err(ConfigError::invalid(
                "clock.speed",
                "must be a positive number",
            ));
        }
        if !self.clock.start.is_empty() && self.clock.start.parse::<jiff::Timestamp>().is_err() {
            return Err(ConfigError::invalid(
                "clock.start",
                "must be an RFC 3339 timestamp with offset, or empty",
            ));
        }
        if self.cluster.key_prefix.is_empty()
            || self.cluster.key_prefix.contains(char::is_whitespace)
        {
            return Err(ConfigError::invalid(
                "cluster.key_prefix",
                "must be a non-empty word",
            ));
        }
        if self.cluster.node_id.contains(char::is_whitespace) {
            return Err(ConfigError::invalid(
                "cluster.node_id",
                "must not contain whitespace",
            ));
        }
        if !self.cluster.redis_url.is_empty() && !self.cluster.redis_url.starts_with("redis://") {
            return Err(ConfigError::invalid(
                "cluster.redis_url",
                "must start with redis:// (or be empty)",
            ));
        }
        if self.security.api_key.as_ref().is_some_and(Secret::is_empty) {
            return Err(ConfigError::invalid(
                "security.api_key",
                "must not be empty when set",
            ));
        }
        let p = &self.providers;
        if p.timeout_secs == 0 || p.attempts == 0 || p.openweathermap.refresh_hours == 0 {
            return Err(ConfigError::invalid(
                "providers",
                "timeout_secs, attempts and openweathermap.refresh_hours must be positive",
            ));
        }
        let letter = &p.octopus.region_letter;
        if letter.len() != 1 || !"ABCDEFGHJKLMNP".contains(letter.as_str()) {
            return Err(ConfigError::invalid(
                "providers.octopus.region_letter",
                "must be one GB region letter A-P (no I or O)",
            ));
        }
        for (key, time) in &self.regions.publication {
            if Region::parse(key).is_err() {
                return Err(ConfigError::invalid(
                    &format!("regions.publication.{key}"),
                    "unknown region",
                ));
            }
            if time.len() != 5 || time.parse::<jiff::civil::Time>().is_err() {
                return Err(ConfigError::invalid(
                    &format!("regions.publication.{key}"),
                    "must be a local time HH:MM",
                ));
            }
        }
        for (key, path) in &p.replay.files {
            if Region::parse(key).is_err() {
                return Err(ConfigError::invalid(
                    &format!("providers.replay.files.{key}"),
                    "unknown region",
                ));
            }
            if !path.is_file() {
                let message = format!("no file at {}", path.display());
                return Err(ConfigError::invalid(
                    &format!("providers.replay.files.{key}"),
                    message,
                ));
            }
        }
        for (key, sources) in &self.regions.sources {
            if key != "default" && Region::parse(key).is_err() {
                let valid: Vec<_> = Region::codes().collect();
                return Err(ConfigError::invalid(
                    &format!("regions.sources.{key}"),
                    format!(
                        "unknown region; use `default` or one of {}",
                        valid.join(", ")
                    ),
                ));
            }
            if sources.is_empty() {
                return Err(ConfigError::invalid(
                    &format!("regions.sources.{key}"),
                    "needs at least one source",
                ));
            }
        }
        Ok(())
    }

    /// The ordered sources configured for `region`.
    pub fn sources_for(&self, region: Region) -> Vec<Source> {
        self.regions
            .sources
            .get(region.code())
            .or_else(|| self.regions.sources.get("default"))
            .cloned()
            .unwrap_or_else(|| vec![Source::Simulated])
    }

    /// Enabled regions without duplicates, in listing order.
    pub fn enabled_regions(&self) -> Vec<Region> {
        Region::ALL
            .into_iter()
            .filter(|r| self.regions.enabled.contains(r))
            .collect()
    }

    /// The configured publication time of `region`, if any (validated at load).
    pub fn publication_for(&self, region: Region) -> Option<jiff::civil::Time> {
        self.regions
            .publication
            .get(region.code())
            .and_then(|t| t.parse().ok())
    }

    /// The actor tree's tunables.
    pub fn tree_config(&self) -> TreeConfig {
        let s = &self.supervision;
        let p = &self.prices;
        TreeConfig {
            writer: WriterConfig {
                batch_size: p.writer_batch_size,
                flush_interval: Duration::from_millis(p.writer_flush_interval_ms),
                ..WriterConfig::default()
            },
            fetcher: FetcherConfig {
                fetch_timeout: Duration::from_secs(p.fetch_timeout_secs),
                retry_interval: Duration::from_secs(p.retry_interval_secs),
            },
            supervision: RestartPolicy {
                backoff: BackoffPolicy {
                    initial: Duration::from_millis(s.backoff_initial_ms),
                    max: Duration::from_secs(s.backoff_max_secs),
                    multiplier: s.backoff_multiplier,
                    jitter: s.backoff_jitter,
                },
                max_restarts: s.max_restarts,
                window: Duration::from_secs(s.restart_window_secs),
                degraded_retry: Duration::from_secs(s.degraded_retry_secs),
                healthy_after: Duration::from_secs(s.healthy_after_secs),
            },
            forecaster: self.forecast.forecaster_config(),
            broadcaster: BroadcasterConfig {
                channel_capacity: self.stream.channel_capacity,
                replay_per_region: self.stream.replay_per_region,
                max_subscribers: self.stream.max_subscribers,
                max_per_address: self.stream.max_per_address,
                ..BroadcasterConfig::default()
            },
            publication: self
                .enabled_regions()
                .into_iter()
                .filter_map(|r| Some((r, self.publication_for(r)?)))
                .collect(),
            call_timeout: Duration::from_millis(p.call_timeout_ms),
            bootstrap: BootstrapConfig {
                days: self.forecast.bootstrap_days,
                fetch_timeout: Duration::from_secs(p.fetch_timeout_secs),
            },
        }
    }

    /// The engine clock: the wall clock, or an accelerated one when `[clock]` says so.
    pub fn clock(&self) -> SharedClock {
        let start = self.clock.start.parse::<jiff::Timestamp>().ok();
        if self.clock.speed == 1.0 && start.is_none() {
            return std::sync::Arc::new(SystemClock);
        }
        std::sync::Arc::new(ScaledClock::new(
            start.unwrap_or_else(jiff::Timestamp::now),
            self.clock.speed,
        ))
    }

    /// This node's cluster name: the configured one, else random per start.
    pub fn node_id(&self) -> String {
        if self.cluster.node_id.is_empty() {
            format!("node-{}", &uuid::Uuid::new_v4().simple().to_string()[..8])
        } else {
            self.cluster.node_id.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use figment::providers::Serialized;

    fn with(key: &str, value: impl serde::Serialize) -> Result<Settings, ConfigError> {
        let figment =
            Figment::from(Toml::string(DEFAULT_TOML)).merge(Serialized::default(key, value));
        Settings::from_figment(&figment)
    }

    #[test]
    fn defaults_hold_every_key_and_are_valid() {
        // `Settings` has no serde defaults (but the optional secret), so this fails if
        // default.toml misses a key.
        let s = Settings::defaults();
        assert_eq!(s.server.bind.port(), 8080);
        assert_eq!(s.enabled_regions().len(), 14);
        assert_eq!(s.sources_for(Region::Germany), vec![Source::Simulated]);
        assert!(s.security.api_key.is_none());
    }

    #[test]
    fn wrong_type_names_the_key() {
        let err = with("prices.writer_batch_size", "lots")
            .unwrap_err()
            .to_string();
        assert!(err.contains("prices.writer_batch_size"), "{err}");
    }

    #[test]
    fn zero_where_positive_is_needed_names_the_key() {
        let err = with("prices.writer_batch_size", 0).unwrap_err().to_string();
        assert!(
            err.contains("`prices.writer_batch_size`") && err.contains("greater than zero"),
            "{err}"
        );
    }

    #[test]
    fn unknown_region_and_source_are_refused() {
        let err = with("regions.enabled", ["UK"]).unwrap_err().to_string();
        assert!(err.contains("regions.enabled"), "{err}");
        let err = with("regions.sources.atlantis", ["simulated"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("regions.sources.atlantis"), "{err}");
        let err = with("regions.sources.germany", ["nordpool"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("regions.sources.germany"), "{err}");
    }

    #[test]
    fn unknown_keys_are_refused() {
        let err = with("server.bnd", "x").unwrap_err().to_string();
        assert!(err.contains("bnd"), "{err}");
    }

    #[test]
    fn api_key_from_a_file_is_refused() {
        let figment = Figment::from(Toml::string(DEFAULT_TOML))
            .merge(Toml::string("[security]\napi_key = \"abc\""));
        let err = Settings::from_figment(&figment).unwrap_err().to_string();
        assert!(
            err.contains("security.api_key") && err.contains("environment"),
            "{err}"
        );
    }

    #[test]
    fn per_region_sources_override_the_default() {
        let s = with("regions.sources.germany", ["replay", "simulated"]).unwrap();
        assert_eq!(
            s.sources_for(Region::Germany),
            vec![Source::Replay, Source::Simulated]
        );
        assert_eq!(s.sources_for(Region::France), vec![Source::Simulated]);
    }

    #[test]
    fn secret_comparison_and_debug() {
        let s = Secret::new("k3y");
        assert!(s.matches("k3y"));
        assert!(!s.matches("k3"));
        assert!(!s.matches("k3y!"));
        assert!(!s.matches(""));
        assert_eq!(format!("{s:?}"), "Secret(***)");
    }
}
