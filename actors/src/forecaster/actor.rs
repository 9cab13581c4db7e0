//! The ForecastActor: keeps each region's calibrated model and latest forecast in memory,
//! recalibrates a region when a new day of its prices lands (one region at a time, on a blocking
//! thread, so the async workers and the second core stay free for serving), stores every
//! forecast, and publishes it to the broadcaster.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use jiff::Timestamp;
use jiff::civil::Date;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use serde::Serialize;

use super::model::{
    Calibration, CalibrationInput, ForecasterConfig, RegionForecast, RegionModel, calibrate,
};
use crate::broadcast::BroadcasterMsg;
use crate::domain::Region;
use crate::domain::calendar::{day_bounds, local_date, newest_published_day};
use crate::domain::forecast::ForecastError;
use crate::domain::price::SourcePreference;
use crate::mailbox::{Mailbox, Timer};
use crate::ports::{ForecastStore, PriceStore, SharedClock, StoreError, StoredModel};
use crate::supervision::ActorMeter;

/// Metric: seconds per region calibration.
pub const FORECAST_CALIBRATION_SECONDS: &str = "wattline_forecast_calibration_seconds";
/// Metric: calibrations that failed, by region.
pub const FORECAST_FAILURES_TOTAL: &str = "wattline_forecast_failures_total";

/// Wait before retrying a region whose calibration failed for a reason that may pass (storage).
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(60);

/// Everything the forecaster needs.
#[derive(Clone)]
pub(crate) struct ForecasterArgs {
    pub store: Arc<dyn PriceStore>,
    pub forecasts: Arc<dyn ForecastStore>,
    pub clock: SharedClock,
    pub preference: Arc<SourcePreference>,
    /// Each region served, with its market's publication time (local).
    pub regions: Vec<(Region, jiff::civil::Time)>,
    pub config: ForecasterConfig,
    pub broadcaster: Option<Mailbox<BroadcasterMsg>>,
    pub meter: ActorMeter,
}

/// Where a region's model stands.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum ModelState {
    /// Waiting for its first calibration.
    Pending,
    /// Calibrating now (a model may already be serving).
    Calibrating,
    Ready,
    /// The stored history is too short.
    NotEnoughHistory {
        have_days: usize,
        need_days: usize,
    },
    /// The last calibration failed.
    Failed {
        reason: String,
    },
}

/// One region as `model-info` shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RegionModelStatus {
    pub region: Region,
    #[serde(flatten)]
    pub state: ModelState,
    /// The model serving now, if any.
    pub model: Option<super::model::ModelSummary>,
}

/// Answer to a forecast lookup.
#[derive(Debug, Clone)]
pub enum ForecastLookup {
    Ready(Arc<RegionForecast>),
    NotReady(ModelState),
}

/// Messages the forecaster takes.
pub(crate) enum ForecasterMsg {
    /// The writer committed new prices of `region` reaching up to `last_end`.
    PricesCommitted { region: Region, last_end: Timestamp },
    /// Recalibrate `region` (start-up, retries, operators).
    Recalibrate(Region),
    /// A calibration task finished.
    Calibrated {
        region: Region,
        outcome: Result<Calibration, CalibrationError>,
        seconds: f64,
    },
    /// The current forecast of a region.
    Get {
        region: Region,
        reply: RpcReplyPort<ForecastLookup>,
    },
    /// Every region's model state.
    Status(RpcReplyPort<Vec<RegionModelStatus>>),
    /// Fail on purpose (tests of the supervision).
    #[cfg(any(test, feature = "testing"))]
    Crash,
}

/// Why a calibration did not produce a model.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CalibrationError {
    #[error(transparent)]
    Model(#[from] ForecastError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("calibration task failed: {0}")]
    Task(String),
}

struct Slot {
    region: Region,
    publication: jiff::civil::Time,
    state: ModelState,
    model: Option<Arc<RegionModel>>,
    queued: bool,
    /// New prices arrived while calibrating: go again afterwards.
    dirty: bool,
    retry: Option<Timer>,
    /// The task storing the last forecast: the next store waits for it, so stores land in
    /// calibration order (two calibrations on the same days share a version, and the newer one
    /// must be the one kept).
    saving: Option<tokio::task::JoinHandle<()>>,
}

/// The forecaster actor.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Forecaster;

