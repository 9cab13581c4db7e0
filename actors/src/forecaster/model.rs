//! One region's live forecaster, as pure functions the actor runs off the async threads:
//! calibrate LEAR on the stored history, forecast the days after the newest published one with
//! conformal intervals per lead day, and measure stored past forecasts against realised prices.

use std::collections::HashMap;
use std::sync::Arc;

use jiff::Timestamp;
use jiff::civil::Date;
use rust_decimal::prelude::ToPrimitive;

use crate::domain::calendar::interval_starts;
use crate::domain::forecast::combine::{Combiner, MemberForecast};
use crate::domain::forecast::conformal::ErrorQuantiles;
use crate::domain::forecast::metrics::{coverage, mae, smape};
pub use crate::domain::forecast::output::{
    ForecastStep, LiveAccuracy, ModelSummary, RegionForecast, StoredStep,
};
use crate::domain::forecast::{DailySeries, ForecastError, Lear, LearConfig};
use crate::domain::price::{harmonize_units, prefer_sources};
use crate::domain::{EnergyUnit, PricePoint, Region, Source};

/// How the live forecaster works.
#[derive(Debug, Clone)]
pub struct ForecasterConfig {
    pub lear: LearConfig,
    /// Days forecast after the newest published day (8 covers 168 h from any hour).
    pub horizon_days: usize,
    /// Days of stored prices loaded for calibration.
    pub history_days: usize,
    /// Days of out-of-sample errors behind each interval.
    pub error_days: usize,
    /// On a cold start, this many past days are forecast walk-forward to seed the intervals.
    pub seed_days: usize,
    /// Calibrations at once; 0 = automatic (see [`ForecasterConfig::calibrations_at_once`]).
    pub calibration_threads: usize,
    /// An interval needs this many days of errors for its lead (else the nearest shorter lead's).
    pub min_error_days: usize,
    /// Interval quantiles, e.g. (0.1, 0.9).
    pub interval: (f64, f64),
    /// Days of stored forecasts the live accuracy covers.
    pub accuracy_days: usize,
    /// Run first on each calibration's own thread: the service lowers that thread's priority
    /// there, so a recalibration yields the cores to the live stream (no I/O crates here).
    pub on_calibration_thread: Option<fn()>,
}

impl ForecasterConfig {
    /// How many calibrations may run at once: the configured number, or every core while some
    /// region has no model (a cold start: nothing is served yet), then one core fewer than the
    /// machine has, at least one, so recalibrations leave a core to the live stream.
    pub fn calibrations_at_once(&self, cold: bool) -> usize {
        if self.calibration_threads > 0 {
            return self.calibration_threads;
        }
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        if cold { cores } else { (cores - 1).max(1) }
    }
}

impl Default for ForecasterConfig {
    fn default() -> Self {
        ForecasterConfig {
            lear: LearConfig::default(),
            horizon_days: 8,
            history_days: 1456 + 28,
            error_days: 56,
            seed_days: 7,
            calibration_threads: 0,
            min_error_days: 5,
            interval: (0.1, 0.9),
            accuracy_days: 30,
            on_calibration_thread: None,
        }
    }
}

/// A calibrated region: its forecast and the errors its intervals come from.
#[derive(Debug, Clone)]
pub struct RegionModel {
    /// Served as is: callers share it without copying.
    pub forecast: Arc<RegionForecast>,
    /// Per lead day (index 0 = lead 1).
    errors: Vec<ErrorQuantiles>,
    /// Per lead day, the newest target day already recorded.
    recorded_through: Vec<Option<Date>>,
    /// Recent errors of each window, which weight them.
    combiner: Combiner,
    /// Each window's forecast of the first day ahead, scored once that day is published.
    members: Option<(Date, Vec<MemberForecast>)>,
}

/// A model as stored between runs: everything a warm recalibration starts from.
#[derive(serde::Serialize, serde::Deserialize)]
struct PersistedModel {
    forecast: RegionForecast,
    days: Vec<(Date, Vec<f64>)>,
    errors: Vec<ErrorQuantiles>,
    recorded_through: Vec<Option<Date>>,
    combiner: Combiner,
    members: Option<(Date, Vec<MemberForecast>)>,
}

impl RegionModel {
    /// The model as JSON, to store: a restart serves it at once and recalibrates warm from it.
    pub fn to_json(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string(&PersistedModel {
            forecast: (*self.forecast).clone(),
            days: self.forecast.days.clone(),
            errors: self.errors.clone(),
            recorded_through: self.recorded_through.clone(),
            combiner: self.combiner.clone(),
            members: self.members.clone(),
        })
    }

    /// A model stored by [`RegionModel::to_json`].
    pub fn from_json(json: &str) -> Result<Self, serde_json::Error> {
        let stored: PersistedModel = serde_json::from_str(json)?;
        let mut forecast = stored.forecast;
        forecast.days = stored.days;
        Ok(RegionModel {
            forecast: Arc::new(forecast),
            errors: stored.errors,
            recorded_through: stored.recorded_through,
            combiner: stored.combiner,
            members: stored.members,
        })
    }
}

