//! The WeatherCollector actor: every `every`, fetches the weather forecast of each region's
//! reference city and stores it as inputs for the forecaster. A provider error costs one region
//! one round (counted, logged); a failure of the actor itself is restarted by its supervisor.

use std::sync::Arc;
use std::time::Duration;

use ractor::{Actor, ActorProcessingErr, ActorRef};

use crate::domain::Region;
use crate::mailbox::{Mailbox, Timer};
use crate::ports::{WeatherSource, WeatherStore};
use crate::supervision::ActorMeter;

/// Metric: weather steps stored, by region.
pub const WEATHER_POINTS_TOTAL: &str = "wattline_weather_points_total";
/// Metric: failed weather fetches, by region.
pub const WEATHER_ERRORS_TOTAL: &str = "wattline_weather_errors_total";

/// What the collector needs (kept by its supervisor to restart it).
#[derive(Clone)]
pub(crate) struct WeatherCollectorArgs {
    pub source: Arc<dyn WeatherSource>,
    pub store: Arc<dyn WeatherStore>,
    pub regions: Vec<Region>,
    /// Time between rounds.
    pub every: Duration,
    pub meter: ActorMeter,
}

/// Messages the collector takes.
pub(crate) enum WeatherCollectorMsg {
    /// Fetch and store every region's forecast, then schedule the next round.
    Collect,
    /// Fail on purpose (tests of the supervision).
    #[cfg(any(test, feature = "testing"))]
    Crash,
}

/// The collector actor.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WeatherCollector;

/// The collector's own data.
pub(crate) struct WeatherCollectorState {
    args: WeatherCollectorArgs,
    mailbox: Mailbox<WeatherCollectorMsg>,
    next: Option<Timer>,
}

impl Actor for WeatherCollector {
    type Msg = WeatherCollectorMsg;
    type State = WeatherCollectorState;
    type Arguments = WeatherCollectorArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: Self::Arguments,
    ) -> Result<Self::State, ActorProcessingErr> {
        for region in &args.regions {
            metrics::counter!(WEATHER_POINTS_TOTAL, "region" => region.code()).increment(0);
            metrics::counter!(WEATHER_ERRORS_TOTAL, "region" => region.code()).increment(0);
        }
        let mailbox = Mailbox::new(myself, args.meter.clone());
        mailbox
            .cast(WeatherCollectorMsg::Collect)
            .map_err(|e| e.to_string())?;
        Ok(WeatherCollectorState {
            args,
            mailbox,
            next: None,
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
            WeatherCollectorMsg::Collect => {
                collect(&state.args).await;
                state.next = Some(
                    state
                        .mailbox
                        .send_after(state.args.every, || WeatherCollectorMsg::Collect),
                );
            }
            #[cfg(any(test, feature = "testing"))]
            WeatherCollectorMsg::Crash => panic!("weather collector crash requested by a test"),
        }
        Ok(())
    }
}

/// One round over every region.
async fn collect(args: &WeatherCollectorArgs) {
    for &region in &args.regions {
        match args.source.forecast(region).await {
            Ok(points) => match args.store.upsert_weather(&points).await {
                Ok(rows) => metrics::counter!(WEATHER_POINTS_TOTAL, "region" => region.code())
                    .increment(rows),
                Err(error) => {
                    tracing::warn!(%region, %error, "Could not store the weather forecast.")
                }
            },
            Err(error) => {
                metrics::counter!(WEATHER_ERRORS_TOTAL, "region" => region.code()).increment(1);
                tracing::warn!(%region, %error, "Weather forecast fetch failed.");
            }
        }
    }
}

/// Typed access to the collector (tests drive it; the edge does not need it).
#[derive(Clone)]
pub struct WeatherHandle {
    mailbox: Mailbox<WeatherCollectorMsg>,
}

impl WeatherHandle {
    pub(crate) fn new(mailbox: Mailbox<WeatherCollectorMsg>) -> Self {
        WeatherHandle { mailbox }
    }

    /// Runs a round now.
    pub fn collect(&self) {
        let _ = self.mailbox.cast(WeatherCollectorMsg::Collect);
    }

    /// Makes the collector fail (tests of the supervision).
    #[cfg(any(test, feature = "testing"))]
    pub fn crash(&self) {
        let _ = self.mailbox.cast(WeatherCollectorMsg::Crash);
    }
}
