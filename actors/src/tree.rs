//! The root of the supervision tree and the one way to start it: [`Tree::spawn`] takes the ports
//! and configuration, builds one [`ChildSpec`] per top-level actor and hands them to a
//! one-for-one [`Supervisor`], and returns typed handles. Start order: broadcaster, forecaster,
//! the PriceSupervisor (writer, then one fetcher per region), the AlertEvaluator, the history
//! bootstrap, the weather collector, the WorkerSupervisor (one OutboxWorker per queue and the
//! retention worker), the fan-out subscriber. Shutdown runs the other way: fetchers stop, the writer
//! flushes, then the root stops its children, the last started first.

use std::sync::Arc;
use std::time::Duration;

use ractor::{Actor, ActorRef, SpawnErr};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::alerts::{
    AlertConfig, AlertEvaluator, AlertEvaluatorArgs, AlertEvaluatorMsg, AlertsHandle,
};
use crate::bootstrap::{HistoryBootstrap, HistoryBootstrapArgs};
use crate::broadcast::subscriber::{FanOutSubscriber, FanOutSubscriberArgs};
use crate::broadcast::{
    BroadcastHandle, Broadcaster, BroadcasterArgs, BroadcasterConfig, PriceMerge,
};
use crate::domain::Region;
use crate::domain::price::SourcePreference;
use crate::fetcher::{
    FetcherConfig, FetcherSpec, FlushError, PriceSupervisor, PriceSupervisorArgs,
    PriceSupervisorMsg, PricesHandle,
};
use crate::forecaster::{ForecastHandle, Forecaster, ForecasterArgs, ForecasterConfig};
use crate::mailbox::Mailbox;
use crate::ports::{
    AlertStore, EventFeed, FanOut, ForecastStore, JobHandler, JobQueue, PriceSource, PriceStore,
    RegionLease, Retention, SharedClock, WeatherSource, WeatherStore,
};
use crate::supervision::{
    ActorMeter, ChildSpec, Restart, RestartPolicy, Supervisor, SupervisorArgs, SupervisorHandle,
};
use crate::weather::{WeatherCollector, WeatherCollectorArgs, WeatherHandle};
use crate::workers::retention::{RetentionWorker, RetentionWorkerArgs};
use crate::workers::worker::{OutboxWorker, OutboxWorkerArgs};
use crate::workers::{WorkerConfig, WorkerStats, WorkersHandle};
use crate::writer::{CommittedHook, LatestPrices, LatestSnapshot, PriceWriterArgs, WriterConfig};

/// Each enabled region with its sources in failover order.
pub type RegionSources = Vec<(Region, Vec<Arc<dyn PriceSource>>)>;

/// Where weather forecasts come from and go.
pub struct WeatherPorts {
    pub source: Arc<dyn WeatherSource>,
    pub store: Arc<dyn WeatherStore>,
    /// Time between collection rounds.
    pub every: Duration,
}

/// The outbox and the workers that work it off.
pub struct WorkerPorts {
    pub jobs: Arc<dyn JobQueue>,
    /// One worker per queue: its queue, what it does with a job, how it polls and retries.
    pub workers: Vec<(String, Arc<dyn JobHandler>, WorkerConfig)>,
    /// The retention purge and how often it runs.
    pub retention: Option<(Arc<dyn Retention>, Duration)>,
}

/// The outside world as the tree sees it.
pub struct Ports {
    pub store: Arc<dyn PriceStore>,
    pub sources: RegionSources,
    pub clock: SharedClock,
    /// The cross-node event bus: publishing, and this node's subscription to it; `None` on a
    /// single node.
    pub fanout: Option<(Arc<dyn FanOut>, Arc<dyn EventFeed>)>,
    /// This node's name in the cluster.
    pub node_id: String,
    /// Which node fetches each region ([`SoleNode`](crate::ports::SoleNode) on a single node).
    pub lease: Arc<dyn RegionLease>,
    /// Where forecasts are kept; `None` runs the tree without a forecaster (backfill, tests).
    pub forecasts: Option<Arc<dyn ForecastStore>>,
    /// Weather inputs for the forecaster; `None` without a weather provider.
    pub weather: Option<WeatherPorts>,
    /// The durable workers; `None` runs the tree without them (backfill, tests).
    pub workers: Option<WorkerPorts>,
    /// Where alert rules live; `None` runs the tree without the AlertEvaluator.
    pub alerts: Option<Arc<dyn AlertStore>>,
}

/// The history bootstrap's settings.
#[derive(Debug, Clone)]
pub struct BootstrapConfig {
    /// Past days each region should hold; 0 turns the bootstrap off.
    pub days: usize,
    /// Longest wait for one source to deliver one day.
    pub fetch_timeout: Duration,
}

