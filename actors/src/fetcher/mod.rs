//! Price fetching: one fetcher per region under the PriceSupervisor, which also owns the writer.

mod actor;
pub mod cycle;
mod handle;
pub mod plan;
mod supervisor;

pub use actor::{DayReport, FetchError, FetchReport, FetcherConfig, FetcherState};
pub use handle::{FlushError, PricesHandle, RefreshError};
pub use supervisor::{FETCHER_RESTARTS_TOTAL, REGION_DEGRADED, RegionStatus};
pub(crate) use supervisor::{
    FetcherSpec, PriceSupervisor, PriceSupervisorArgs, PriceSupervisorMsg,
};