/// The forecaster's own data.
pub(crate) struct ForecasterState {
    args: ForecasterArgs,
    mailbox: Mailbox<ForecasterMsg>,
    slots: Vec<Slot>,
    queue: VecDeque<Region>,
    /// Regions calibrating now (at most [`ForecasterConfig::calibrations_at_once`]).
    running: Vec<Region>,
}

impl Actor for Forecaster {
    type Msg = ForecasterMsg;
    type State = ForecasterState;
    type Arguments = ForecasterArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: Self::Arguments,
    ) -> Result<Self::State, ActorProcessingErr> {
        let mut slots = Vec::with_capacity(args.regions.len());
        for (region, publication) in &args.regions {
            // The model stored by the last run serves at once; the calibration queued below
            // starts warm from it instead of from scratch.
            let model = stored_model(args.forecasts.as_ref(), *region).await;
            slots.push(Slot {
                region: *region,
                publication: *publication,
                state: if model.is_some() {
                    ModelState::Ready
                } else {
                    ModelState::Pending
                },
                model,
                queued: false,
                dirty: false,
                retry: None,
                saving: None,
            });
        }
        let mut state = ForecasterState {
            mailbox: Mailbox::new(myself, args.meter.clone()),
            args,
            slots,
            queue: VecDeque::new(),
            running: Vec::new(),
        };
        for (region, _) in state.args.regions.clone() {
            state.enqueue(region);
        }
        state.start_next();
        Ok(state)
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        msg: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        state.args.meter.handled();
        match msg {
            ForecasterMsg::PricesCommitted { region, last_end } => {
                state.on_prices(region, last_end)
            }
            ForecasterMsg::Recalibrate(region) => state.enqueue(region),
            ForecasterMsg::Calibrated {
                region,
                outcome,
                seconds,
            } => state.on_calibrated(region, outcome, seconds),
            ForecasterMsg::Get { region, reply } => {
                let _ = reply.send(state.lookup(region));
            }
            ForecasterMsg::Status(reply) => {
                let _ = reply.send(state.status());
            }
            #[cfg(any(test, feature = "testing"))]
            ForecasterMsg::Crash => panic!("forecaster crash requested by a test"),
        }
        state.start_next();
        Ok(())
    }
}

impl ForecasterState {
    fn slot(&mut self, region: Region) -> Option<&mut Slot> {
        self.slots.iter_mut().find(|s| s.region == region)
    }

    /// New prices: worth a recalibration when they reach past the last day the model saw.
    fn on_prices(&mut self, region: Region, last_end: Timestamp) {
        let newest_day = local_date(region, last_end - jiff::SignedDuration::from_secs(1));
        let Some(slot) = self.slot(region) else {
            return;
        };
        let known = slot.model.as_ref().map(|m| m.forecast.model.data_to);
        if known.is_none_or(|d: Date| newest_day > d) {
            self.enqueue(region);
        }
    }

    fn enqueue(&mut self, region: Region) {
        let running = self.running.contains(&region);
        let Some(slot) = self.slot(region) else {
            return;
        };
        slot.retry = None;
        if running {
            slot.dirty = true;
        } else if !slot.queued {
            slot.queued = true;
            // Queued behind other regions: say so, not what an older calibration found.
            if slot.model.is_none() {
                slot.state = ModelState::Pending;
            }
            self.queue.push_back(region);
        }
    }

    /// Starts queued calibrations while the pool has room.
    fn start_next(&mut self) {
        loop {
            let cold = self.slots.iter().any(|s| s.model.is_none());
            if self.running.len() >= self.args.config.calibrations_at_once(cold) {
                return;
            }
            let Some(region) = self.queue.pop_front() else {
                return;
            };
            self.start(region);
        }
    }

    /// Starts calibrating `region` on a blocking thread.
    fn start(&mut self, region: Region) {
        let Some(slot) = self.slot(region) else {
            return;
        };
        slot.queued = false;
        if slot.model.is_none() {
            slot.state = ModelState::Calibrating;
        }
        let previous = slot.model.clone();
        self.running.push(region);
        let args = self.args.clone();
        let mailbox = self.mailbox.clone();
        tokio::spawn(async move {
            let started = Instant::now();
            let outcome = run_calibration(&args, region, previous).await;
            let seconds = started.elapsed().as_secs_f64();
            let _ = mailbox.cast(ForecasterMsg::Calibrated {
                region,
                outcome,
                seconds,
            });
        });
    }