impl Default for BootstrapConfig {
    fn default() -> Self {
        BootstrapConfig {
            days: 0,
            fetch_timeout: Duration::from_secs(30),
        }
    }
}

/// Tunables of the tree.
#[derive(Debug, Clone)]
pub struct TreeConfig {
    pub writer: WriterConfig,
    pub fetcher: FetcherConfig,
    /// How every supervisor restarts its children.
    pub supervision: RestartPolicy,
    pub broadcaster: BroadcasterConfig,
    /// Publication times that differ from the markets' usual ones.
    pub publication: Vec<(Region, jiff::civil::Time)>,
    /// Timeout of status and control calls from the edge.
    pub call_timeout: Duration,
    /// How the forecaster calibrates (it runs when the ports include a forecast store).
    pub forecaster: ForecasterConfig,
    pub bootstrap: BootstrapConfig,
    pub alerts: AlertConfig,
}

impl TreeConfig {
    /// When `region`'s market publishes the next day's prices (local time): the configured
    /// override, else the market's usual time.
    pub fn publication_time(&self, region: Region) -> jiff::civil::Time {
        self.publication
            .iter()
            .find(|(r, _)| *r == region)
            .map_or(region.publication_time(), |(_, t)| *t)
    }
}

impl Default for TreeConfig {
    fn default() -> Self {
        TreeConfig {
            writer: WriterConfig::default(),
            fetcher: FetcherConfig::default(),
            supervision: RestartPolicy::default(),
            broadcaster: BroadcasterConfig::default(),
            publication: Vec::new(),
            call_timeout: Duration::from_secs(2),
            forecaster: ForecasterConfig::default(),
            bootstrap: BootstrapConfig::default(),
            alerts: AlertConfig::default(),
        }
    }
}

/// Starts the tree.
pub struct Tree;

/// What the rest of the service holds of a running tree.
pub struct TreeHandles {
    /// Refresh, status and flush of the price side.
    pub prices: PricesHandle,
    /// The latest-price cache.
    pub latest: LatestPrices,
    /// Region → ordered sources, as configured.
    pub preference: Arc<SourcePreference>,
    /// Live event subscriptions.
    pub broadcast: BroadcastHandle,
    /// Forecasts from memory; `None` without a forecast store.
    pub forecasts: Option<ForecastHandle>,
    /// The weather collector; `None` without weather ports.
    pub weather: Option<WeatherHandle>,
    /// The AlertEvaluator; `None` without an alert store.
    pub alerts: Option<AlertsHandle>,
    /// The WorkerSupervisor and its workers' counters; `None` without worker ports.
    pub workers: Option<WorkersHandle>,
    /// The root supervisor: every top-level actor's state and restarts.
    pub root: SupervisorHandle,
    root_ref: ActorRef<crate::supervision::SupervisorMsg>,
    join: JoinHandle<()>,
}

