//! The AlertEvaluator actor. Rules are loaded from storage at start and every `reload_every`
//! (rules created on other nodes), and changed at once by the edge of this node. A batch stored
//! by this node's writer triggers the evaluation of its region against the prices the writer's
//! cache serves (the day so far and what is known ahead).

use std::sync::Arc;
use std::time::Duration;

use jiff::SignedDuration;
use ractor::{Actor, ActorProcessingErr, ActorRef};

use crate::domain::Region;
use crate::domain::alert::{AlertIndex, AlertRule};
use crate::mailbox::{Mailbox, Timer};
use crate::ports::{AlertStore, SharedClock};
use crate::supervision::ActorMeter;
use crate::writer::LatestPrices;

/// Metric: alerts fired (recorded), by region.
pub const ALERT_FIRINGS_TOTAL: &str = "wattline_alert_firings_total";

/// How the evaluator refreshes its rules.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertConfig {
    /// Rules are re-read from storage this often (picks up rules edited on other nodes).
    pub reload_every: Duration,
}

impl Default for AlertConfig {
    fn default() -> Self {
        AlertConfig {
            reload_every: Duration::from_secs(60),
        }
    }
}

/// What the evaluator needs (kept by its supervisor to restart it).
#[derive(Clone)]
pub(crate) struct AlertEvaluatorArgs {
    pub store: Arc<dyn AlertStore>,
    pub latest: LatestPrices,
    pub clock: SharedClock,
    pub config: AlertConfig,
    pub meter: ActorMeter,
}

/// Messages the evaluator takes.
pub(crate) enum AlertEvaluatorMsg {
    /// The writer stored new prices of `region`.
    Committed(Region),
    /// A rule was created or edited on this node.
    Upsert(AlertRule),
    /// A rule was deleted on this node.
    Remove(String),
    /// Re-read every rule from storage.
    Reload,
    /// Fail on purpose (tests of the supervision).
    #[cfg(any(test, feature = "testing"))]
    Crash,
}

/// The evaluator actor.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AlertEvaluator;

/// The evaluator's own data.
pub(crate) struct AlertEvaluatorState {
    args: AlertEvaluatorArgs,
    index: AlertIndex,
    _reload: Timer,
}

/// Points before now the evaluation reads: the local day so far (today's mean) and the start
/// of a run already under way.
const LOOK_BACK: SignedDuration = SignedDuration::from_hours(36);
/// Points after now: the longest condition horizon (48 h) plus tomorrow.
const LOOK_AHEAD: SignedDuration = SignedDuration::from_hours(72);

impl Actor for AlertEvaluator {
    type Msg = AlertEvaluatorMsg;
    type State = AlertEvaluatorState;
    type Arguments = AlertEvaluatorArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: Self::Arguments,
    ) -> Result<Self::State, ActorProcessingErr> {
        let mailbox = Mailbox::new(myself, args.meter.clone());
        // A store that cannot be read at start fails the start; the supervisor retries it.
        let rules = args.store.alert_rules().await?;
        tracing::info!(rules = rules.len(), "Alert rules loaded.");
        let reload = mailbox.send_interval(args.config.reload_every, || AlertEvaluatorMsg::Reload);
        Ok(AlertEvaluatorState {
            index: AlertIndex::new(rules),
            args,
            _reload: reload,
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
            AlertEvaluatorMsg::Committed(region) => state.evaluate(region).await,
            AlertEvaluatorMsg::Upsert(rule) => state.upsert(rule).await,
            AlertEvaluatorMsg::Remove(id) => {
                state.index.remove(&id);
            }
            AlertEvaluatorMsg::Reload => state.reload().await,
            #[cfg(any(test, feature = "testing"))]
            AlertEvaluatorMsg::Crash => return Err("crash requested".into()),
        }
        Ok(())
    }
}

impl AlertEvaluatorState {
    async fn evaluate(&mut self, region: Region) {
        if self.index.count_of(region) == 0 {
            return;
        }
        let now = self.args.clock.now();
        let snapshot = self.args.latest.snapshot();
        let firings = self
            .index
            .evaluate(region, around(snapshot.series(region), now), now);
        self.record(region, firings, now).await;
    }

    /// A rule created or edited on this node is evaluated at once against the prices already
    /// known (a user setting "below 0.20" while the price is 0.18 hears about it now, not at
    /// the next publication).
    async fn upsert(&mut self, mut rule: AlertRule) {
        let now = self.args.clock.now();
        let region = rule.region;
        let snapshot = self.args.latest.snapshot();
        let firing = rule.evaluate(around(snapshot.series(region), now), now);
        self.index.upsert(rule);
        self.record(region, firing.into_iter().collect(), now).await;
    }

    async fn record(
        &mut self,
        region: Region,
        firings: Vec<crate::domain::alert::Firing>,
        now: jiff::Timestamp,
    ) {
        if firings.is_empty() {
            return;
        }
        match self.args.store.record_firings(&firings, now).await {
            Ok(recorded) => {
                metrics::counter!(ALERT_FIRINGS_TOTAL, "region" => region.to_string())
                    .increment(recorded);
                tracing::info!(%region, fired = firings.len(), recorded, "Alerts fired.");
            }
            Err(error) => {
                // The index already counts them as fired; the stored state does not, so
                // reloading it lets the next batch fire them again.
                tracing::warn!(%region, %error, "Could not record fired alerts; reloading rules.");
                self.reload().await;
            }
        }
    }

    async fn reload(&mut self) {
        match self.args.store.alert_rules().await {
            Ok(rules) => self.index = AlertIndex::new(rules),
            Err(error) => tracing::warn!(%error, "Could not reload alert rules."),
        }
    }
}

/// The points of `series` the conditions read around `now`.
fn around(
    series: &[crate::domain::PricePoint],
    now: jiff::Timestamp,
) -> &[crate::domain::PricePoint] {
    let from = series.partition_point(|p| p.start < now - LOOK_BACK);
    let to = series.partition_point(|p| p.start < now + LOOK_AHEAD);
    &series[from..to]
}
