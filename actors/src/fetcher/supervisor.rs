//! The PriceSupervisor: parent of one PriceFetcher per region and of the PriceWriter. It restarts
//! failed fetchers by the shared [`ChildRestarts`] rules (backoff, budget, a `degraded` region
//! probed only rarely), forwards fetched days to the writer, and keeps each region's status for
//! readiness and operators.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use ractor::{
    Actor, ActorCell, ActorId, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent,
};
use serde::Serialize;
use tokio::time::Instant;

use super::actor::{
    FetchError, FetchReport, FetcherState, PriceFetcher, PriceFetcherArgs, PriceFetcherMsg,
};
use super::cycle::FetchedDay;
use crate::broadcast::{BroadcasterMsg, IncomingEvent};
use crate::domain::{Region, Source};
use crate::mailbox::{Mailbox, Timer};
use crate::ports::{SharedClock, StoreError};
use crate::supervision::supervisor::rounded;
use crate::supervision::{
    ActorMeter, ChildRestarts, ChildState, ChildStatus, Decision, Restart, RestartPolicy,
};
use crate::writer::{PriceWriter, PriceWriterArgs, PriceWriterMsg};

/// Metric: fetcher restarts by region.
pub const FETCHER_RESTARTS_TOTAL: &str = "wattline_fetcher_restarts_total";
/// Metric: 1 while a region is degraded.
pub const REGION_DEGRADED: &str = "wattline_region_degraded";

/// What the supervisor knows about one region's fetcher.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RegionStatus {
    pub region: Region,
    pub state: FetcherState,
    /// Restarts since the engine started.
    pub restarts: u64,
    pub consecutive_failures: u32,
    pub last_error: Option<String>,
    pub last_success_at: Option<Timestamp>,
    /// The source that delivered the last fetched day.
    pub last_source: Option<Source>,
    pub mailbox_length: u64,
    pub messages_handled: u64,
    /// Whether this node fetches the region (holds its cluster lease).
    pub leader: bool,
}

/// Everything the supervisor starts with (kept by its own supervisor to restart it).
#[derive(Clone)]
pub(crate) struct PriceSupervisorArgs {
    /// One entry per enabled region. The `supervisor` field is filled in by the supervisor.
    pub fetchers: Vec<FetcherSpec>,
    pub writer: PriceWriterArgs,
    pub policy: RestartPolicy,
    pub clock: SharedClock,
    pub meter: ActorMeter,
    /// The cluster lease deciding which node fetches each region.
    pub lease: Arc<dyn crate::ports::RegionLease>,
}

/// How to (re)start one region's fetcher.
#[derive(Clone)]
pub(crate) struct FetcherSpec {
    pub region: Region,
    pub sources: crate::ports::SourceList,
    pub config: super::actor::FetcherConfig,
    /// Local publication time of the next day.
    pub publication: jiff::civil::Time,
}

/// Messages the supervisor takes.
pub(crate) enum PriceSupervisorMsg {
    /// A fetcher delivered days; `cycle_ok` is false when the cycle failed after delivering some.
    Fetched {
        region: Region,
        fetched: Vec<FetchedDay>,
        cycle_ok: bool,
    },
    /// Backoff elapsed: start the region's fetcher again.
    Restart(Region),
    /// Start a new writer after the old one died.
    RestartWriter,
    /// Fetch a region now.
    Refresh {
        region: Region,
        reply: RpcReplyPort<Result<FetchReport, FetchError>>,
    },
    /// Report every region's status.
    Status(RpcReplyPort<Vec<RegionStatus>>),
    /// Report the writer's state and counters.
    WriterStatus(RpcReplyPort<ChildStatus>),
    /// Commit everything the writer buffers.
    Flush(RpcReplyPort<Result<u64, StoreError>>),
    /// Stop every fetcher (shutdown); answers when they have stopped.
    StopFetchers(RpcReplyPort<()>),
    /// Points to store that no fetcher fetched (backfill).
    Write(Vec<crate::domain::PricePoint>),
    /// Points of a region were stored past the writer (history bootstrap): reload its cache.
    Reload(Region),
    /// A fetcher became leader or standby for its region.
    RoleChanged { region: Region, leader: bool },
    /// Forward a fan-out event to the writer for caching (see `PriceWriterMsg::MergeEvent`).
    MergeEvent {
        event: IncomingEvent,
        merge: bool,
        reply: Mailbox<BroadcasterMsg>,
    },
}

/// The supervisor actor.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PriceSupervisor;

struct Child {
    args: PriceFetcherArgs,
    actor: Option<ActorRef<PriceFetcherMsg>>,
    status: RegionStatus,
    restarts: ChildRestarts,
    timer: Option<Timer>,
}