impl Tree {
    /// Spawns the whole tree. Fails only if an actor cannot start.
    pub async fn spawn(ports: Ports, config: TreeConfig) -> Result<TreeHandles, SpawnErr> {
        let preference = Arc::new(SourcePreference::new(
            ports
                .sources
                .iter()
                .map(|(r, s)| (*r, s.iter().map(|s| s.source()).collect())),
        ));
        let (latest_tx, latest_rx) = watch::channel(Arc::new(LatestSnapshot::default()));
        let policy = config.supervision.clone();
        let (fanout, feed) = ports.fanout.unzip();
        let broadcaster = Mailbox::unbound(ActorMeter::new("broadcaster"));
        let prices = Mailbox::unbound(ActorMeter::new("prices"));
        let forecaster = ports
            .forecasts
            .is_some()
            .then(|| Mailbox::unbound(ActorMeter::new("forecaster")));
        let alerts = ports
            .alerts
            .is_some()
            .then(|| Mailbox::unbound(ActorMeter::new("alert-evaluator")));
        let mut children = Vec::new();

        let node_id = ports.node_id.clone();
        let ports_clock = ports.clock.clone();
        let broadcaster_args = BroadcasterArgs {
            node_id: ports.node_id,
            fanout,
            clock: ports.clock.clone(),
            config: config.broadcaster.clone(),
            meter: broadcaster.meter().clone(),
            prices: Some(price_merge(prices.clone())),
        };
        children.push(ChildSpec::new(
            "broadcaster",
            Restart::Permanent,
            policy.clone(),
            Broadcaster,
            move || broadcaster_args.clone(),
            broadcaster.clone(),
        ));

        if let (Some(forecasts), Some(mailbox)) = (ports.forecasts, &forecaster) {
            let args = ForecasterArgs {
                store: ports.store.clone(),
                forecasts,
                clock: ports.clock.clone(),
                preference: preference.clone(),
                regions: ports
                    .sources
                    .iter()
                    .map(|(r, _)| (*r, config.publication_time(*r)))
                    .collect(),
                config: config.forecaster.clone(),
                broadcaster: Some(broadcaster.clone()),
                meter: mailbox.meter().clone(),
            };
            children.push(ChildSpec::new(
                "forecaster",
                Restart::Permanent,
                policy.clone(),
                Forecaster,
                move || args.clone(),
                mailbox.clone(),
            ));
        }

        let region_sources: Vec<(Region, crate::ports::SourceList)> = ports
            .sources
            .into_iter()
            .map(|(region, sources)| (region, sources.into()))
            .collect();
        let regions: Vec<Region> = region_sources.iter().map(|(r, _)| *r).collect();
        let prices_args = PriceSupervisorArgs {
            fetchers: region_sources
                .iter()
                .map(|(region, sources)| FetcherSpec {
                    region: *region,
                    sources: sources.clone(),
                    config: config.fetcher.clone(),
                    publication: config.publication_time(*region),
                })
                .collect(),
            writer: PriceWriterArgs {
                store: ports.store.clone(),
                clock: ports.clock.clone(),
                latest: Arc::new(latest_tx),
                preference: preference.clone(),
                config: config.writer.clone(),
                meter: ActorMeter::new("writer"),
                broadcaster: Some(broadcaster.clone()),
                forecaster: forecaster.clone(),
                alerts: alerts.clone().map(alerts_on_commit),
            },
            policy: policy.clone(),
            lease: ports.lease,
            clock: ports.clock.clone(),
            meter: prices.meter().clone(),
        };
        children.push(ChildSpec::new(
            "supervisor",
            Restart::Permanent,
            policy.clone(),
            PriceSupervisor,
            move || prices_args.clone(),
            prices.clone(),
        ));

        if let (Some(store), Some(mailbox)) = (ports.alerts, &alerts) {
            let args = AlertEvaluatorArgs {
                store,
                latest: LatestPrices::new(latest_rx.clone()),
                clock: ports.clock.clone(),
                config: config.alerts.clone(),
                meter: mailbox.meter().clone(),
            };
            children.push(ChildSpec::new(
                "alerts",
                Restart::Permanent,
                policy.clone(),
                AlertEvaluator,
                move || args.clone(),
                mailbox.clone(),
            ));
        }

        if config.bootstrap.days > 0 {
            let args = HistoryBootstrapArgs {
                regions: region_sources,
                store: ports.store.clone(),
                clock: ports.clock.clone(),
                days: config.bootstrap.days,
                fetch_timeout: config.bootstrap.fetch_timeout,
                forecaster: forecaster.clone(),
                prices: Some(prices.clone()),
                meter: ActorMeter::new("history-bootstrap"),
            };
            let mailbox = Mailbox::unbound(args.meter.clone());
            children.push(ChildSpec::new(
                "bootstrap",
                Restart::Transient,
                policy.clone(),
                HistoryBootstrap,
                move || args.clone(),
                mailbox,
            ));
        }

        let weather = ports.weather.map(|weather| {
            let mailbox = Mailbox::unbound(ActorMeter::new("weather-collector"));
            let args = WeatherCollectorArgs {
                source: weather.source,
                store: weather.store,
                regions,
                every: weather.every,
                meter: mailbox.meter().clone(),
            };
            children.push(ChildSpec::new(
                "weather",
                Restart::Permanent,
                policy.clone(),
                WeatherCollector,
                move || args.clone(),
                mailbox.clone(),
            ));
            WeatherHandle::new(mailbox)
        });

        let workers = ports.workers.map(|ports| {
            let mut specs = Vec::new();
            let mut handles = Vec::new();
            for (queue, handler, worker_config) in ports.workers {
                let name = format!("{queue}-worker");
                let mailbox = Mailbox::unbound(ActorMeter::new(name.clone()));
                let stats = WorkerStats::new(&name, &queue);
                let args = OutboxWorkerArgs {
                    queue,
                    node_id: node_id.clone(),
                    jobs: ports.jobs.clone(),
                    handler,
                    clock: ports_clock.clone(),
                    config: worker_config,
                    stats: stats.clone(),
                    meter: mailbox.meter().clone(),
                };
                specs.push(ChildSpec::new(
                    "worker",
                    Restart::Permanent,
                    policy.clone(),
                    OutboxWorker,
                    move || args.clone(),
                    mailbox.clone(),
                ));
                handles.push((stats, mailbox));
            }
            if let Some((retention, every)) = ports.retention {
                let mailbox = Mailbox::unbound(ActorMeter::new("retention-worker"));
                let args = RetentionWorkerArgs {
                    retention,
                    clock: ports_clock.clone(),
                    every,
                    meter: mailbox.meter().clone(),
                };
                specs.push(ChildSpec::new(
                    "worker",
                    Restart::Permanent,
                    policy.clone(),
                    RetentionWorker,
                    move || args.clone(),
                    mailbox,
                ));
            }
            let mailbox = Mailbox::unbound(ActorMeter::new("worker-supervisor"));
            let args = SupervisorArgs {
                children: specs,
                meter: mailbox.meter().clone(),
            };
            children.push(ChildSpec::new(
                "supervisor",
                Restart::Permanent,
                policy.clone(),
                Supervisor,
                move || args.clone(),
                mailbox.clone(),
            ));
            WorkersHandle::new(SupervisorHandle::new(mailbox, config.call_timeout), handles)
        });

        if let Some(feed) = feed {
            let args = FanOutSubscriberArgs {
                feed,
                broadcaster: broadcaster.clone(),
                meter: ActorMeter::new("fanout-subscriber"),
            };
            let mailbox = Mailbox::unbound(args.meter.clone());
            children.push(ChildSpec::new(
                "subscriber",
                Restart::Permanent,
                policy,
                FanOutSubscriber,
                move || args.clone(),
                mailbox,
            ));
        }

        let root_meter = ActorMeter::new("root");
        let (root_ref, join) = Actor::spawn(
            None,
            Supervisor,
            SupervisorArgs {
                children,
                meter: root_meter.clone(),
            },
        )
        .await?;
        let root = SupervisorHandle::new(
            Mailbox::new(root_ref.clone(), root_meter),
            config.call_timeout,
        );
        Ok(TreeHandles {
            prices: PricesHandle::new(prices, config.call_timeout),
            broadcast: BroadcastHandle::new(broadcaster, config.call_timeout),
            latest: LatestPrices::new(latest_rx),
            forecasts: forecaster.map(|f| ForecastHandle::new(f, config.call_timeout)),
            weather,
            alerts: alerts.map(AlertsHandle::new),
            workers,
            preference,
            root,
            root_ref,
            join,
        })
    }
}

