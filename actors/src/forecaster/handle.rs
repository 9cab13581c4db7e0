//! The typed handle to the ForecastActor, used by the edge.

use std::time::Duration;

use super::actor::{ForecastLookup, ForecasterMsg, RegionModelStatus};
use crate::domain::Region;
use crate::mailbox::{CallError, Mailbox};
use crate::supervision::ActorMeter;

/// Typed access to the forecaster.
#[derive(Clone)]
pub struct ForecastHandle {
    mailbox: Mailbox<ForecasterMsg>,
    call_timeout: Duration,
}

impl ForecastHandle {
    pub(crate) fn new(mailbox: Mailbox<ForecasterMsg>, call_timeout: Duration) -> Self {
        ForecastHandle {
            mailbox,
            call_timeout,
        }
    }

    /// The region's current forecast, from memory.
    pub async fn forecast(&self, region: Region) -> Result<ForecastLookup, CallError> {
        self.mailbox
            .call(
                |reply| ForecasterMsg::Get { region, reply },
                self.call_timeout,
            )
            .await
    }

    /// Every region's model state and summary.
    pub async fn status(&self) -> Result<Vec<RegionModelStatus>, CallError> {
        self.mailbox
            .call(ForecasterMsg::Status, self.call_timeout)
            .await
    }

    /// Asks for a recalibration of `region` (it only refits when a new day has landed).
    pub fn recalibrate(&self, region: Region) -> Result<(), CallError> {
        self.mailbox.cast(ForecasterMsg::Recalibrate(region))
    }

    /// Makes the forecaster fail (tests of the supervision).
    #[cfg(any(test, feature = "testing"))]
    pub fn crash(&self) {
        let _ = self.mailbox.cast(ForecasterMsg::Crash);
    }

    /// The forecaster's mailbox counters.
    pub fn meter(&self) -> &ActorMeter {
        self.mailbox.meter()
    }
}
