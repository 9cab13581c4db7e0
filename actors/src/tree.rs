//! The root of the supervision tree and the one way to start it: [`Tree::spawn`] takes the ports
//! and configuration and returns typed handles. Start order: root, then the PriceSupervisor (which
//! starts the writer, then the fetchers). Shutdown runs the other way: fetchers stop, the writer
//! flushes, then the root stops.

use std::sync::Arc;
use std::time::Duration;

use ractor::{Actor, ActorProcessingErr, ActorRef, SpawnErr, SupervisionEvent};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::broadcast::{
    BroadcastHandle, Broadcaster, BroadcasterArgs, BroadcasterConfig, BroadcasterMsg,
};
use crate::domain::Region;
use crate::domain::price::SourcePreference;
use crate::fetcher::{
    FetcherConfig, FetcherSpec, FlushError, PriceSupervisor, PriceSupervisorArgs, PricesHandle,
    SupervisionPolicy,
};
use crate::forecaster::{ForecastHandle, Forecaster, ForecasterArgs, ForecasterConfig};
use crate::mailbox::Mailbox;
use crate::ports::{FanOut, ForecastStore, PriceSource, PriceStore, RegionLease, SharedClock};
use crate::supervision::ActorMeter;
use crate::writer::{LatestPrices, LatestSnapshot, PriceWriterArgs, WriterConfig};

/// Each enabled region with its sources in failover order.
pub type RegionSources = Vec<(Region, Vec<Arc<dyn PriceSource>>)>;

/// The outside world as the tree sees it.
pub struct Ports {
    pub store: Arc<dyn PriceStore>,
    pub sources: RegionSources,
    pub clock: SharedClock,
    /// The cross-node event bus; `None` on a single node.
    pub fanout: Option<Arc<dyn FanOut>>,
    /// This node's name in the cluster.
    pub node_id: String,
    /// Which node fetches each region ([`SoleNode`](crate::ports::SoleNode) on a single node).
    pub lease: Arc<dyn RegionLease>,
    /// Where forecasts are kept; `None` runs the tree without a forecaster (backfill, tests).
    pub forecasts: Option<Arc<dyn ForecastStore>>,
}

