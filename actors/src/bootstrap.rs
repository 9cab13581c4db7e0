//! The HistoryBootstrap actor: on start, each region whose stored history is shorter than
//! `days` gets the missing past days from its sources (newest first, so the model's window grows
//! backwards from the present), written to storage in batches; then the forecaster is asked to
//! recalibrate that region. A transient child: it stops when done, and a failure (storage down)
//! restarts it with backoff, resuming with the days still missing.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use jiff::civil::Date;
use ractor::{Actor, ActorProcessingErr, ActorRef};

use crate::domain::Region;
use crate::domain::calendar::{day_bounds, expected_intervals, local_date};
use crate::fetcher::PriceSupervisorMsg;
use crate::fetcher::cycle::fetch_day;
use crate::forecaster::ForecasterMsg;
use crate::mailbox::Mailbox;
use crate::ports::{PriceStore, SharedClock, SourceList, StoreError};
use crate::supervision::ActorMeter;

/// Days fetched before they are written in one batch.
const BATCH_DAYS: usize = 10;

/// What the bootstrap needs (kept by its supervisor to restart it).
#[derive(Clone)]
pub(crate) struct HistoryBootstrapArgs {
    /// Each region with its sources in failover order.
    pub regions: Vec<(Region, SourceList)>,
    pub store: Arc<dyn PriceStore>,
    pub clock: SharedClock,
    /// Past days every region should hold.
    pub days: usize,
    /// Longest wait for one source to deliver one day.
    pub fetch_timeout: Duration,
    pub forecaster: Option<Mailbox<ForecasterMsg>>,
    /// The price side, told to reload a region's cache after its history was written.
    pub prices: Option<Mailbox<PriceSupervisorMsg>>,
    pub meter: ActorMeter,
}

/// What a bootstrap did for one region.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BootstrapReport {
    pub loaded_days: usize,
    pub failed_days: usize,
}

/// Messages the bootstrap takes.
pub(crate) enum HistoryBootstrapMsg {
    /// Fill every region's missing days, then stop.
    Run,
}

/// The bootstrap actor.
#[derive(Debug, Clone, Copy)]
pub(crate) struct HistoryBootstrap;

impl Actor for HistoryBootstrap {
    type Msg = HistoryBootstrapMsg;
    type State = HistoryBootstrapArgs;
    type Arguments = HistoryBootstrapArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: Self::Arguments,
    ) -> Result<Self::State, ActorProcessingErr> {
        args.meter.sent();
        myself.cast(HistoryBootstrapMsg::Run)?;
        Ok(args)
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        msg: Self::Msg,
        args: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        args.meter.handled();
        let HistoryBootstrapMsg::Run = msg;
        for (region, sources) in &args.regions {
            let report = bootstrap_region(
                *region,
                sources,
                args.store.as_ref(),
                &args.clock,
                args.days,
                args.fetch_timeout,
            )
            .await?;
            if report.loaded_days > 0 || report.failed_days > 0 {
                tracing::info!(%region, loaded = report.loaded_days, failed = report.failed_days, "History bootstrap done.");
                if let Some(prices) = &args.prices {
                    let _ = prices.cast(PriceSupervisorMsg::Reload(*region));
                }
                if let Some(forecaster) = &args.forecaster {
                    let _ = forecaster.cast(ForecasterMsg::Recalibrate(*region));
                }
            }
        }
        myself.stop(Some("history complete".into()));
        Ok(())
    }
}

/// Loads the days among the last `days` (before today) that storage lacks.
pub async fn bootstrap_region(
    region: Region,
    sources: &SourceList,
    store: &dyn PriceStore,
    clock: &SharedClock,
    days: usize,
    fetch_timeout: Duration,
) -> Result<BootstrapReport, StoreError> {
    let today = local_date(region, clock.now());
    let missing = missing_days(region, store, today, days).await?;
    let mut report = BootstrapReport::default();
    let mut batch = Vec::new();
    for (i, day) in missing.iter().enumerate() {
        let outcome = fetch_day(region, *day, sources.clone(), fetch_timeout).await;
        if outcome.failed.is_empty() {
            report.loaded_days += 1;
            batch.extend(outcome.fetched.into_iter().flat_map(|f| f.points));
        } else {
            report.failed_days += 1;
        }
        if (i + 1) % BATCH_DAYS == 0 || i + 1 == missing.len() {
            store.upsert_prices(&std::mem::take(&mut batch)).await?;
        }
    }
    Ok(report)
}

/// Local days in `[today − days, today)` without a complete set of stored intervals, newest
/// first.
async fn missing_days(
    region: Region,
    store: &dyn PriceStore,
    today: Date,
    days: usize,
) -> Result<Vec<Date>, StoreError> {
    let Ok(first) = today.checked_sub(jiff::Span::new().days(days as i64)) else {
        return Ok(Vec::new());
    };
    let from: Timestamp = day_bounds(region, first).0;
    let to: Timestamp = day_bounds(region, today).0;
    let stored = store.prices_since(region, from).await?;
    let mut starts_per_day = BTreeMap::<Date, BTreeSet<Timestamp>>::new();
    for p in stored.iter().filter(|p| p.start >= from && p.start < to) {
        starts_per_day
            .entry(local_date(region, p.start))
            .or_default()
            .insert(p.start);
    }
    let missing = first
        .series(jiff::Span::new().days(1))
        .take_while(|d| *d < today)
        .filter(|d| starts_per_day.get(d).map_or(0, |s| s.len()) < expected_intervals(region, *d))
        .collect::<Vec<_>>();
    Ok(missing.into_iter().rev().collect())
}