/// What a shutdown achieved.
#[derive(Debug, Clone, PartialEq)]
pub struct ShutdownReport {
    /// Rows the final writer flush committed.
    pub flushed_rows: u64,
    /// Set when the final flush failed (those points are lost).
    pub flush_error: Option<String>,
}

impl TreeHandles {
    /// Resolves when the root stops: after [`TreeHandles::shutdown`], or unexpectedly if the
    /// root supervisor itself failed.
    pub fn stopped(&mut self) -> &mut JoinHandle<()> {
        &mut self.join
    }

    /// Orderly shutdown: stop the fetchers, flush the writer, stop the other actors in reverse
    /// start order, stop the root. Each step is bounded by `timeout`; a root that will not stop
    /// is killed.
    pub async fn shutdown(self, timeout: Duration) -> ShutdownReport {
        if let Err(error) = self.prices.stop_fetchers(timeout).await {
            tracing::warn!(%error, "Fetchers did not stop cleanly.");
        }
        let (flushed_rows, flush_error) = match self.prices.flush(timeout).await {
            Ok(rows) => (rows, None),
            Err(FlushError::Store(error)) => (0, Some(error.to_string())),
            Err(FlushError::Call(error)) => (0, Some(error.to_string())),
        };
        if let Err(error) = self.root.stop_children(timeout).await {
            tracing::warn!(%error, "Actors did not stop cleanly.");
        }
        if let Err(error) = self
            .root_ref
            .stop_and_wait(Some("shutdown".into()), Some(timeout))
            .await
        {
            tracing::warn!(?error, "Root supervisor did not stop in time; killing it.");
            self.root_ref.kill();
        }
        let _ = self.join.await;
        ShutdownReport {
            flushed_rows,
            flush_error,
        }
    }
}

/// Fan-out price events to the PriceSupervisor, which merges them into the writer's cache.
fn price_merge(prices: Mailbox<PriceSupervisorMsg>) -> PriceMerge {
    Arc::new(move |event, merge, reply| {
        prices.cast(PriceSupervisorMsg::MergeEvent {
            event,
            merge,
            reply,
        })
    })
}

/// Regions a commit changed, to the AlertEvaluator.
fn alerts_on_commit(alerts: Mailbox<AlertEvaluatorMsg>) -> CommittedHook {
    Arc::new(move |region| {
        let _ = alerts.cast(AlertEvaluatorMsg::Committed(region));
    })
}
