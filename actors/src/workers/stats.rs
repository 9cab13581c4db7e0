//! Per-worker counters an operator watches: jobs waiting, running, done, retried and parked,
//! and how long the oldest waiting job has waited. Done/retried/failed count this process's
//! outcomes; queued, running-in-the-cluster, parked and the oldest age are read from the outbox.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use jiff::Timestamp;
use serde::Serialize;

use crate::ports::QueueCounts;

/// Metric: outcomes of job attempts, by queue and outcome (`done`, `retried`, `failed`).
pub const JOBS_TOTAL: &str = "wattline_jobs_total";
/// Metric: jobs waiting in a queue (due or not).
pub const JOBS_QUEUED: &str = "wattline_jobs_queued";
/// Metric: jobs this node's worker is running now.
pub const JOBS_RUNNING: &str = "wattline_jobs_running";
/// Metric: jobs parked as failed, waiting for an operator.
pub const JOBS_FAILED: &str = "wattline_jobs_failed";
/// Metric: age in seconds of the oldest waiting job (0 when none waits).
pub const JOBS_OLDEST_QUEUED_SECONDS: &str = "wattline_jobs_oldest_queued_seconds";

/// The counters of one worker (cheap to clone; clones share them).
#[derive(Debug, Clone)]
pub struct WorkerStats {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    worker: String,
    queue: String,
    running: AtomicU64,
    done: AtomicU64,
    retried: AtomicU64,
    failed: AtomicU64,
    queued: AtomicU64,
    parked: AtomicU64,
    /// Unix milliseconds of the oldest waiting job; `i64::MIN` when none waits.
    oldest_queued_ms: AtomicI64,
}

/// One worker as operators see it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WorkerSnapshot {
    pub worker: String,
    pub queue: String,
    /// Jobs waiting in the queue (cluster-wide).
    pub queued: u64,
    /// Jobs this node is running now.
    pub running: u64,
    /// Attempts this node completed, retried and parked since it started.
    pub done: u64,
    pub retried: u64,
    pub failed: u64,
    /// Jobs parked as `failed` in the queue (cluster-wide), waiting for an operator.
    pub parked: u64,
    pub oldest_queued_age_seconds: Option<f64>,
}

impl WorkerStats {
    /// Zeroed counters of `worker`, which works `queue`; its metric series exist from the start.
    pub fn new(worker: &str, queue: &str) -> Self {
        for outcome in ["done", "retried", "failed"] {
            metrics::counter!(JOBS_TOTAL, "queue" => queue.to_string(), "outcome" => outcome)
                .increment(0);
        }
        for gauge in [
            JOBS_QUEUED,
            JOBS_RUNNING,
            JOBS_FAILED,
            JOBS_OLDEST_QUEUED_SECONDS,
        ] {
            metrics::gauge!(gauge, "queue" => queue.to_string()).set(0.0);
        }
        WorkerStats {
            inner: Arc::new(Inner {
                worker: worker.to_string(),
                queue: queue.to_string(),
                running: AtomicU64::new(0),
                done: AtomicU64::new(0),
                retried: AtomicU64::new(0),
                failed: AtomicU64::new(0),
                queued: AtomicU64::new(0),
                parked: AtomicU64::new(0),
                oldest_queued_ms: AtomicI64::new(i64::MIN),
            }),
        }
    }

    pub fn queue(&self) -> &str {
        &self.inner.queue
    }

    /// `n` jobs started (`n` > 0) or finished (`n` < 0) on this node.
    pub(crate) fn running(&self, delta: i64) {
        let now = if delta >= 0 {
            self.inner
                .running
                .fetch_add(delta as u64, Ordering::Relaxed)
                + delta as u64
        } else {
            let by = delta.unsigned_abs();
            self.inner
                .running
                .fetch_sub(by, Ordering::Relaxed)
                .saturating_sub(by)
        };
        metrics::gauge!(JOBS_RUNNING, "queue" => self.inner.queue.clone()).set(now as f64);
    }

    /// One attempt ended with `outcome` (`done`, `retried` or `failed`).
    pub(crate) fn outcome(&self, outcome: &'static str) {
        let counter = match outcome {
            "done" => &self.inner.done,
            "retried" => &self.inner.retried,
            _ => &self.inner.failed,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        metrics::counter!(JOBS_TOTAL, "queue" => self.inner.queue.clone(), "outcome" => outcome)
            .increment(1);
    }

    /// The queue's counts as read from the outbox at `now`.
    pub(crate) fn counts(&self, counts: QueueCounts, now: Timestamp) {
        let queue = self.inner.queue.clone();
        self.inner.queued.store(counts.queued, Ordering::Relaxed);
        self.inner.parked.store(counts.failed, Ordering::Relaxed);
        let oldest = counts
            .oldest_queued
            .map_or(i64::MIN, |t| t.as_millisecond());
        self.inner.oldest_queued_ms.store(oldest, Ordering::Relaxed);
        metrics::gauge!(JOBS_QUEUED, "queue" => queue.clone()).set(counts.queued as f64);
        metrics::gauge!(JOBS_FAILED, "queue" => queue.clone()).set(counts.failed as f64);
        let age = counts.oldest_queued.map_or(0.0, |t| {
            (now.as_millisecond() - t.as_millisecond()).max(0) as f64 / 1e3
        });
        metrics::gauge!(JOBS_OLDEST_QUEUED_SECONDS, "queue" => queue).set(age);
    }

    /// The counters now, ages measured at `now`.
    pub fn snapshot(&self, now: Timestamp) -> WorkerSnapshot {
        let i = &self.inner;
        let oldest = i.oldest_queued_ms.load(Ordering::Relaxed);
        WorkerSnapshot {
            worker: i.worker.clone(),
            queue: i.queue.clone(),
            queued: i.queued.load(Ordering::Relaxed),
            running: i.running.load(Ordering::Relaxed),
            done: i.done.load(Ordering::Relaxed),
            retried: i.retried.load(Ordering::Relaxed),
            failed: i.failed.load(Ordering::Relaxed),
            parked: i.parked.load(Ordering::Relaxed),
            oldest_queued_age_seconds: (oldest != i64::MIN)
                .then(|| (now.as_millisecond() - oldest).max(0) as f64 / 1e3),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_and_counts_show_in_the_snapshot() {
        let stats = WorkerStats::new("email-worker", "email-test-stats");
        stats.running(2);
        stats.running(-1);
        stats.outcome("done");
        stats.outcome("retried");
        stats.outcome("failed");
        let now = Timestamp::from_second(1_000).unwrap();
        stats.counts(
            QueueCounts {
                queued: 4,
                running: 1,
                failed: 2,
                oldest_queued: Some(Timestamp::from_second(990).unwrap()),
            },
            now,
        );
        let s = stats.clone().snapshot(now);
        assert_eq!(
            (s.queued, s.running, s.done, s.retried, s.failed, s.parked),
            (4, 1, 1, 1, 1, 2)
        );
        assert_eq!(s.oldest_queued_age_seconds, Some(10.0));
    }
}
