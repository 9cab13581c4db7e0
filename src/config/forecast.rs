//! The forecaster and the appliance scheduler.

use std::num::NonZeroUsize;
use std::time::Duration;

use serde::{Deserialize, Deserializer};
use wattline_actors::domain::forecast::LearConfig;
use wattline_actors::domain::forecast::lars::Criterion;
use wattline_actors::domain::schedule::SolveLimits;
use wattline_actors::forecaster::ForecasterConfig;

use super::human;

/// The day-ahead forecaster.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForecastSettings {
    /// Run the ForecastActor (default true).
    pub enabled: bool,
    /// Calibration windows in days, each at least 8 (default 56, 84, 1092, 1456).
    #[serde(deserialize_with = "windows")]
    pub windows: Vec<usize>,
    /// `aic` or `bic` (default aic).
    pub criterion: CriterionSetting,
    /// Days of recent errors that weight the windows in the forecast (default 28).
    pub combine_days: NonZeroUsize,
    /// Days forecast after the newest published day (default 8).
    pub horizon_days: NonZeroUsize,
    /// Days of stored prices read per calibration (default 1484).
    pub history_days: NonZeroUsize,
    /// Days of errors behind each interval (default 56).
    pub error_days: NonZeroUsize,
    /// Walk-forward days seeding the intervals on a cold start (default 7).
    pub seed_days: usize,
    /// Calibrations at once (0 = automatic: every core at a cold start, then one fewer), each
    /// on its own thread at nice 10.
    pub calibration_threads: usize,
    /// Interval quantiles (default 0.1 and 0.9).
    pub interval_low: f64,
    pub interval_high: f64,
    /// Days of stored forecasts in the live accuracy (default 30).
    pub accuracy_days: NonZeroUsize,
    /// Past days loaded from the sources on start when fewer are stored (default 120; 0 = off).
    pub bootstrap_days: usize,
}

fn windows<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<usize>, D::Error> {
    let windows = Vec::<usize>::deserialize(deserializer)?;
    if windows.is_empty() || windows.iter().any(|w| *w < 8) {
        return Err(serde::de::Error::custom(
            "needs at least one window of 8 days or more",
        ));
    }
    Ok(windows)
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
    pub max_exact_binaries: NonZeroUsize,
    /// Branch & bound node limit (default 5000).
    pub node_limit: u64,
    /// Exact solver time limit (default 2s).
    #[serde(deserialize_with = "human::positive_duration")]
    pub time_limit: Duration,
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
                combine_days: self.combine_days.get(),
                ..LearConfig::default()
            },
            horizon_days: self.horizon_days.get(),
            history_days: self.history_days.get(),
            error_days: self.error_days.get(),
            seed_days: self.seed_days,
            calibration_threads: self.calibration_threads,
            interval: (self.interval_low, self.interval_high),
            accuracy_days: self.accuracy_days.get(),
            on_calibration_thread: Some(crate::priority::lower_this_thread),
            ..ForecasterConfig::default()
        }
    }
}

impl OptimizationSettings {
    /// The scheduler's limits.
    pub fn limits(&self) -> SolveLimits {
        SolveLimits {
            max_exact_binaries: self.max_exact_binaries.get(),
            node_limit: self.node_limit,
            time_limit: self.time_limit,
        }
    }
}
