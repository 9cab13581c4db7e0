//! Restart policy pieces the supervisors share. ractor has no built-in backoff or restart
//! intensity, so these are ours: pure, unit-tested, no actors.

pub mod backoff;
pub mod budget;
pub mod meter;

pub use backoff::{Backoff, BackoffPolicy};
pub use budget::RestartBudget;
pub use meter::ActorMeter;
