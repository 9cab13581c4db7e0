//! Wattline's actor tree and the pure price domain it computes on.
//!
//! This crate names no I/O crate: storage, HTTP providers and the clock come in through the
//! traits in [`ports`], implemented by the service crate (and by fakes in tests).

pub mod alerts;
pub mod bootstrap;
pub mod broadcast;
pub mod domain;
pub mod fetcher;
pub mod forecaster;
pub mod mailbox;
pub mod meter;
pub mod ports;
pub mod rng;
pub mod supervision;
pub mod tree;
pub mod weather;
pub mod workers;
pub mod writer;

#[cfg(any(test, feature = "testing"))]
pub mod testing;

#[cfg(test)]
mod layering;

pub use tree::{
    BootstrapConfig, Ports, RegionSources, ShutdownReport, Tree, TreeConfig, TreeHandles,
    WeatherPorts, WorkerPorts,
};