/// The supervisor's own data.
pub(crate) struct PriceSupervisorState {
    children: BTreeMap<Region, Child>,
    by_id: HashMap<ActorId, Region>,
    writer: Option<ActorRef<PriceWriterMsg>>,
    writer_args: PriceWriterArgs,
    writer_timer: Option<Timer>,
    writer_restarts: ChildRestarts,
    policy: RestartPolicy,
    clock: SharedClock,
    mailbox: Mailbox<PriceSupervisorMsg>,
    stopping: bool,
}

impl Actor for PriceSupervisor {
    type Msg = PriceSupervisorMsg;
    type State = PriceSupervisorState;
    type Arguments = PriceSupervisorArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: Self::Arguments,
    ) -> Result<Self::State, ActorProcessingErr> {
        let mailbox = Mailbox::new(myself.clone(), args.meter.clone());
        let (writer, _) =
            PriceWriter::spawn_linked(None, PriceWriter, args.writer.clone(), myself.get_cell())
                .await?;
        let mut state = PriceSupervisorState {
            children: BTreeMap::new(),
            by_id: HashMap::new(),
            writer: Some(writer),
            writer_args: args.writer,
            writer_timer: None,
            writer_restarts: ChildRestarts::new(args.policy.clone(), Restart::Permanent, 0x57_17e4),
            policy: args.policy,
            clock: args.clock.clone(),
            mailbox,
            stopping: false,
        };
        state.writer_restarts.set_state(ChildState::Running);
        for (i, spec) in args.fetchers.into_iter().enumerate() {
            let region = spec.region;
            super::cycle::register_source_metrics(region, &spec.sources);
            let fetcher_args = PriceFetcherArgs {
                region,
                sources: spec.sources,
                clock: args.clock.clone(),
                config: spec.config,
                supervisor: state.mailbox.clone(),
                meter: ActorMeter::new(format!("fetcher:{region}")),
                lease: args.lease.clone(),
                publication: spec.publication,
            };
            let child = Child {
                status: RegionStatus {
                    region,
                    state: FetcherState::Starting,
                    restarts: 0,
                    consecutive_failures: 0,
                    last_error: None,
                    last_success_at: None,
                    last_source: None,
                    mailbox_length: 0,
                    messages_handled: 0,
                    leader: false,
                },
                args: fetcher_args,
                actor: None,
                restarts: ChildRestarts::new(
                    state.policy.clone(),
                    Restart::Permanent,
                    0xfe7c_4e00 + i as u64,
                ),
                timer: None,
            };
            metrics::gauge!(REGION_DEGRADED, "region" => region.code()).set(0.0);
            state.children.insert(region, child);
            state.spawn_fetcher(&myself, region).await?;
        }
        Ok(state)
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        msg: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        state.mailbox.meter().handled();
        match msg {
            PriceSupervisorMsg::Fetched {
                region,
                fetched,
                cycle_ok,
            } => state.on_fetched(region, fetched, cycle_ok),
            PriceSupervisorMsg::Restart(region) => {
                if !state.stopping {
                    state.spawn_fetcher(&myself, region).await?;
                }
            }
            PriceSupervisorMsg::RestartWriter => {
                if !state.stopping && state.writer.is_none() {
                    let (writer, _) = PriceWriter::spawn_linked(
                        None,
                        PriceWriter,
                        state.writer_args.clone(),
                        myself.get_cell(),
                    )
                    .await?;
                    state.writer = Some(writer);
                    state.writer_restarts.started(Instant::now());
                    state.writer_restarts.set_state(ChildState::Running);
                }
            }
            PriceSupervisorMsg::Refresh { region, reply } => state.refresh(region, reply),
            PriceSupervisorMsg::Status(reply) => {
                let _ = reply.send(state.statuses());
            }
            PriceSupervisorMsg::WriterStatus(reply) => {
                let r = &state.writer_restarts;
                let meter = &state.writer_args.meter;
                let _ = reply.send(ChildStatus {
                    name: meter.name().to_string(),
                    kind: "writer",
                    state: r.state(),
                    restarts: r.restarts(),
                    last_error: r.last_error().map(str::to_string),
                    mailbox_length: meter.mailbox_length(),
                    messages_handled: meter.messages_handled(),
                });
            }
            PriceSupervisorMsg::Flush(reply) => match &state.writer {
                Some(writer) => {
                    state.writer_args.meter.sent();
                    if let Err(ractor::MessagingErr::SendErr(PriceWriterMsg::Flush(reply))) =
                        writer.cast(PriceWriterMsg::Flush(reply))
                    {
                        let _ = reply.send(Err(StoreError::Unavailable(
                            "price writer is restarting".into(),
                        )));
                    }
                }
                None => {
                    let _ = reply.send(Err(StoreError::Unavailable(
                        "price writer is restarting".into(),
                    )));
                }
            },
            PriceSupervisorMsg::Write(points) => state.tell_writer(PriceWriterMsg::Write(points)),
            PriceSupervisorMsg::Reload(region) => state.tell_writer(PriceWriterMsg::Reload(region)),
            PriceSupervisorMsg::RoleChanged { region, leader } => {
                if let Some(child) = state.children.get_mut(&region)
                    && child.status.state != FetcherState::Degraded
                {
                    child.status.state = match (leader, child.status.last_success_at) {
                        (false, _) => FetcherState::Standby,
                        (true, Some(_)) => FetcherState::Healthy,
                        (true, None) => FetcherState::Starting,
                    };
                    child.status.leader = leader;
                }
            }
            PriceSupervisorMsg::MergeEvent {
                event,
                merge,
                reply,
            } => match &state.writer {
                Some(writer) => {
                    state.writer_args.meter.sent();
                    if let Err(ractor::MessagingErr::SendErr(PriceWriterMsg::MergeEvent {
                        event,
                        reply,
                        ..
                    })) = writer.cast(PriceWriterMsg::MergeEvent {
                        event,
                        merge,
                        reply,
                    }) {
                        let _ = reply.cast(BroadcasterMsg::Merged(event));
                    }
                }
                None => {
                    let _ = reply.cast(BroadcasterMsg::Merged(event));
                }
            },
            PriceSupervisorMsg::StopFetchers(reply) => {
                state.stop_fetchers().await;
                let _ = reply.send(());
            }
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        _myself: ActorRef<Self::Msg>,
        event: SupervisionEvent,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match event {
            SupervisionEvent::ActorStarted(_) | SupervisionEvent::ProcessGroupChanged(_) => {}
            SupervisionEvent::ActorFailed(cell, error) => {
                state.on_child_exit(&cell, error.to_string())
            }
            SupervisionEvent::ActorTerminated(cell, _, reason) => {
                if !state.stopping {
                    let why = reason.unwrap_or_else(|| "stopped unexpectedly".to_string());
                    state.on_child_exit(&cell, why);
                }
            }
        }
        Ok(())
    }
}

