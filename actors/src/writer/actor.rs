//! The PriceWriter actor: collects fetched points into batches, commits each batch to storage in
//! one transaction, and after each commit publishes a new latest-price snapshot. A storage error
//! keeps the batch and retries with backoff rather than failing the actor.

use std::sync::Arc;
use std::time::Duration;

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use tokio::sync::watch;
use tokio::time::Instant;

use super::latest::{ANNOUNCE_LOOKBACK, LatestSnapshot};
use crate::broadcast::{BroadcasterMsg, IncomingEvent, PricePayload};
use crate::domain::price::SourcePreference;
use crate::domain::{PricePoint, Region};
use crate::forecaster::ForecasterMsg;
use crate::mailbox::{Mailbox, Timer};
use crate::ports::{PriceStore, SharedClock, StoreError};
use crate::supervision::{ActorMeter, Backoff, BackoffPolicy};

/// Metric: rows committed by the writer.
pub const WRITER_ROWS_TOTAL: &str = "wattline_writer_rows_total";
/// Metric: failed batch commits.
pub const WRITER_ERRORS_TOTAL: &str = "wattline_writer_errors_total";
/// Metric: points dropped because the buffer overflowed while storage was failing.
pub const WRITER_DROPPED_TOTAL: &str = "wattline_writer_dropped_points_total";
/// Metric: time to commit one batch.
pub const WRITER_FLUSH_SECONDS: &str = "wattline_writer_flush_duration_seconds";

/// How the writer batches.
#[derive(Debug, Clone)]
pub struct WriterConfig {
    /// Flush as soon as this many points are buffered.
    pub batch_size: usize,
    /// Flush a partial batch after this long.
    pub flush_interval: Duration,
    /// Most points held while storage is failing; the oldest are dropped beyond it.
    pub max_buffered: usize,
    /// Retry delays after a failed commit.
    pub retry: BackoffPolicy,
    /// How far back the latest-price cache holds every stored point (recent ranges are read
    /// from it instead of storage).
    pub memory: std::time::Duration,
}

impl Default for WriterConfig {
    fn default() -> Self {
        WriterConfig {
            batch_size: 1000,
            flush_interval: Duration::from_millis(50),
            max_buffered: 200_000,
            retry: BackoffPolicy {
                initial: Duration::from_millis(200),
                max: Duration::from_secs(30),
                multiplier: 2,
                jitter: 0.1,
            },
            memory: std::time::Duration::from_secs(31 * 24 * 3600),
        }
    }
}

/// Everything the writer needs to start (and to be restarted).
#[derive(Clone)]
pub(crate) struct PriceWriterArgs {
    pub store: Arc<dyn PriceStore>,
    pub clock: SharedClock,
    /// The cache channel outlives any one writer, so a restarted writer keeps publishing to the
    /// same readers.
    pub latest: Arc<watch::Sender<Arc<LatestSnapshot>>>,
    pub preference: Arc<SourcePreference>,
    pub config: WriterConfig,
    pub meter: ActorMeter,
    /// Told about every committed change; `None` when nothing streams (tests).
    pub broadcaster: Option<Mailbox<BroadcasterMsg>>,
    /// Told when a region's prices reach further (a new day may be ready to learn from).
    pub forecaster: Option<Mailbox<ForecasterMsg>>,
    /// Told which regions got new prices, to evaluate their alert rules (the tree builds it, so
    /// the writer does not depend on the AlertEvaluator's messages).
    pub alerts: Option<CommittedHook>,
}

/// Called with each region whose prices a commit changed.
pub(crate) type CommittedHook = Arc<dyn Fn(Region) + Send + Sync>;

/// Messages the writer takes.
pub(crate) enum PriceWriterMsg {
    /// Buffer these points for the next batch.
    Write(Vec<PricePoint>),
    /// The partial-batch timer (or a retry timer) fired.
    FlushDue,
    /// Commit everything buffered now and answer with the rows written.
    Flush(RpcReplyPort<Result<u64, StoreError>>),
    /// A region's fetcher started (`true`) or stopped (`false`) failing; served prices say so.
    RegionHealth { region: Region, failing: bool },
    /// Points of `region` were stored past the writer (a history load): read its window again.
    Reload(Region),
    /// A fan-out event: merge its prices into the cache when `merge` (another node stored them),
    /// then hand it back to the broadcaster, keeping cache and stream in one order.
    MergeEvent {
        event: IncomingEvent,
        merge: bool,
        reply: Mailbox<BroadcasterMsg>,
    },
}

/// The writer actor (configuration lives in its arguments and state).
pub(crate) struct PriceWriter;

/// The writer's own data.
pub(crate) struct PriceWriterState {
    args: PriceWriterArgs,
    buffer: Vec<PricePoint>,
    mailbox: Mailbox<PriceWriterMsg>,
    timer: Option<Timer>,
    retry: Backoff,
}