/// Tunables of the tree.
#[derive(Debug, Clone)]
pub struct TreeConfig {
    pub writer: WriterConfig,
    pub fetcher: FetcherConfig,
    pub supervision: SupervisionPolicy,
    pub broadcaster: BroadcasterConfig,
    /// Publication times that differ from the markets' usual ones.
    pub publication: Vec<(Region, jiff::civil::Time)>,
    /// Timeout of status and control calls from the edge.
    pub call_timeout: Duration,
    /// How the forecaster calibrates (it runs when the ports include a forecast store).
    pub forecaster: ForecasterConfig,
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
            supervision: SupervisionPolicy::default(),
            broadcaster: BroadcasterConfig::default(),
            publication: Vec::new(),
            call_timeout: Duration::from_secs(2),
            forecaster: ForecasterConfig::default(),
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
    root: ActorRef<()>,
    meters: Vec<(&'static str, ActorMeter)>,
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
        let root_meter = ActorMeter::new("root");
        let (root, join) = Actor::spawn(None, RootSupervisor, root_meter.clone()).await?;
        let broadcaster_meter = ActorMeter::new("broadcaster");
        let broadcaster_args = BroadcasterArgs {
            node_id: ports.node_id,
            fanout: ports.fanout,
            clock: ports.clock.clone(),
            config: config.broadcaster.clone(),
            meter: broadcaster_meter.clone(),
        };
        let broadcaster =
            match Broadcaster::spawn_linked(None, Broadcaster, broadcaster_args, root.get_cell())
                .await
            {
                Ok((broadcaster, _)) => Mailbox::new(broadcaster, broadcaster_meter),
                Err(error) => {
                    root.stop(None);
                    return Err(error);
                }
            };
        let forecaster = match ports.forecasts {
            Some(forecasts) => {
                let meter = ActorMeter::new("forecaster");
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
                    meter: meter.clone(),
                };
                match Forecaster::spawn_linked(None, Forecaster, args, root.get_cell()).await {
                    Ok((forecaster, _)) => Some(Mailbox::new(forecaster, meter)),
                    Err(error) => {
                        root.stop(None);
                        return Err(error);
                    }
                }
            }
            None => None,
        };
        let prices_meter = ActorMeter::new("prices");
        let writer_meter = ActorMeter::new("writer");
        let args = PriceSupervisorArgs {
            fetchers: ports
                .sources
                .into_iter()
                .map(|(region, sources)| FetcherSpec {
                    region,
                    sources: sources.into(),
                    config: config.fetcher.clone(),
                    publication: config.publication_time(region),
                })
                .collect(),
            writer: PriceWriterArgs {
                store: ports.store,
                clock: ports.clock.clone(),
                latest: Arc::new(latest_tx),
                preference: preference.clone(),
                config: config.writer,
                meter: writer_meter.clone(),
                broadcaster: Some(broadcaster.clone()),
                forecaster: forecaster.clone(),
            },
            policy: config.supervision,
            lease: ports.lease,
            clock: ports.clock,
            meter: prices_meter.clone(),
        };
        let (prices, _) =
            match PriceSupervisor::spawn_linked(None, PriceSupervisor, args, root.get_cell()).await
            {
                Ok(spawned) => spawned,
                Err(error) => {
                    root.stop(None);
                    return Err(error);
                }
            };
        let prices_meter_for_view = prices_meter.clone();
        let broadcaster_meter_for_view = broadcaster.meter().clone();
        let prices = Mailbox::new(prices, prices_meter);
        let mut meters = vec![
            ("supervisor", root_meter),
            ("supervisor", prices_meter_for_view),
            ("writer", writer_meter),
            ("broadcaster", broadcaster_meter_for_view),
        ];
        if let Some(forecaster) = &forecaster {
            meters.push(("forecaster", forecaster.meter().clone()));
        }
        let _ = broadcaster.cast(BroadcasterMsg::ConnectPrices(prices.clone()));
        Ok(TreeHandles {
            prices: PricesHandle::new(prices, config.call_timeout),
            broadcast: BroadcastHandle::new(broadcaster, config.call_timeout),
            latest: LatestPrices::new(latest_rx),
            forecasts: forecaster.map(|f| ForecastHandle::new(f, config.call_timeout)),
            preference,
            meters,
            root,
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
    /// Counters of the supervisors, the writer and the broadcaster, with their kind.
    pub fn meters(&self) -> &[(&'static str, ActorMeter)] {
        &self.meters
    }

    /// Resolves when the root stops: after [`TreeHandles::shutdown`], or unexpectedly when a
    /// top-level child failed and the root escalated.
    pub fn stopped(&mut self) -> &mut JoinHandle<()> {
        &mut self.join
    }

    /// Orderly shutdown: stop the fetchers, flush the writer, stop the root. Each step is bounded
    /// by `timeout`; a root that will not stop is killed.
    pub async fn shutdown(self, timeout: Duration) -> ShutdownReport {
        if let Err(error) = self.prices.stop_fetchers(timeout).await {
            tracing::warn!(%error, "Fetchers did not stop cleanly.");
        }
        let (flushed_rows, flush_error) = match self.prices.flush(timeout).await {
            Ok(rows) => (rows, None),
            Err(FlushError::Store(error)) => (0, Some(error.to_string())),
            Err(FlushError::Call(error)) => (0, Some(error.to_string())),
        };
        if let Err(error) = self
            .root
            .stop_and_wait(Some("shutdown".into()), Some(timeout))
            .await
        {
            tracing::warn!(?error, "Root supervisor did not stop in time; killing it.");
            self.root.kill();
        }
        let _ = self.join.await;
        ShutdownReport {
            flushed_rows,
            flush_error,
        }
    }
}

/// The root supervisor. It restarts nothing itself: a failing top-level supervisor is a bug,
/// so it stops, and the service sees the tree end and exits non-zero for its own supervisor
/// (systemd, Kubernetes) to restart the process.
struct RootSupervisor;

impl Actor for RootSupervisor {
    type Msg = ();
    type State = ActorMeter;
    type Arguments = ActorMeter;

    async fn pre_start(
        &self,
        _myself: ActorRef<()>,
        meter: ActorMeter,
    ) -> Result<ActorMeter, ActorProcessingErr> {
        Ok(meter)
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<()>,
        event: SupervisionEvent,
        meter: &mut ActorMeter,
    ) -> Result<(), ActorProcessingErr> {
        meter.handled();
        match event {
            SupervisionEvent::ActorStarted(_) | SupervisionEvent::ProcessGroupChanged(_) => {}
            SupervisionEvent::ActorFailed(cell, error) => {
                tracing::error!(actor = %cell.get_id(), %error, "Top-level supervisor failed; stopping the tree.");
                myself.stop(Some(format!("child failed: {error}")));
            }
            SupervisionEvent::ActorTerminated(cell, _, reason) => {
                tracing::error!(actor = %cell.get_id(), ?reason, "Top-level supervisor stopped; stopping the tree.");
                myself.stop(Some("child stopped".into()));
            }
        }
        Ok(())
    }
}