/// What one calibration needs.
pub struct CalibrationInput<'a> {
    pub region: Region,
    /// Stored points of the region (any sources, sorted by start).
    pub points: Vec<PricePoint>,
    pub preference: &'a [Source],
    /// Stored forecasts over the accuracy window.
    pub stored: Vec<StoredStep>,
    pub now: Timestamp,
    pub previous: Option<&'a RegionModel>,
}

/// What a calibration did.
#[derive(Debug)]
pub enum Calibration {
    Calibrated(Box<RegionModel>),
    /// The history spans the same days as the previous model's.
    Unchanged,
}

/// Calibrates the region's model on its history and forecasts the days after it.
pub fn calibrate(
    input: CalibrationInput<'_>,
    config: &ForecasterConfig,
) -> Result<Calibration, ForecastError> {
    let started = std::time::Instant::now();
    let region = input.region;
    let minutes = region.resolution().minutes();
    let periods = (24 * 60 / minutes) as usize;
    let points = harmonize_units(prefer_sources(input.points, input.preference));
    let (currency, unit) = points
        .last()
        .map_or((region.currency(), EnergyUnit::MWh), |p| {
            (p.currency, p.unit)
        });
    let series = DailySeries::from_points(region, &points, periods).ok_or(
        ForecastError::NotEnoughHistory {
            have: 0,
            need: config.lear.min_window.max(8),
        },
    )?;
    let data_to = series.date(series.days() - 1);
    // Same span as the model serving: nothing new to learn. (A history that grew backwards, as
    // a bootstrap fills it, is new.)
    if let Some(previous) = input.previous
        && previous.forecast.model.data_to == data_to
        && previous.forecast.model.data_from == series.first_day
    {
        return Ok(Calibration::Unchanged);
    }
    let target = series.days();
    let lear = Lear::fit(&series, target, &config.lear)?;
    let (mut errors, mut recorded_through, mut combiner) = match input.previous {
        Some(previous) if previous.errors.len() == config.horizon_days => (
            previous.errors.clone(),
            previous.recorded_through.clone(),
            previous.combiner.clone(),
        ),
        _ => (
            vec![ErrorQuantiles::new(periods, config.error_days); config.horizon_days],
            vec![None; config.horizon_days],
            config.lear.combiner(periods),
        ),
    };
    match input.previous {
        Some(previous) => {
            record_errors(
                &previous.forecast.days,
                &series,
                &mut errors,
                &mut recorded_through,
            );
            if let Some((date, members)) = &previous.members
                && let Some(i) = series.index_of(*date)
            {
                combiner.record(members, series.day(i));
            }
        }
        None => seed_errors(
            &series,
            config,
            &mut errors,
            &mut recorded_through,
            &mut combiner,
        ),
    }
    let raw_days = lear.predict_days(&series, target, config.horizon_days, &combiner)?;
    let members = Some((series.date(target), lear.predict_members(&series, target)?));
    let days: Vec<(Date, Vec<f64>)> = raw_days
        .into_iter()
        .enumerate()
        .map(|(i, v)| (series.date(target + i), v))
        .collect();
    let mut steps = Vec::with_capacity(days.len() * periods);
    for (lead, (date, values)) in days.iter().enumerate() {
        let (lower, upper) = interval_for(&errors, lead, values, config);
        for start in interval_starts(region, *date) {
            let local = start.to_zoned(region.time_zone());
            let slot = ((i64::from(local.hour()) * 60 + i64::from(local.minute()))
                / i64::from(minutes)) as usize;
            let slot = slot.min(periods - 1);
            steps.push(ForecastStep {
                start,
                duration_minutes: minutes,
                predicted: values[slot],
                lower: lower[slot],
                upper: upper[slot],
                lead_days: lead as u32 + 1,
            });
        }
    }
    let windows: Vec<usize> = lear.models.iter().map(|m| m.window).collect();
    let samples = lear.models.iter().map(|m| m.samples).max().unwrap_or(0);
    let live_accuracy = live_accuracy(&input.stored, &points, input.now, config.accuracy_days);
    let model = ModelSummary {
        kind: "lear".into(),
        version: version(&config.lear, &windows, data_to),
        data_from: series.first_day,
        data_to,
        windows,
        samples,
        calibrated_at: input.now,
        calibration_ms: started.elapsed().as_millis() as u64,
        interval_error_days: errors.first().map_or(0, ErrorQuantiles::days),
        out_of_sample_mae: errors.first().and_then(ErrorQuantiles::mean_abs),
        live_accuracy,
    };
    Ok(Calibration::Calibrated(Box::new(RegionModel {
        forecast: Arc::new(RegionForecast {
            region,
            model,
            currency,
            unit,
            steps,
            days,
        }),
        errors,
        recorded_through,
        combiner,
        members,
    })))
}

