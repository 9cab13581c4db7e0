//! The price writer: batching into storage and the latest-price cache it keeps.

mod actor;
pub mod latest;

pub(crate) use actor::{CommittedHook, PriceWriter, PriceWriterArgs, PriceWriterMsg};
pub use actor::{
    WRITER_DROPPED_TOTAL, WRITER_ERRORS_TOTAL, WRITER_FLUSH_SECONDS, WRITER_ROWS_TOTAL,
    WriterConfig,
};
pub use latest::{LatestPrices, LatestSnapshot};