    fn on_calibrated(
        &mut self,
        region: Region,
        outcome: Result<Calibration, CalibrationError>,
        seconds: f64,
    ) {
        self.running.retain(|r| *r != region);
        let broadcaster = self.args.broadcaster.clone();
        let forecasts = self.args.forecasts.clone();
        // Stored forecasts are kept as long as the live accuracy looks back, plus a day.
        let keep =
            jiff::SignedDuration::from_hours(24 * (self.args.config.accuracy_days as i64 + 1));
        let mailbox = self.mailbox.clone();
        let now = self.args.clock.now();
        let Some(slot) = self.slot(region) else {
            return;
        };
        match outcome {
            Ok(Calibration::Calibrated(model)) => {
                metrics::histogram!(FORECAST_CALIBRATION_SECONDS).record(seconds);
                let model: Arc<RegionModel> = Arc::from(model);
                let forecast = model.forecast.clone();
                tracing::info!(
                    %region,
                    version = %forecast.model.version,
                    steps = forecast.steps.len(),
                    seconds = format!("{seconds:.2}"),
                    "Forecast model recalibrated."
                );
                slot.state = ModelState::Ready;
                slot.model = Some(model.clone());
                publish(broadcaster.as_ref(), &forecast);
                // Only steps of days the market has not published yet are forecasts a user can
                // be served; a model calibrated before the latest published days were stored
                // (at start, say) also covers those, and they would count in the live accuracy.
                let unpublished = unpublished_steps(&forecast, slot.publication, now);
                let previous = slot.saving.take();
                let stored = model;
                slot.saving = Some(tokio::spawn(async move {
                    if let Some(previous) = previous {
                        let _ = previous.await;
                    }
                    store_model(forecasts.as_ref(), stored).await;
                    if let Err(error) = forecasts.save_forecast(&unpublished).await {
                        tracing::warn!(%region, %error, "Could not store the forecast; its accuracy will not be measured.");
                    }
                    let before = forecast.model.calibrated_at - keep;
                    if let Err(error) = forecasts.prune_forecasts(region, before).await {
                        tracing::warn!(%region, %error, "Could not prune old stored forecasts.");
                    }
                }));
            }
            Ok(Calibration::Unchanged) => {
                if slot.model.is_some() {
                    slot.state = ModelState::Ready;
                }
            }
            Err(CalibrationError::Model(ForecastError::NotEnoughHistory { have, need })) => {
                if slot.model.is_none() {
                    slot.state = ModelState::NotEnoughHistory {
                        have_days: have,
                        need_days: need,
                    };
                }
            }
            Err(error) => {
                metrics::counter!(FORECAST_FAILURES_TOTAL, "region" => region.code()).increment(1);
                tracing::warn!(%region, %error, "Forecast calibration failed; retrying later.");
                if slot.model.is_none() {
                    slot.state = ModelState::Failed {
                        reason: error.to_string(),
                    };
                }
                slot.retry = Some(mailbox.send_after(RETRY_AFTER_FAILURE, move || {
                    ForecasterMsg::Recalibrate(region)
                }));
            }
        }
        if std::mem::take(&mut slot.dirty) {
            self.enqueue(region);
        }
    }

    fn lookup(&self, region: Region) -> ForecastLookup {
        match self.slots.iter().find(|s| s.region == region) {
            Some(Slot {
                model: Some(model), ..
            }) => ForecastLookup::Ready(model.forecast.clone()),
            Some(slot) => ForecastLookup::NotReady(slot.state.clone()),
            None => ForecastLookup::NotReady(ModelState::Failed {
                reason: "region not served by this forecaster".into(),
            }),
        }
    }

    fn status(&self) -> Vec<RegionModelStatus> {
        self.slots
            .iter()
            .map(|s| RegionModelStatus {
                region: s.region,
                state: if self.running.contains(&s.region) {
                    ModelState::Calibrating
                } else {
                    s.state.clone()
                },
                model: s.model.as_ref().map(|m| m.forecast.model.clone()),
            })
            .collect()
    }
}

/// The region's model as the last run stored it, if it can be read.
async fn stored_model(store: &dyn ForecastStore, region: Region) -> Option<Arc<RegionModel>> {
    let stored = match store.load_model(region).await {
        Ok(stored) => stored?,
        Err(error) => {
            tracing::warn!(%region, %error, "Could not read the stored forecast model; calibrating from scratch.");
            return None;
        }
    };
    match tokio::task::spawn_blocking(move || RegionModel::from_json(&stored.model)).await {
        Ok(Ok(model)) => {
            tracing::info!(%region, version = %model.forecast.model.version, "Stored forecast model loaded.");
            Some(Arc::new(model))
        }
        _ => {
            tracing::warn!(%region, "The stored forecast model is unreadable (an older format?); calibrating from scratch.");
            None
        }
    }
}

