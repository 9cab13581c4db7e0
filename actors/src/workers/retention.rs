//! The retention worker: on a schedule, removes what is past its time (expired sessions and
//! sign-in links, delivered jobs and alert history past the retention period) through the
//! [`Retention`] port. A failed round is logged and retried at the next; the worker itself is
//! restarted by the WorkerSupervisor like every other.

use std::sync::Arc;
use std::time::Duration;

use ractor::{Actor, ActorProcessingErr, ActorRef};

use crate::mailbox::{Mailbox, Timer};
use crate::ports::{Retention, SharedClock};
use crate::supervision::ActorMeter;

/// Metric: rows removed by the retention worker, by kind.
pub const RETENTION_PURGED_TOTAL: &str = "wattline_retention_purged_total";

/// What the retention worker needs (kept by its supervisor to restart it).
#[derive(Clone)]
pub(crate) struct RetentionWorkerArgs {
    pub retention: Arc<dyn Retention>,
    pub clock: SharedClock,
    pub every: Duration,
    pub meter: ActorMeter,
}

/// Messages the retention worker takes.
pub(crate) enum RetentionMsg {
    Purge,
}

/// The retention worker actor.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RetentionWorker;

/// Its own data: the schedule.
pub(crate) struct RetentionState {
    args: RetentionWorkerArgs,
    _every: Timer,
}

impl Actor for RetentionWorker {
    type Msg = RetentionMsg;
    type State = RetentionState;
    type Arguments = RetentionWorkerArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: Self::Arguments,
    ) -> Result<Self::State, ActorProcessingErr> {
        let mailbox = Mailbox::new(myself, args.meter.clone());
        // A round at start, then on the schedule.
        let _ = mailbox.cast(RetentionMsg::Purge);
        let every = mailbox.send_interval(args.every, || RetentionMsg::Purge);
        Ok(RetentionState {
            args,
            _every: every,
        })
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        msg: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        state.args.meter.handled();
        let RetentionMsg::Purge = msg;
        let now = state.args.clock.now();
        match state.args.retention.purge(now).await {
            Ok(purged) => {
                for (kind, rows) in &purged {
                    metrics::counter!(RETENTION_PURGED_TOTAL, "kind" => kind.clone())
                        .increment(*rows);
                }
                let total: u64 = purged.iter().map(|(_, n)| n).sum();
                if total > 0 {
                    tracing::info!(?purged, "Retention purge removed expired rows.");
                }
            }
            Err(error) => tracing::warn!(%error, "Retention purge failed; will try again."),
        }
        Ok(())
    }
}
