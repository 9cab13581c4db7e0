//! Price fetching: one fetcher per region under the PriceSupervisor, which also owns the writer.

mod actor;
pub mod cycle;
mod handle;
pub mod plan;
mod supervisor;

pub use actor::{
    DayReport, FetchError, FetchReport, FetcherConfig, FetcherState, PriceFetcher,
    PriceFetcherArgs, PriceFetcherMsg,
};
pub use handle::{FlushError, PricesHandle, RefreshError};
pub use supervisor::{
    FETCHER_RESTARTS_TOTAL, FetcherSpec, PriceSupervisor, PriceSupervisorArgs, PriceSupervisorMsg,
    REGION_DEGRADED, RegionStatus,
};
