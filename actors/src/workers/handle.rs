//! What the service holds of the WorkerSupervisor: its children's states and each worker's
//! counters.

use jiff::Timestamp;

use super::stats::{WorkerSnapshot, WorkerStats};
use super::worker::OutboxWorkerMsg;
use crate::mailbox::{CallError, Mailbox};
use crate::supervision::{ChildStatus, SupervisorHandle};

/// Typed access to the workers.
#[derive(Clone)]
pub struct WorkersHandle {
    supervisor: SupervisorHandle,
    workers: Vec<(WorkerStats, Mailbox<OutboxWorkerMsg>)>,
}

impl WorkersHandle {
    pub(crate) fn new(
        supervisor: SupervisorHandle,
        workers: Vec<(WorkerStats, Mailbox<OutboxWorkerMsg>)>,
    ) -> Self {
        WorkersHandle {
            supervisor,
            workers,
        }
    }

    /// The WorkerSupervisor's children: state, restarts, mailbox.
    pub async fn children(&self) -> Result<Vec<ChildStatus>, CallError> {
        self.supervisor.children().await
    }

    /// Every worker's counters, ages measured at `now`.
    pub fn snapshots(&self, now: Timestamp) -> Vec<WorkerSnapshot> {
        self.workers
            .iter()
            .map(|(stats, _)| stats.snapshot(now))
            .collect()
    }

    /// Makes the worker of `queue` fail (tests of the supervision).
    #[cfg(any(test, feature = "testing"))]
    pub fn crash(&self, queue: &str) {
        if let Some((_, mailbox)) = self.workers.iter().find(|(s, _)| s.queue() == queue) {
            let _ = mailbox.cast(OutboxWorkerMsg::Crash);
        }
    }
}
