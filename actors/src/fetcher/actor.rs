//! The PriceFetcher actor of one region. It plans fetch cycles on the market's publication
//! schedule, runs each cycle in a separate task, hands fetched days to its supervisor, and
//! answers refresh requests. When a required day cannot be fetched from any source it fails,
//! and its supervisor restarts it with backoff.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use jiff::civil::Date;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use serde::Serialize;

use super::cycle::{CycleOutcome, FetchedDay, SourceAttempt, run_cycle};
use super::plan::{days_to_fetch, next_wake, prune};
use super::supervisor::PriceSupervisorMsg;
use crate::domain::{Region, Source};
use crate::mailbox::{Mailbox, Timer};
use crate::ports::{LeaseError, RegionLease, SharedClock, SourceList};
use crate::supervision::ActorMeter;

/// Longest wait for a lease release when a fetcher stops; past it the lease lapses on its own
/// after its TTL. Every fetcher releases at once, so this bounds shutdown's share for leases.
pub(crate) const LEASE_RELEASE_LIMIT: Duration = Duration::from_millis(500);

/// Timing of a region's fetcher.
#[derive(Debug, Clone)]
pub struct FetcherConfig {
    /// Longest wait for one source to answer one day.
    pub fetch_timeout: Duration,
    /// Wait before asking again for a day that should be published but is not there yet.
    pub retry_interval: Duration,
}

impl Default for FetcherConfig {
    fn default() -> Self {
        FetcherConfig {
            fetch_timeout: Duration::from_secs(30),
            retry_interval: Duration::from_secs(300),
        }
    }
}

/// Everything a fetcher needs to start; its supervisor keeps a copy to restart it.
#[derive(Clone)]
pub(crate) struct PriceFetcherArgs {
    pub region: Region,
    /// Sources in failover order.
    pub sources: SourceList,
    pub clock: SharedClock,
    pub config: FetcherConfig,
    pub supervisor: Mailbox<PriceSupervisorMsg>,
    pub meter: ActorMeter,
    /// Decides whether this node fetches the region (the cluster lease).
    pub lease: Arc<dyn RegionLease>,
    /// Local time at which the market publishes the next day.
    pub publication: jiff::civil::Time,
}

/// One day a cycle delivered, as reported to callers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DayReport {
    pub day: Date,
    pub source: Source,
    pub points: usize,
}

/// The result of a successful cycle, as answered to `refresh`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FetchReport {
    pub region: Region,
    pub days: Vec<DayReport>,
    /// Days not yet published by any source.
    pub pending: Vec<Date>,
    /// Source failures that a later source made up for.
    pub failed_attempts: Vec<SourceAttempt>,
}

/// Why a fetch did not deliver.
#[derive(Debug, Clone, PartialEq, Serialize, thiserror::Error)]
pub enum FetchError {
    /// No source delivered a required day.
    #[error(
        "no source delivered {region} for {}: {}",
        join_days(days),
        join_attempts(attempts)
    )]
    AllSourcesFailed {
        region: Region,
        days: Vec<Date>,
        attempts: Vec<SourceAttempt>,
    },
    /// The fetch task panicked.
    #[error("fetch of {region} panicked")]
    Panicked { region: Region },
    /// The region's fetcher is not running (restarting after failures, or degraded).
    #[error("fetcher of {region} is {state}")]
    Unavailable { region: Region, state: FetcherState },
}

fn join_days(days: &[Date]) -> String {
    days.iter()
        .map(Date::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

fn join_attempts(attempts: &[SourceAttempt]) -> String {
    if attempts.is_empty() {
        return "no source configured".to_string();
    }
    attempts
        .iter()
        .map(|a| format!("{} ({}): {}", a.source, a.day, a.error))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Where a region's fetcher is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FetcherState {
    /// Spawned; its first cycle has not finished.
    Starting,
    /// Its last cycle succeeded.
    Healthy,
    /// It failed and waits for its backoff delay before the restart.
    Restarting,
    /// It exhausted its restart budget; retried only rarely. Last good data are still served.
    Degraded,
    /// Another node holds the region's lease and fetches it; prices arrive through the fan-out.
    Standby,
    /// Stopped for shutdown.
    Stopped,
}

impl std::fmt::Display for FetcherState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            FetcherState::Starting => "starting",
            FetcherState::Healthy => "healthy",
            FetcherState::Restarting => "restarting",
            FetcherState::Degraded => "degraded",
            FetcherState::Standby => "standby",
            FetcherState::Stopped => "stopped",
        })
    }
}

