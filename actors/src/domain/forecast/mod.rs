//! Day-ahead price forecasting: LEAR on daily matrices, its LARS solver, the combination of its
//! windows by their recent errors, error-quantile prediction intervals and accuracy metrics.
//! Pure and synchronous; the forecast actor runs it off the async threads, and
//! `wattline backtest` measures it.

pub mod combine;
pub mod conformal;
pub mod lars;
pub mod lear;
pub mod metrics;
pub mod output;
pub mod series;

pub use combine::Combiner;
pub use lear::{ForecastError, Lear, LearConfig, PenaltyScale};
pub use series::DailySeries;