impl Actor for PriceWriter {
    type Msg = PriceWriterMsg;
    type State = PriceWriterState;
    type Arguments = PriceWriterArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: Self::Arguments,
    ) -> Result<Self::State, ActorProcessingErr> {
        warm_cache(&args).await;
        let retry = Backoff::new(args.config.retry, 0x0057_17e4);
        Ok(PriceWriterState {
            mailbox: Mailbox::new(myself, args.meter.clone()),
            args,
            buffer: Vec::new(),
            timer: None,
            retry,
        })
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        msg: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        state.args.meter.handled();
        match msg {
            PriceWriterMsg::Write(points) => {
                state.buffer.extend(points);
                state.enforce_capacity();
                if state.buffer.len() >= state.args.config.batch_size {
                    let _ = state.flush().await;
                } else if state.timer.is_none() {
                    let delay = state.args.config.flush_interval;
                    state.schedule(delay);
                }
            }
            PriceWriterMsg::FlushDue => {
                state.timer = None;
                let _ = state.flush().await;
            }
            PriceWriterMsg::Flush(reply) => {
                let result = state.flush().await;
                let _ = reply.send(result);
            }
            PriceWriterMsg::Reload(region) => load_region(&state.args, region).await,
            PriceWriterMsg::RegionHealth { region, failing } => {
                let current = state.args.latest.borrow().clone();
                if current.is_failing(region) != failing {
                    state
                        .args
                        .latest
                        .send_replace(Arc::new(current.with_failing(region, failing)));
                }
            }
            PriceWriterMsg::MergeEvent {
                event,
                merge,
                reply,
            } => {
                if merge {
                    match serde_json::from_str::<PricePayload>(&event.payload) {
                        Ok(payload) => {
                            state.update_cache(&payload.points);
                        }
                        Err(error) => {
                            tracing::warn!(%error, "Unreadable fan-out event; not cached.")
                        }
                    }
                }
                let _ = reply.cast(BroadcasterMsg::Merged(event));
            }
        }
        Ok(())
    }
}

/// Loads each region's window so `current` and recent ranges answer from memory right after a
/// (re)start.
async fn warm_cache(args: &PriceWriterArgs) {
    for region in Region::ALL {
        load_region(args, region).await;
    }
}

/// Loads `region`'s window from storage into the cache. On failure the region keeps being read
/// from storage (the cache does not claim a window it could not load).
async fn load_region(args: &PriceWriterArgs, region: Region) {
    let since = args.clock.now() - memory(args);
    match args.store.prices_since(region, since).await {
        Ok(stored) => {
            let current = args.latest.borrow().clone();
            let loaded = current.loaded(region, &stored, &args.preference, since);
            args.latest.send_replace(Arc::new(loaded));
        }
        Err(error) => {
            tracing::warn!(%region, %error, "Could not load the latest-price cache from storage.")
        }
    }
}

/// The cache window as a span.
fn memory(args: &PriceWriterArgs) -> jiff::SignedDuration {
    jiff::SignedDuration::try_from(args.config.memory).unwrap_or(jiff::SignedDuration::ZERO)
}

impl PriceWriterState {
    fn schedule(&mut self, delay: Duration) {
        self.timer = Some(self.mailbox.send_after(delay, || PriceWriterMsg::FlushDue));
    }

    /// Drops the oldest points beyond the buffer cap (only reachable while storage fails).
    fn enforce_capacity(&mut self) {
        let excess = self
            .buffer
            .len()
            .saturating_sub(self.args.config.max_buffered);
        if excess > 0 {
            self.buffer.drain(..excess);
            metrics::counter!(WRITER_DROPPED_TOTAL).increment(excess as u64);
            tracing::error!(
                dropped = excess,
                "Writer buffer full while storage fails; dropped the oldest points."
            );
        }
    }

    /// Commits the buffer in batches. On failure the uncommitted points stay buffered and a
    /// retry is scheduled.
    async fn flush(&mut self) -> Result<u64, StoreError> {
        self.timer = None;
        let mut written = 0;
        while !self.buffer.is_empty() {
            let take = self.buffer.len().min(self.args.config.batch_size.max(1));
            let started = Instant::now();
            match self.args.store.upsert_prices(&self.buffer[..take]).await {
                Ok(rows) => {
                    metrics::histogram!(WRITER_FLUSH_SECONDS)
                        .record(started.elapsed().as_secs_f64());
                    metrics::counter!(WRITER_ROWS_TOTAL).increment(rows);
                    let batch: Vec<PricePoint> = self.buffer.drain(..take).collect();
                    self.publish(&batch);
                    written += rows;
                    self.retry.reset();
                }
                Err(error) => {
                    metrics::counter!(WRITER_ERRORS_TOTAL).increment(1);
                    let delay = self.retry.next_delay();
                    tracing::warn!(%error, buffered = self.buffer.len(), retry_in = ?crate::supervision::supervisor::rounded(delay), "Price batch commit failed; will retry.");
                    self.schedule(delay);
                    return Err(error);
                }
            }
        }
        Ok(written)
    }

    /// Publishes a committed batch: into the cache, then what changed to the broadcaster.
    fn publish(&self, batch: &[PricePoint]) {
        let changes = self.update_cache(batch);
        if let Some(forecaster) = &self.args.forecaster {
            for (region, points) in &changes {
                if let Some(last_end) = points.iter().map(PricePoint::end).max() {
                    let _ = forecaster.cast(ForecasterMsg::PricesCommitted {
                        region: *region,
                        last_end,
                    });
                }
            }
        }
        if let Some(alerts) = &self.args.alerts {
            for (region, _) in &changes {
                alerts(*region);
            }
        }
        if let Some(broadcaster) = &self.args.broadcaster {
            for (region, points) in changes {
                let _ = broadcaster.cast(BroadcasterMsg::Committed { region, points });
            }
        }
    }

    /// Merges points into the latest-price cache; returns what changed per region.
    fn update_cache(&self, points: &[PricePoint]) -> Vec<(Region, Vec<PricePoint>)> {
        let now = self.args.clock.now();
        let current = self.args.latest.borrow().clone();
        let (merged, changes) = current.merged_with_changes(
            points,
            &self.args.preference,
            now - memory(&self.args),
            now - ANNOUNCE_LOOKBACK,
        );
        self.args.latest.send_replace(Arc::new(merged));
        changes
    }
}
