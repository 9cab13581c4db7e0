//! The pure domain: regions, price points and the maths over them, forecasting and scheduling,
//! account rules (the password policy). Synchronous, no I/O, no actors; both the actors and the
//! HTTP edge call into it.

pub mod alert;
pub mod beta;
pub mod billing;
pub mod calendar;
pub mod compare;
pub mod consent;
pub mod event;
pub mod forecast;
pub mod horizon;
pub mod password;
pub mod peak;
pub mod preferences;
pub mod price;
pub mod region;
pub mod schedule;
pub mod stats;
pub mod tariff;
pub mod tariff_cost;
pub mod weather;
pub mod window;

pub use alert::{AlertCondition, AlertIndex, AlertRule, Firing, QuietHours};
pub use price::{Currency, EnergyUnit, PriceKind, PricePoint, Source};
pub use region::{Region, RegionParseError, Resolution};