impl PriceSupervisorState {
    async fn spawn_fetcher(
        &mut self,
        myself: &ActorRef<PriceSupervisorMsg>,
        region: Region,
    ) -> Result<(), ActorProcessingErr> {
        let Some(child) = self.children.get_mut(&region) else {
            return Ok(());
        };
        child.timer = None;
        let (actor, _) =
            PriceFetcher::spawn_linked(None, PriceFetcher, child.args.clone(), myself.get_cell())
                .await?;
        self.by_id.insert(actor.get_id(), region);
        child.actor = Some(actor);
        child.restarts.started(Instant::now());
        if child.status.state != FetcherState::Degraded {
            child.status.state = if child.status.last_success_at.is_some() {
                FetcherState::Healthy
            } else {
                FetcherState::Starting
            };
        }
        Ok(())
    }

    fn on_fetched(&mut self, region: Region, fetched: Vec<FetchedDay>, cycle_ok: bool) {
        let last_source = fetched
            .iter()
            .rev()
            .find(|d| !d.reference)
            .map(|d| d.source);
        let points: Vec<_> = fetched.into_iter().flat_map(|d| d.points).collect();
        if !points.is_empty() {
            match &self.writer {
                Some(writer) => {
                    self.writer_args.meter.sent();
                    if writer.cast(PriceWriterMsg::Write(points)).is_err() {
                        tracing::error!(%region, "Price writer is gone; fetched prices dropped.");
                    }
                }
                None => {
                    tracing::error!(%region, "Price writer is restarting; fetched prices dropped.")
                }
            }
        }
        let Some(child) = self.children.get_mut(&region) else {
            return;
        };
        if last_source.is_some() {
            child.status.last_source = last_source;
        }
        if cycle_ok {
            let was_failing = child.restarts.consecutive_failures() > 0
                || child.restarts.state() == ChildState::Degraded;
            if child.restarts.healthy() {
                tracing::info!(%region, "Region recovered from degraded.");
                metrics::gauge!(REGION_DEGRADED, "region" => region.code()).set(0.0);
            }
            child.status.state = FetcherState::Healthy;
            child.status.last_success_at = Some(self.clock.now());
            if was_failing {
                self.tell_writer(PriceWriterMsg::RegionHealth {
                    region,
                    failing: false,
                });
            }
        }
    }

