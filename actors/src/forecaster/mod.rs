//! The forecast side of the tree: the ForecastActor, its handle, and the pure calibration and
//! accuracy code it runs.

mod actor;
mod handle;
pub mod model;

pub use actor::{
    CalibrationError, FORECAST_CALIBRATION_SECONDS, FORECAST_FAILURES_TOTAL, ForecastLookup,
    ModelState, RegionModelStatus,
};
pub(crate) use actor::{Forecaster, ForecasterArgs, ForecasterMsg};
pub use handle::ForecastHandle;
pub use model::{
    Calibration, CalibrationInput, ForecastStep, ForecasterConfig, LiveAccuracy, ModelSummary,
    RegionForecast, RegionModel, StoredStep, calibrate, live_accuracy,
};
