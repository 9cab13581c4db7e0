//! The OutboxWorker actor: works off one queue of the outbox. Each poll claims a batch of due
//! jobs under a lease, runs them concurrently through its [`JobHandler`], and settles each one:
//! done, queued again after a backoff, or parked as `failed`. A full batch polls again at once;
//! otherwise the next poll waits `poll_every`. A batch runs inside one message, so stopping the
//! worker lets the jobs in flight finish (the rest stay queued); a worker killed mid-batch leaves
//! its claims to expire, and whichever worker polls next takes them up again.

use std::sync::Arc;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use ractor::{Actor, ActorProcessingErr, ActorRef};
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::retry::{AfterFailure, JobFailure, RetryPolicy};
use super::stats::WorkerStats;
use crate::mailbox::{Mailbox, Timer};
use crate::ports::{ClaimedJob, JobHandler, JobQueue, SharedClock};
use crate::rng::SplitMix64;
use crate::supervision::ActorMeter;

/// How a worker polls and retries.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkerConfig {
    /// Wait between polls of an empty (or not full) queue.
    pub poll_every: Duration,
    /// Jobs claimed (and run concurrently) per poll.
    pub batch: u32,
    /// How long a claim holds; a job still running past it may be taken up by another worker,
    /// so it must be well above the slowest attempt.
    pub lease: Duration,
    /// Longest wait for one attempt; a job over it counts as a transient failure.
    pub attempt_timeout: Duration,
    pub retry: RetryPolicy,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            poll_every: Duration::from_secs(1),
            batch: 32,
            lease: Duration::from_secs(120),
            attempt_timeout: Duration::from_secs(60),
            retry: RetryPolicy::default(),
        }
    }
}

/// What a worker needs (kept by its supervisor to restart it).
#[derive(Clone)]
pub(crate) struct OutboxWorkerArgs {
    pub queue: String,
    /// This node's name, part of every claim token.
    pub node_id: String,
    pub jobs: Arc<dyn JobQueue>,
    pub handler: Arc<dyn JobHandler>,
    pub clock: SharedClock,
    pub config: WorkerConfig,
    pub stats: WorkerStats,
    pub meter: ActorMeter,
}

/// Messages a worker takes.
pub(crate) enum OutboxWorkerMsg {
    /// Claim and run a batch, then schedule the next poll.
    Poll,
    /// Fail on purpose (tests of the supervision).
    #[cfg(any(test, feature = "testing"))]
    Crash,
}

/// The worker actor.
#[derive(Debug, Clone, Copy)]
pub(crate) struct OutboxWorker;

/// The worker's own data.
pub(crate) struct OutboxWorkerState {
    args: OutboxWorkerArgs,
    mailbox: Mailbox<OutboxWorkerMsg>,
    next: Option<Timer>,
    rng: SplitMix64,
    /// Distinguishes this incarnation's claims from every other worker's.
    incarnation: u64,
    claims: u64,
    counts_read: Option<Instant>,
}

/// Queue counts are read at most this often (they cost a query).
const COUNTS_EVERY: Duration = Duration::from_secs(1);

impl Actor for OutboxWorker {
    type Msg = OutboxWorkerMsg;
    type State = OutboxWorkerState;
    type Arguments = OutboxWorkerArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: Self::Arguments,
    ) -> Result<Self::State, ActorProcessingErr> {
        let mailbox = Mailbox::new(myself, args.meter.clone());
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        let mut rng = SplitMix64::new(seed ^ hash(&args.node_id) ^ hash(&args.queue));
        let incarnation = rng.next_u64();
        let _ = mailbox.cast(OutboxWorkerMsg::Poll);
        Ok(OutboxWorkerState {
            args,
            mailbox,
            next: None,
            rng,
            incarnation,
            claims: 0,
            counts_read: None,
        })
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        msg: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        state.mailbox.meter().handled();
        match msg {
            OutboxWorkerMsg::Poll => state.poll().await,
            #[cfg(any(test, feature = "testing"))]
            OutboxWorkerMsg::Crash => Err("crash requested".into()),
        }
    }
}

impl OutboxWorkerState {
    async fn poll(&mut self) -> Result<(), ActorProcessingErr> {
        self.next = None;
        let now = self.args.clock.now();
        self.read_counts(now).await;
        self.claims += 1;
        let claim = format!(
            "{}/{}/{:016x}/{}",
            self.args.node_id, self.args.queue, self.incarnation, self.claims
        );
        let lease_until = now + SignedDuration::try_from(self.args.config.lease)?;
        let jobs = match self
            .args
            .jobs
            .claim(
                &self.args.queue,
                &claim,
                self.args.config.batch,
                now,
                lease_until,
            )
            .await
        {
            Ok(jobs) => jobs,
            Err(error) => {
                tracing::warn!(queue = %self.args.queue, %error, "Could not claim jobs; will poll again.");
                self.schedule(self.args.config.poll_every);
                return Ok(());
            }
        };
        let full = jobs.len() as u32 >= self.args.config.batch;
        self.run(jobs).await;
        if full {
            let _ = self.mailbox.cast(OutboxWorkerMsg::Poll);
        } else {
            self.schedule(self.args.config.poll_every);
        }
        Ok(())
    }