/// Messages a fetcher takes.
pub(crate) enum PriceFetcherMsg {
    /// Time for a scheduled cycle; `force` refetches days already held.
    Tick { force: bool },
    /// Fetch now and answer with what was fetched.
    Refresh(RpcReplyPort<Result<FetchReport, FetchError>>),
    /// A cycle task finished.
    CycleDone(Result<CycleOutcome, FetchError>),
    /// Time to take or renew the region's lease.
    CheckLease,
    /// The lease check finished: whether this node holds the lease.
    LeaseChecked(Result<bool, LeaseError>),
}

/// The fetcher actor.
pub(crate) struct PriceFetcher;

/// The fetcher's own data.
pub(crate) struct PriceFetcherState {
    args: PriceFetcherArgs,
    mailbox: Mailbox<PriceFetcherMsg>,
    /// Local days this fetcher holds complete prices for.
    have: BTreeSet<Date>,
    in_flight: bool,
    /// Refresh callers waiting for the running cycle.
    waiting: Vec<RpcReplyPort<Result<FetchReport, FetchError>>>,
    timer: Option<Timer>,
    /// Whether this node fetches the region (holds its lease); `None` until first checked.
    leader: Option<bool>,
    lease_timer: Option<Timer>,
}

impl Actor for PriceFetcher {
    type Msg = PriceFetcherMsg;
    type State = PriceFetcherState;
    type Arguments = PriceFetcherArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: Self::Arguments,
    ) -> Result<Self::State, ActorProcessingErr> {
        let mailbox = Mailbox::new(myself, args.meter.clone());
        // A (re)started fetcher first finds out whether it leads the region; as leader it then
        // refreshes today and, if published, tomorrow.
        mailbox.cast(PriceFetcherMsg::CheckLease)?;
        Ok(PriceFetcherState {
            args,
            mailbox,
            have: BTreeSet::new(),
            in_flight: false,
            waiting: Vec::new(),
            timer: None,
            leader: None,
            lease_timer: None,
        })
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<Self::Msg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        if state.leader == Some(true) {
            // Let another node take over at once instead of after the lease expires.
            let release = state.args.lease.release(state.args.region);
            let _ = tokio::time::timeout(LEASE_RELEASE_LIMIT, release).await;
        }
        Ok(())
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        msg: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        state.args.meter.handled();
        match msg {
            PriceFetcherMsg::Tick { force } => state.start_cycle(force),
            PriceFetcherMsg::Refresh(reply) if state.leader != Some(true) => {
                let _ = reply.send(Err(FetchError::Unavailable {
                    region: state.args.region,
                    state: FetcherState::Standby,
                }));
            }
            PriceFetcherMsg::Refresh(reply) => {
                state.waiting.push(reply);
                if !state.in_flight {
                    state.start_cycle(true);
                }
            }
            PriceFetcherMsg::CycleDone(outcome) => state.finish_cycle(outcome)?,
            PriceFetcherMsg::CheckLease => state.check_lease(),
            PriceFetcherMsg::LeaseChecked(result) => state.on_lease(result),
        }
        Ok(())
    }
}

impl PriceFetcherState {
    fn check_lease(&mut self) {
        let (lease, region, mailbox) = (
            self.args.lease.clone(),
            self.args.region,
            self.mailbox.clone(),
        );
        tokio::spawn(async move {
            let result = lease.hold(region).await;
            let _ = mailbox.cast(PriceFetcherMsg::LeaseChecked(result));
        });
    }