    fn on_child_exit(&mut self, cell: &ActorCell, why: String) {
        if self
            .writer
            .as_ref()
            .is_some_and(|w| w.get_id() == cell.get_id())
        {
            self.writer = None;
            // Its buffered points are lost; the fetchers' next cycles refetch them.
            let delay = match self
                .writer_restarts
                .exited(Instant::now(), true, why.clone())
            {
                Decision::Restart { after } => after,
                Decision::Degrade { after, .. } => after,
                Decision::Finish => return,
            };
            tracing::error!(error = %why, restart_in = ?rounded(delay), "Price writer died; restarting it.");
            self.writer_timer = Some(
                self.mailbox
                    .send_after(delay, || PriceSupervisorMsg::RestartWriter),
            );
            return;
        }
        let Some(region) = self.by_id.remove(&cell.get_id()) else {
            tracing::warn!(actor = %cell.get_id(), "Exit of an unknown child ignored.");
            return;
        };
        // Served prices of the region are now its last good ones.
        self.tell_writer(PriceWriterMsg::RegionHealth {
            region,
            failing: true,
        });
        let Some(child) = self.children.get_mut(&region) else {
            return;
        };
        child.actor = None;
        let (delay, state) = match child.restarts.exited(Instant::now(), true, why.clone()) {
            Decision::Restart { after } => {
                tracing::warn!(%region, error = %why, restart_in = ?rounded(after), "Fetcher failed; restarting after backoff.");
                (after, FetcherState::Restarting)
            }
            Decision::Degrade { after, newly } => {
                if newly {
                    tracing::error!(%region, error = %why, retry_in = ?rounded(after), "Fetcher exhausted its restart budget; region degraded.");
                    metrics::gauge!(REGION_DEGRADED, "region" => region.code()).set(1.0);
                } else {
                    tracing::warn!(%region, error = %why, "Degraded fetcher failed again.");
                }
                (after, FetcherState::Degraded)
            }
            // Fetchers are permanent: they never finish.
            Decision::Finish => return,
        };
        child.status.state = state;
        metrics::counter!(FETCHER_RESTARTS_TOTAL, "region" => region.code()).increment(1);
        // Restart through a timer, never inline: the delay is the backoff, and it also lets the
        // dead actor finish leaving ractor's registry.
        child.timer = Some(
            self.mailbox
                .send_after(delay, move || PriceSupervisorMsg::Restart(region)),
        );
    }

    fn tell_writer(&self, msg: PriceWriterMsg) {
        if let Some(writer) = &self.writer {
            self.writer_args.meter.sent();
            let _ = writer.cast(msg);
        }
    }

    fn refresh(&mut self, region: Region, reply: RpcReplyPort<Result<FetchReport, FetchError>>) {
        let Some(child) = self.children.get(&region) else {
            let _ = reply.send(Err(FetchError::Unavailable {
                region,
                state: FetcherState::Stopped,
            }));
            return;
        };
        match &child.actor {
            Some(actor) if !self.stopping => {
                child.args.meter.sent();
                if let Err(ractor::MessagingErr::SendErr(PriceFetcherMsg::Refresh(reply))) =
                    actor.cast(PriceFetcherMsg::Refresh(reply))
                {
                    let _ = reply.send(Err(FetchError::Unavailable {
                        region,
                        state: child.status.state,
                    }));
                }
            }
            _ => {
                let _ = reply.send(Err(FetchError::Unavailable {
                    region,
                    state: child.status.state,
                }));
            }
        }
    }

    fn statuses(&self) -> Vec<RegionStatus> {
        self.children
            .values()
            .map(|c| RegionStatus {
                restarts: c.restarts.restarts(),
                consecutive_failures: c.restarts.consecutive_failures(),
                last_error: c.restarts.last_error().map(str::to_string),
                mailbox_length: c.args.meter.mailbox_length(),
                messages_handled: c.args.meter.messages_handled(),
                ..c.status.clone()
            })
            .collect()
    }

    /// Stops every fetcher at once: each gives up its lease as it stops (bounded by
    /// [`super::actor::LEASE_RELEASE_LIMIT`]), so shutdown takes one release, not one per region.
    async fn stop_fetchers(&mut self) {
        self.stopping = true;
        let mut stopping = tokio::task::JoinSet::new();
        for child in self.children.values_mut() {
            child.timer = None;
            if let Some(actor) = child.actor.take() {
                stopping.spawn(async move {
                    let _ = actor
                        .stop_and_wait(Some("shutdown".into()), Some(Duration::from_secs(5)))
                        .await;
                });
            }
            child.status.state = FetcherState::Stopped;
        }
        while stopping.join_next().await.is_some() {}
    }
}
