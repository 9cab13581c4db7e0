//! What a forecast is once made: its steps, the model that made it, and the stored steps whose
//! accuracy is measured later. Plain data shared by the forecaster, storage and the edge.

use jiff::Timestamp;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};

use crate::domain::{Currency, EnergyUnit, Region};

/// One forecast interval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ForecastStep {
    pub start: Timestamp,
    pub duration_minutes: u32,
    pub predicted: f64,
    pub lower: f64,
    pub upper: f64,
    /// Days after the newest published day (1 = the first unpublished day).
    pub lead_days: u32,
}

impl ForecastStep {
    pub fn end(&self) -> Timestamp {
        self.start + jiff::SignedDuration::from_mins(i64::from(self.duration_minutes))
    }
}

/// A stored step with the model that made it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredStep {
    pub model_version: String,
    pub made_at: Timestamp,
    pub step: ForecastStep,
}

/// Accuracy of stored forecasts against the prices that were then published.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LiveAccuracy {
    /// Days the measurement looked back over.
    pub days: usize,
    /// Intervals with both a stored forecast and a realised price.
    pub points: usize,
    pub mae: f64,
    /// In percent.
    pub smape: f64,
    /// Share of realised prices inside the stored intervals, in percent.
    pub coverage: f64,
}

/// What the model is and what it was trained on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelSummary {
    pub kind: String,
    pub version: String,
    /// First and last local day of the training data.
    pub data_from: Date,
    pub data_to: Date,
    /// Calibration windows actually used (capped by the history).
    pub windows: Vec<usize>,
    /// Training days of the longest window.
    pub samples: usize,
    pub calibrated_at: Timestamp,
    pub calibration_ms: u64,
    /// Days of out-of-sample errors behind the intervals of lead day 1.
    pub interval_error_days: usize,
    /// MAE of those lead-1 errors: walk-forward forecasts at a cold start, live ones after.
    pub out_of_sample_mae: Option<f64>,
    /// `None` until stored forecasts have met realised prices.
    pub live_accuracy: Option<LiveAccuracy>,
}

/// A region's forecast, as served.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegionForecast {
    pub region: Region,
    pub model: ModelSummary,
    pub currency: Currency,
    pub unit: EnergyUnit,
    /// Consecutive steps from the end of the published prices.
    pub steps: Vec<ForecastStep>,
    /// The forecast per day and period (the shape errors are recorded in).
    #[serde(skip)]
    pub days: Vec<(Date, Vec<f64>)>,
}