/// A version that names the model, its windows and the last day it saw: two nodes calibrated
/// on the same data agree on it, and a stored forecast says what made it.
fn version(config: &LearConfig, windows: &[usize], data_to: Date) -> String {
    let windows: Vec<String> = windows.iter().map(usize::to_string).collect();
    let criterion = match config.criterion {
        crate::domain::forecast::lars::Criterion::Aic => "aic",
        crate::domain::forecast::lars::Criterion::Bic => "bic",
    };
    format!("lear-{criterion}-w{}-{data_to}", windows.join("."))
}

/// Interval bounds for lead `lead` (0-based): its own errors when it has enough, else those of
/// the nearest shorter lead that has (a later day is never more certain), else none (the point
/// forecast).
fn interval_for(
    errors: &[ErrorQuantiles],
    lead: usize,
    values: &[f64],
    config: &ForecasterConfig,
) -> (Vec<f64>, Vec<f64>) {
    let (low, high) = config.interval;
    (0..=lead)
        .rev()
        .find_map(|l| errors[l].interval(values, low, high, config.min_error_days))
        .or_else(|| {
            errors
                .iter()
                .find_map(|e| e.interval(values, low, high, config.min_error_days))
        })
        .unwrap_or_else(|| (values.to_vec(), values.to_vec()))
}

/// Records the errors of a previous forecast's days that have since been published.
fn record_errors(
    forecast_days: &[(Date, Vec<f64>)],
    series: &DailySeries,
    errors: &mut [ErrorQuantiles],
    recorded_through: &mut [Option<Date>],
) {
    for (lead, (date, values)) in forecast_days.iter().enumerate().take(errors.len()) {
        if recorded_through[lead].is_some_and(|d| d >= *date) {
            continue;
        }
        if let Some(i) = series.index_of(*date) {
            errors[lead].record(series.day(i), values);
            recorded_through[lead] = Some(*date);
        }
    }
}

/// Cold start: forecast the last `seed_days` days walk-forward (each from the days before it
/// only) and record their errors per lead, and each window's errors, so intervals and weights
/// are out-of-sample from the first answer.
fn seed_errors(
    series: &DailySeries,
    config: &ForecasterConfig,
    errors: &mut [ErrorQuantiles],
    recorded_through: &mut [Option<Date>],
    combiner: &mut Combiner,
) {
    let days = series.days();
    let first = days
        .saturating_sub(config.seed_days)
        .max(config.lear.min_window.max(8));
    for t in first..days {
        let Ok(lear) = Lear::fit(series, t, &config.lear) else {
            continue;
        };
        let ahead = (days - t).min(config.horizon_days);
        let Ok(forecast) = lear.predict_days(series, t, ahead, combiner) else {
            continue;
        };
        if let Ok(members) = lear.predict_members(series, t) {
            combiner.record(&members, series.day(t));
        }
        let forecast_days: Vec<(Date, Vec<f64>)> = forecast
            .into_iter()
            .enumerate()
            .map(|(i, v)| (series.date(t + i), v))
            .collect();
        record_errors(&forecast_days, series, errors, recorded_through);
        // Each seed forecast is a separate run: the next one may record the same target days
        // at their own leads.
        recorded_through.iter_mut().for_each(|r| *r = None);
    }
    let newest = series.date(days - 1);
    recorded_through.iter_mut().for_each(|r| *r = Some(newest));
}

/// MAE, sMAPE and coverage of stored forecasts for the last `days` days against the realised
/// prices in `points` (one source per interval). Per interval, the forecast with the shortest
/// lead counts: the one a user saw last before the price was published.
pub fn live_accuracy(
    stored: &[StoredStep],
    points: &[PricePoint],
    now: Timestamp,
    days: usize,
) -> Option<LiveAccuracy> {
    let since = now - jiff::SignedDuration::from_hours(24 * days as i64);
    let realised: HashMap<Timestamp, f64> = points
        .iter()
        .filter(|p| p.start >= since && p.end() <= now)
        .filter_map(|p| Some((p.start, p.price.to_f64()?)))
        .collect();
    let mut best: HashMap<Timestamp, &StoredStep> = HashMap::new();
    for s in stored
        .iter()
        .filter(|s| realised.contains_key(&s.step.start))
    {
        let entry = best.entry(s.step.start).or_insert(s);
        if (s.step.lead_days, std::cmp::Reverse(s.made_at))
            < (entry.step.lead_days, std::cmp::Reverse(entry.made_at))
        {
            *entry = s;
        }
    }
    if best.is_empty() {
        return None;
    }
    let mut starts: Vec<&Timestamp> = best.keys().collect();
    starts.sort();
    let actual: Vec<f64> = starts.iter().map(|t| realised[*t]).collect();
    let steps: Vec<&ForecastStep> = starts.iter().map(|t| &best[*t].step).collect();
    let predicted: Vec<f64> = steps.iter().map(|s| s.predicted).collect();
    let lower: Vec<f64> = steps.iter().map(|s| s.lower).collect();
    let upper: Vec<f64> = steps.iter().map(|s| s.upper).collect();
    Some(LiveAccuracy {
        days,
        points: actual.len(),
        mae: mae(&actual, &predicted),
        smape: smape(&actual, &predicted),
        coverage: coverage(&actual, &lower, &upper),
    })
}

#[cfg(test)]
mod tests;