    /// Becomes leader or standby. Without a working lease store the fetcher fetches anyway:
    /// a duplicate fetch is harmless (upserts), a region nobody fetches is not.
    fn on_lease(&mut self, result: Result<bool, LeaseError>) {
        let region = self.args.region;
        let leader = result.unwrap_or_else(|error| {
            tracing::warn!(%region, %error, "Lease store unavailable; fetching without a lease.");
            true
        });
        if Some(leader) != self.leader {
            self.leader = Some(leader);
            let _ = self
                .args
                .supervisor
                .cast(PriceSupervisorMsg::RoleChanged { region, leader });
            if leader {
                tracing::info!(%region, "This node now fetches the region.");
                self.start_cycle(true);
            } else {
                tracing::info!(%region, "Another node fetches the region; standing by.");
                self.timer = None;
            }
        }
        let every = self.args.lease.renew_every();
        self.lease_timer = Some(
            self.mailbox
                .send_after(every, || PriceFetcherMsg::CheckLease),
        );
    }

    fn start_cycle(&mut self, force: bool) {
        if self.in_flight || self.leader != Some(true) {
            return;
        }
        self.timer = None;
        let region = self.args.region;
        let now = self.args.clock.now();
        prune(region, now, &mut self.have);
        let days = days_to_fetch(region, now, &self.have, force, self.args.publication);
        self.in_flight = true;
        let sources = self.args.sources.clone();
        let timeout = self.args.config.fetch_timeout;
        let task = tokio::spawn(run_cycle(region, days, sources, timeout));
        let mailbox = self.mailbox.clone();
        tokio::spawn(async move {
            // A panicking source must fail the fetcher, not vanish with its task.
            let outcome = task.await.map_err(|_| FetchError::Panicked { region });
            let _ = mailbox.cast(PriceFetcherMsg::CycleDone(outcome));
        });
    }

    fn finish_cycle(
        &mut self,
        outcome: Result<CycleOutcome, FetchError>,
    ) -> Result<(), FetchError> {
        self.in_flight = false;
        let region = self.args.region;
        let outcome = match outcome {
            Ok(outcome) => outcome,
            Err(error) => return Err(self.fail(error)),
        };
        let report = FetchReport {
            region,
            days: outcome
                .fetched
                .iter()
                .map(|d| DayReport {
                    day: d.day,
                    source: d.source,
                    points: d.points.len(),
                })
                .collect(),
            pending: outcome.pending.clone(),
            failed_attempts: outcome.attempts.clone(),
        };
        if !outcome.failed.is_empty() {
            // Keep what did arrive before failing.
            self.deliver(outcome.fetched, false);
            return Err(self.fail(FetchError::AllSourcesFailed {
                region,
                days: outcome.failed,
                attempts: outcome.attempts,
            }));
        }
        self.deliver(outcome.fetched, true);
        for reply in self.waiting.drain(..) {
            let _ = reply.send(Ok(report.clone()));
        }
        let wake = next_wake(
            region,
            self.args.clock.now(),
            &self.have,
            self.args.config.retry_interval,
            self.args.publication,
        );
        let delay = self.args.clock.real_delay(wake);
        tracing::debug!(%region, next_in = ?crate::supervision::supervisor::rounded(delay), "Fetch cycle done.");
        self.timer = Some(
            self.mailbox
                .send_after(delay, || PriceFetcherMsg::Tick { force: false }),
        );
        Ok(())
    }

    /// Hands fetched days to the supervisor (which forwards them to the writer); `cycle_ok`
    /// tells it whether the whole cycle succeeded.
    fn deliver(&mut self, fetched: Vec<FetchedDay>, cycle_ok: bool) {
        if fetched.is_empty() && !cycle_ok {
            return;
        }
        for day in fetched.iter().filter(|d| !d.reference) {
            self.have.insert(day.day);
        }
        let msg = PriceSupervisorMsg::Fetched {
            region: self.args.region,
            fetched,
            cycle_ok,
        };
        if self.args.supervisor.cast(msg).is_err() {
            tracing::warn!(region = %self.args.region, "Price supervisor is gone; fetched prices dropped.");
        }
    }

    /// Answers waiting callers with `error` and returns it for the actor to fail with.
    fn fail(&mut self, error: FetchError) -> FetchError {
        for reply in self.waiting.drain(..) {
            let _ = reply.send(Err(error.clone()));
        }
        error
    }
}
