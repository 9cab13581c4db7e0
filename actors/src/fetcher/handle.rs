//! The typed handle to the price side of the tree (the PriceSupervisor): refresh a region, read
//! region status, flush the writer. The edge holds this, never an `ActorRef`.

use std::time::Duration;

use super::actor::{FetchError, FetchReport};
use super::supervisor::{PriceSupervisorMsg, RegionStatus};
use crate::domain::Region;
use crate::mailbox::{CallError, Mailbox};
use crate::ports::StoreError;

/// Why a refresh did not deliver.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RefreshError {
    /// The supervisor is down or did not answer in time.
    #[error(transparent)]
    Call(#[from] CallError),
    /// The fetch itself failed or the fetcher is not running.
    #[error(transparent)]
    Fetch(#[from] FetchError),
}

/// Why a flush did not complete.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FlushError {
    #[error(transparent)]
    Call(#[from] CallError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Typed access to the PriceSupervisor.
#[derive(Clone)]
pub struct PricesHandle {
    mailbox: Mailbox<PriceSupervisorMsg>,
    call_timeout: Duration,
}

impl PricesHandle {
    pub(crate) fn new(mailbox: Mailbox<PriceSupervisorMsg>, call_timeout: Duration) -> Self {
        PricesHandle {
            mailbox,
            call_timeout,
        }
    }

    /// Fetches `region` now; waits at most `timeout` for the fetch to finish.
    pub async fn refresh(
        &self,
        region: Region,
        timeout: Duration,
    ) -> Result<FetchReport, RefreshError> {
        Ok(self
            .mailbox
            .call(
                |reply| PriceSupervisorMsg::Refresh { region, reply },
                timeout,
            )
            .await??)
    }

    /// Every region's fetcher status.
    pub async fn status(&self) -> Result<Vec<RegionStatus>, CallError> {
        self.mailbox
            .call(PriceSupervisorMsg::Status, self.call_timeout)
            .await
    }

    /// The writer's state and counters.
    pub async fn writer_status(&self) -> Result<crate::supervision::ChildStatus, CallError> {
        self.mailbox
            .call(PriceSupervisorMsg::WriterStatus, self.call_timeout)
            .await
    }

    /// Queues points for the writer, as fetched points are (used by backfill).
    pub fn write(&self, points: Vec<crate::domain::PricePoint>) -> Result<(), CallError> {
        self.mailbox.cast(PriceSupervisorMsg::Write(points))
    }

    /// Commits everything the writer holds.
    pub async fn flush(&self, timeout: Duration) -> Result<u64, FlushError> {
        Ok(self
            .mailbox
            .call(PriceSupervisorMsg::Flush, timeout)
            .await??)
    }

    /// Stops every fetcher (first step of shutdown).
    pub async fn stop_fetchers(&self, timeout: Duration) -> Result<(), CallError> {
        self.mailbox
            .call(PriceSupervisorMsg::StopFetchers, timeout)
            .await
    }

    /// The supervisor's own mailbox counters.
    pub fn meter(&self) -> &crate::supervision::ActorMeter {
        self.mailbox.meter()
    }
}
