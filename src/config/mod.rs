//! One typed settings tree, loaded once at start: the embedded `config/default.toml` (which holds
//! every key), then an optional file, then `WATTLINE_<SECTION>__<KEY>` environment variables.
//! A wrong value stops the start with a message naming the key. Secrets come only from the
//! environment.

mod auth;
mod beta;
mod billing;
mod engine;
mod forecast;
pub mod human;
mod oauth;
mod rate_limit;
mod regions;
mod secret;
mod server;
mod workers;

use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Toml};
use serde::Deserialize;
use wattline_actors::broadcast::BroadcasterConfig;
use wattline_actors::domain::{Region, Source};
use wattline_actors::fetcher::FetcherConfig;
use wattline_actors::ports::{ScaledClock, SharedClock, SystemClock};
use wattline_actors::supervision::{BackoffPolicy, RestartPolicy};
use wattline_actors::writer::WriterConfig;
use wattline_actors::{BootstrapConfig, TreeConfig};

pub use auth::AuthSettings;
pub use beta::BetaSettings;
pub use billing::BillingSettings;
pub use engine::{
    ClockSettings, ClusterSettings, PriceSettings, SimulatorSettings, StorageSettings,
    SupervisionSettings,
};
pub use forecast::{CriterionSetting, ForecastSettings, OptimizationSettings};
pub use oauth::{OAuthProviderSettings, OAuthSettings, ProviderEndpoints, ProviderKind};
pub use rate_limit::{GroupLimits, RateLimitSettings};
pub use regions::{LocalTime, RegionSettings, Sources, SourcesFor};
pub use secret::Secret;
pub use server::{LogFormat, SecuritySettings, ServerSettings, StreamSettings, TelemetrySettings};
pub use workers::{
    AlertSettings, EmailSettings, EmailTransport, GdprSettings, SmtpSecurity, WorkerSettings,
};

pub use crate::providers::ProviderSettings;

/// The defaults, compiled in so the binary runs from any directory.
pub const DEFAULT_TOML: &str = include_str!("../../config/default.toml");

