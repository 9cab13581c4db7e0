//! Wattline, the service: HTTP edge, storage, price providers, configuration and wiring around
//! the actor tree of `wattline-actors`.

pub mod app;
pub mod auth;
pub mod backfill;
pub mod backtest;
pub mod billing;
pub mod cache;
pub mod catalogue;
pub mod config;
pub mod email;
pub mod error;
pub mod gdpr;
pub mod http;
pub mod priority;
pub mod providers;
pub mod storage;
pub mod telemetry;
pub mod webhooks;

pub use app::App;
pub use config::Settings;