/// Stores `model` as the region's newest (serialised off the async threads).
async fn store_model(store: &dyn ForecastStore, model: Arc<RegionModel>) {
    let region = model.forecast.region;
    let version = model.forecast.model.version.clone();
    let calibrated_at = model.forecast.model.calibrated_at;
    let json = match tokio::task::spawn_blocking(move || model.to_json()).await {
        Ok(Ok(json)) => json,
        _ => return,
    };
    let stored = StoredModel {
        region,
        version,
        calibrated_at,
        model: json,
    };
    if let Err(error) = store.save_model(&stored).await {
        tracing::warn!(%region, %error, "Could not store the forecast model; a restart will calibrate from scratch.");
    }
}

/// The forecast without the steps of days the market has published by `now`.
fn unpublished_steps(
    forecast: &RegionForecast,
    publication: jiff::civil::Time,
    now: Timestamp,
) -> RegionForecast {
    let region = forecast.region;
    let published_end = day_bounds(region, newest_published_day(region, now, publication)).1;
    RegionForecast {
        region,
        model: forecast.model.clone(),
        currency: forecast.currency,
        unit: forecast.unit,
        steps: forecast
            .steps
            .iter()
            .filter(|s| s.start >= published_end)
            .cloned()
            .collect(),
        days: Vec::new(),
    }
}

/// Loads the region's history and stored forecasts, then calibrates on a blocking thread.
async fn run_calibration(
    args: &ForecasterArgs,
    region: Region,
    previous: Option<Arc<RegionModel>>,
) -> Result<Calibration, CalibrationError> {
    // Strictly after the previous calibration, even on a clock that stands still (tests): the
    // live accuracy takes the newest forecast of an interval, and a tie would be arbitrary.
    let now = previous.as_ref().map_or(args.clock.now(), |m| {
        args.clock
            .now()
            .max(m.forecast.model.calibrated_at + jiff::SignedDuration::from_millis(1))
    });
    let day = jiff::SignedDuration::from_hours(24);
    let since = now - day * args.config.history_days as i32;
    let points = args.store.prices_since(region, since).await?;
    let accuracy_from = now - day * args.config.accuracy_days as i32;
    let stored = args
        .forecasts
        .forecast_steps(region, accuracy_from, now)
        .await?;
    let preference = args.preference.for_region(region).to_vec();
    let config = args.config.clone();
    // Its own thread (calibrations at once are bounded by the actor), so its priority can be
    // lowered without touching the runtime's shared blocking pool.
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name(format!("calibrate-{region}"))
        .spawn(move || {
            if let Some(setup) = config.on_calibration_thread {
                setup();
            }
            let input = CalibrationInput {
                region,
                points,
                preference: &preference,
                stored,
                now,
                previous: previous.as_deref(),
            };
            let _ = tx.send(calibrate(input, &config));
        })
        .map_err(|e| CalibrationError::Task(e.to_string()))?;
    rx.await
        .map_err(|_| CalibrationError::Task("the calibration thread panicked".into()))?
        .map_err(CalibrationError::from)
}

/// Tells stream subscribers about a new forecast.
fn publish(broadcaster: Option<&Mailbox<BroadcasterMsg>>, forecast: &RegionForecast) {
    let Some(broadcaster) = broadcaster else {
        return;
    };
    #[derive(Serialize)]
    struct Payload<'a> {
        region: Region,
        model_version: &'a str,
        calibrated_at: Timestamp,
        currency: crate::domain::Currency,
        unit: crate::domain::EnergyUnit,
        steps: &'a [super::model::ForecastStep],
    }
    let payload = Payload {
        region: forecast.region,
        model_version: &forecast.model.version,
        calibrated_at: forecast.model.calibrated_at,
        currency: forecast.currency,
        unit: forecast.unit,
        steps: &forecast.steps,
    };
    if let Ok(payload) = serde_json::to_string(&payload) {
        let _ = broadcaster.cast(BroadcasterMsg::Forecast {
            region: forecast.region,
            payload,
        });
    }
}