    /// Runs a batch concurrently and settles every job.
    async fn run(&mut self, jobs: Vec<ClaimedJob>) {
        let mut running = JoinSet::new();
        let stats = self.args.stats.clone();
        for job in jobs {
            if self.args.config.retry.exhausted(job.attempts) {
                let why = format!(
                    "gave up after {} attempts: earlier attempts ended without an outcome",
                    job.attempts - 1
                );
                self.settle(&job, Err(JobFailure::Permanent(why))).await;
                continue;
            }
            stats.running(1);
            let handler = self.args.handler.clone();
            let timeout = self.args.config.attempt_timeout;
            running.spawn(async move {
                let outcome = attempt(handler, &job, timeout).await;
                (job, outcome)
            });
        }
        let mut done = Vec::new();
        while let Some(joined) = running.join_next().await {
            stats.running(-1);
            match joined {
                Ok((job, Ok(()))) => done.push(job),
                Ok((job, outcome)) => self.settle(&job, outcome).await,
                // Only when the runtime shuts down under us; the claims lapse and the jobs run
                // again elsewhere.
                Err(error) => {
                    tracing::warn!(queue = %self.args.queue, %error, "Job attempt was cancelled.")
                }
            }
        }
        self.complete(&done).await;
    }

    /// Records the batch's successful jobs as done, in one call.
    async fn complete(&mut self, done: &[ClaimedJob]) {
        if done.is_empty() {
            return;
        }
        match self
            .args
            .jobs
            .complete_all(done, self.args.clock.now())
            .await
        {
            Ok(recorded) => {
                for _ in 0..recorded {
                    self.args.stats.outcome("done");
                }
                if recorded < done.len() as u64 {
                    tracing::warn!(queue = %self.args.queue, lapsed = done.len() as u64 - recorded, "Some jobs' claims had lapsed; other workers own them now.");
                }
            }
            Err(error) => {
                tracing::warn!(queue = %self.args.queue, %error, "Could not record finished jobs; they run again when their claims lapse.")
            }
        }
    }

    async fn settle(&mut self, job: &ClaimedJob, outcome: Result<(), JobFailure>) {
        let now = self.args.clock.now();
        let jobs = &self.args.jobs;
        let (result, label) = match outcome {
            Ok(()) => (jobs.complete(job, now).await, "done"),
            Err(failure) => {
                let unit = self.rng.unit();
                let error = failure.to_string();
                match self.args.config.retry.after(job.attempts, &failure, unit) {
                    AfterFailure::RetryIn(delay) => {
                        tracing::info!(queue = %job.queue, kind = %job.kind, job = %job.id, attempts = job.attempts, %error, retry_in = ?crate::supervision::supervisor::rounded(delay), "Job failed; will retry.");
                        let at = now + SignedDuration::try_from(delay).unwrap_or_default();
                        (jobs.retry(job, at, &error, now).await, "retried")
                    }
                    AfterFailure::Park => {
                        tracing::error!(queue = %job.queue, kind = %job.kind, job = %job.id, attempts = job.attempts, %error, "Job failed for good; parked.");
                        (jobs.park(job, &error, now).await, "failed")
                    }
                }
            }
        };
        match result {
            Ok(true) => self.args.stats.outcome(label),
            Ok(false) => {
                tracing::warn!(queue = %job.queue, job = %job.id, "Job's claim had lapsed; another worker owns it now.")
            }
            Err(error) => {
                tracing::warn!(queue = %job.queue, job = %job.id, %error, "Could not record a job's outcome; it runs again when its claim lapses.")
            }
        }
    }

    async fn read_counts(&mut self, now: Timestamp) {
        if self
            .counts_read
            .is_some_and(|at| at.elapsed() < COUNTS_EVERY)
        {
            return;
        }
        self.counts_read = Some(Instant::now());
        match self.args.jobs.counts(&self.args.queue).await {
            Ok(counts) => self.args.stats.counts(counts, now),
            Err(error) => {
                tracing::debug!(queue = %self.args.queue, %error, "Could not read queue counts.")
            }
        }
    }

    fn schedule(&mut self, after: Duration) {
        self.next = Some(self.mailbox.send_after(after, || OutboxWorkerMsg::Poll));
    }
}

/// One attempt at `job`, bounded by `timeout`. The handler runs on its own task, so a panic in
/// it is a failed attempt (retried, then parked) rather than the end of the worker.
async fn attempt(
    handler: Arc<dyn JobHandler>,
    job: &ClaimedJob,
    timeout: Duration,
) -> Result<(), JobFailure> {
    let task = {
        let job = job.clone();
        tokio::spawn(async move { handler.handle(&job).await })
    };
    let abort = task.abort_handle();
    match tokio::time::timeout(timeout, task).await {
        Ok(Ok(outcome)) => outcome,
        Ok(Err(join)) if join.is_panic() => {
            Err(JobFailure::Transient("the job's handler panicked".into()))
        }
        Ok(Err(join)) => Err(JobFailure::Transient(join.to_string())),
        Err(_) => {
            abort.abort();
            Err(JobFailure::Transient(format!(
                "attempt timed out after {timeout:?}"
            )))
        }
    }
}

/// A stable 64-bit hash of a name (FNV-1a), to vary seeds by node and queue.
fn hash(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}