/// Everything configurable. Field docs give the meaning; defaults live in `config/default.toml`.
/// Values are typed as they are used (durations, local times, regions, non-zero counts), so a
/// bad value stops the start naming its key and nothing is re-parsed later.
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
    pub auth: AuthSettings,
    pub oauth: OAuthSettings,
    pub beta: BetaSettings,
    pub workers: WorkerSettings,
    pub email: EmailSettings,
    pub alerts: AlertSettings,
    pub gdpr: GdprSettings,
    pub billing: BillingSettings,
    pub rate_limit: RateLimitSettings,
    pub security: SecuritySettings,
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
                .find_metadata(&key)
                .is_some_and(|m| m.name.contains("environment"));
            if set && !from_env {
                let variable = format!("WATTLINE_{}", key.to_uppercase().replace('.', "__"));
                return Err(ConfigError::invalid(
                    &key,
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
    fn secrets(&self) -> Vec<(String, bool)> {
        let mut secrets = vec![
            (
                "security.api_key".to_string(),
                self.security.api_key.is_some(),
            ),
            (
                "security.jwt_secret".to_string(),
                self.security.jwt_secret.is_some(),
            ),
        ];
        secrets.extend(
            self.providers
                .secrets()
                .into_iter()
                .map(|(key, set)| (key.to_string(), set)),
        );
        secrets.push((
            "billing.secret_key".to_string(),
            self.billing.secret_key.is_some(),
        ));
        secrets.push((
            "billing.webhook_secret".to_string(),
            self.billing.webhook_secret.is_some(),
        ));
        secrets.push((
            "email.smtp_password".to_string(),
            self.email.smtp_password.is_some(),
        ));
        secrets.extend(self.oauth.providers.iter().map(|(name, provider)| {
            (
                format!("oauth.providers.{name}.client_secret"),
                provider.client_secret.is_some(),
            )
        }));
        secrets
    }

    /// The callback address, every provider's endpoints and the redirect allowlist's entries.
    fn validate_oauth(&self) -> Result<(), ConfigError> {
        url::Url::parse(&self.oauth.callback_url)
            .map_err(|e| ConfigError::invalid("oauth.callback_url", format!("not a URL: {e}")))?;
        for (name, provider) in &self.oauth.providers {
            provider
                .endpoints(name)
                .map_err(|e| ConfigError::invalid(&format!("oauth.providers.{name}"), e))?;
        }
        crate::auth::redirects::RedirectPolicy::new(
            &self.auth.redirect_allowlist,
            self.auth.redirect_allow_http,
        )
        .map_err(|e| ConfigError::invalid("auth.redirect_allowlist", e))?;
        Ok(())
    }

    /// Rules across keys (each key's own rules are checked as it is read).
    fn validate(&self) -> Result<(), ConfigError> {
        let p = &self.providers;
        let worst_fetch = p.timeout.saturating_mul(p.attempts.get());
        if worst_fetch > self.prices.fetch_timeout {
            return Err(ConfigError::invalid(
                "providers.attempts",
                format!(
                    "{} attempts of providers.timeout ({:?}) take longer than prices.fetch_timeout ({:?})",
                    p.attempts, p.timeout, self.prices.fetch_timeout
                ),
            ));
        }
        let f = &self.forecast;
        if !(0.0 < f.interval_low && f.interval_low < f.interval_high && f.interval_high < 1.0) {
            return Err(ConfigError::invalid(
                "forecast.interval_low",
                "interval quantiles must satisfy 0 < interval_low < interval_high < 1",
            ));
        }
        if let Some(key) = &self.security.jwt_secret
            && key.expose().len() < 32
        {
            return Err(ConfigError::invalid(
                "security.jwt_secret",
                "must be at least 32 bytes (256 bits) for HS256",
            ));
        }
        if self.security.jwt_secret.is_none() && self.cluster.redis_url.is_some() {
            return Err(ConfigError::invalid(
                "security.jwt_secret",
                "a clustered node (cluster.redis_url set) needs the shared signing key in \
                 WATTLINE_SECURITY__JWT_SECRET, so every node accepts the tokens of the others",
            ));
        }
        self.validate_oauth()?;
        let server = &self.server;
        if server.body_read_timeout >= server.request_timeout {
            return Err(ConfigError::invalid(
                "server.body_read_timeout",
                "must be shorter than server.request_timeout (a stalled body answers 408 before the deadline's 503)",
            ));
        }
        if server.max_connections_per_address > server.max_connections {
            return Err(ConfigError::invalid(
                "server.max_connections_per_address",
                "must not exceed server.max_connections",
            ));
        }
        let s = &self.supervision;
        if s.backoff_initial > s.backoff_max {
            return Err(ConfigError::invalid(
                "supervision.backoff_initial",
                "must not be longer than supervision.backoff_max",
            ));
        }
        for (region, path) in &p.replay.files {
            if !path.is_file() {
                return Err(ConfigError::invalid(
                    &format!("providers.replay.files.{region}"),
                    format!("no file at {}", path.display()),
                ));
            }
        }
        Ok(())
    }

    /// The ordered sources configured for `region`.
    pub fn sources_for(&self, region: Region) -> Vec<Source> {
        self.regions
            .sources
            .get(&SourcesFor::Region(region))
            .or_else(|| self.regions.sources.get(&SourcesFor::Default))
            .map(|s| s.0.clone())
            .unwrap_or_else(|| vec![Source::Simulated])
    }

    /// Enabled regions without duplicates, in listing order.
    pub fn enabled_regions(&self) -> Vec<Region> {
        Region::ALL
            .into_iter()
            .filter(|r| self.regions.enabled.contains(r))
            .collect()
    }

    /// The configured publication time of `region`, if any.
    pub fn publication_for(&self, region: Region) -> Option<jiff::civil::Time> {
        self.regions.publication.get(&region).map(|t| t.0)
    }

    /// The actor tree's tunables.
    pub fn tree_config(&self) -> TreeConfig {
        let s = &self.supervision;
        let p = &self.prices;
        TreeConfig {
            writer: WriterConfig {
                batch_size: p.writer_batch_size.get(),
                flush_interval: p.writer_flush_interval,
                memory: p.memory,
                ..WriterConfig::default()
            },
            fetcher: FetcherConfig {
                fetch_timeout: p.fetch_timeout,
                retry_interval: p.retry_interval,
            },
            supervision: RestartPolicy {
                backoff: BackoffPolicy {
                    initial: s.backoff_initial,
                    max: s.backoff_max,
                    multiplier: s.backoff_multiplier.get(),
                    jitter: s.backoff_jitter,
                },
                max_restarts: s.max_restarts,
                window: s.restart_window,
                degraded_retry: s.degraded_retry,
                healthy_after: s.healthy_after,
            },
            forecaster: self.forecast.forecaster_config(),
            broadcaster: BroadcasterConfig {
                channel_capacity: self.stream.channel_capacity.get(),
                replay_per_region: self.stream.replay_per_region.get(),
                max_subscribers: self.stream.max_subscribers,
                max_per_address: self.stream.max_per_address,
                heartbeat: self.stream.heartbeat,
                ..BroadcasterConfig::default()
            },
            publication: self
                .enabled_regions()
                .into_iter()
                .filter_map(|r| Some((r, self.publication_for(r)?)))
                .collect(),
            call_timeout: p.call_timeout,
            bootstrap: BootstrapConfig {
                days: self.forecast.bootstrap_days,
                fetch_timeout: p.fetch_timeout,
            },
            alerts: wattline_actors::alerts::AlertConfig {
                reload_every: self.alerts.reload_every,
            },
        }
    }

    /// The engine clock: the wall clock, or an accelerated one when `[clock]` says so.
    pub fn clock(&self) -> SharedClock {
        let start = self.clock.start;
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
            self.cluster.node_id.to_string()
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

    fn refused(key: &str, value: impl serde::Serialize) -> String {
        with(key, value).unwrap_err().to_string()
    }

    #[test]
    fn defaults_hold_every_key_and_are_valid() {
        // `Settings` has no serde defaults (but the optional secrets), so this fails if
        // default.toml misses a key.
        let s = Settings::defaults();
        assert_eq!(s.server.bind.port(), 8080);
        assert_eq!(s.enabled_regions().len(), 14);
        assert_eq!(s.sources_for(Region::Germany), vec![Source::Simulated]);
        assert!(s.security.api_key.is_none());
        assert_eq!(
            s.prices.freshness_limit,
            std::time::Duration::from_secs(36 * 3600)
        );
        assert_eq!(
            s.prices.writer_flush_interval,
            std::time::Duration::from_millis(50)
        );
        assert_eq!(s.prices.memory, std::time::Duration::from_secs(31 * 86_400));
        assert_eq!(s.cluster.redis_url, None);
        assert_eq!(s.clock.start, None);
    }

    #[test]
    fn durations_are_human_strings_and_bad_ones_name_the_key() {
        let s = with("prices.retry_interval", "1h 30m").unwrap();
        assert_eq!(
            s.prices.retry_interval,
            std::time::Duration::from_secs(5400)
        );
        for (key, value) in [
            ("prices.retry_interval", "soon"),
            ("prices.fetch_timeout", "0s"),
            ("server.request_timeout", "-1s"),
            // Too long for the arithmetic it is used in: refused at start, not a panic later.
            ("prices.freshness_limit", "999999999h"),
        ] {
            let err = refused(key, value);
            assert!(err.contains(&format!("`{key}`")), "{err}");
        }
        assert!(refused("prices.retry_interval", 30).contains("prices.retry_interval"));
    }

    #[test]
    fn wrong_type_names_the_key() {
        let err = refused("prices.writer_batch_size", "lots");
        assert!(err.contains("prices.writer_batch_size"), "{err}");
    }

    #[test]
    fn zero_where_positive_is_needed_names_the_key() {
        let err = refused("prices.writer_batch_size", 0);
        assert!(
            err.contains("`prices.writer_batch_size`") && err.contains("nonzero"),
            "{err}"
        );
    }

    #[test]
    fn rules_across_keys_are_checked_at_start() {
        let err = refused("providers.attempts", 5);
        assert!(
            err.contains("`providers.attempts`") && err.contains("prices.fetch_timeout"),
            "{err}"
        );
        let err = refused("supervision.backoff_initial", "1h");
        assert!(err.contains("backoff_max"), "{err}");
        let err = refused("forecast.interval_low", 0.95);
        assert!(err.contains("interval_low"), "{err}");
    }

    #[test]
    fn single_values_are_checked_as_they_are_read() {
        for (key, value) in [
            ("cluster.key_prefix", "a b"),
            ("cluster.redis_url", "http://x"),
            ("clock.speed", "0"),
            ("clock.start", "2026-01-01T00:00:00+25:00"),
            ("supervision.backoff_jitter", "1.5"),
            ("providers.octopus.region_letter", "I"),
            ("regions.publication.germany", "1300"),
        ] {
            let figment = Figment::from(Toml::string(DEFAULT_TOML))
                .merge(Toml::string(&toml_line(key, value)));
            let err = Settings::from_figment(&figment).unwrap_err().to_string();
            assert!(
                err.contains(key.rsplit_once('.').unwrap().1),
                "{key}: {err}"
            );
        }
        let s = with("regions.publication.germany", "12:30").unwrap();
        assert_eq!(
            s.publication_for(Region::Germany),
            Some(jiff::civil::time(12, 30, 0, 0))
        );
    }

    /// `a.b.c = value` as TOML (a table header and a key), the value quoted unless numeric.
    fn toml_line(key: &str, value: &str) -> String {
        let (table, field) = key.rsplit_once('.').unwrap();
        let quoted = if value.parse::<f64>().is_ok() {
            value.to_string()
        } else {
            format!("\"{value}\"")
        };
        format!("[{table}]\n{field} = {quoted}\n")
    }

    #[test]
    fn unknown_region_and_source_are_refused() {
        let err = refused("regions.enabled", ["UK"]);
        assert!(err.contains("regions.enabled"), "{err}");
        let err = refused("regions.sources.atlantis", ["simulated"]);
        assert!(err.contains("atlantis"), "{err}");
        let err = refused("regions.sources.germany", ["nordpool"]);
        assert!(err.contains("regions.sources.germany"), "{err}");
        let err = refused("regions.sources.germany", Vec::<String>::new());
        assert!(err.contains("at least one source"), "{err}");
    }

    #[test]
    fn unknown_keys_are_refused() {
        let err = refused("server.bnd", "x");
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
        let s = with("regions.sources.germany", ["replay", "simulated"]);
        // A replay source needs its file: the check names it.
        assert!(s.is_ok());
        let s = s.unwrap();
        assert_eq!(
            s.sources_for(Region::Germany),
            vec![Source::Replay, Source::Simulated]
        );
        assert_eq!(s.sources_for(Region::France), vec![Source::Simulated]);
    }
}
