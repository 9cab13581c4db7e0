//! `POST /ml/predict/optimal-times`: the N cheapest non-overlapping start times for a run of any
//! length up to 24 h, on a 15-minute grid, between an earliest start and a latest end, over the
//! published prices and the forecast beyond them.

use axum::Json;
use axum::extract::State;
use jiff::{SignedDuration, Timestamp};
use rust_decimal::Decimal;
use rust_decimal::prelude::FromPrimitive;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use wattline_actors::domain::schedule::cheapest_runs;
use wattline_actors::domain::{Currency, EnergyUnit, Region};

use crate::error::ApiError;
use crate::http::compat::ml_region;
use crate::http::dto::ErrorResponse;
use crate::http::extract::AppJson;
use wattline_actors::domain::horizon::{Ahead, SLOT_MINUTES, Slot, ceil_to_slot, kind_of};

use crate::http::horizon::ahead;
use crate::http::params::{body_instant, not_past, run_slots, time_zone};
use crate::http::state::AppState;

/// Routes under `/api/v1/ml`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(predict_optimal_times))
}

/// Where to look for the cheapest start times.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OptimalTimesRequest {
    /// A region code; the older upper-case `UK`, `GERMANY`, `FRANCE`, `SPAIN` are accepted too.
    region: String,
    /// Run length in minutes: a multiple of 15, up to 1440 (this or `duration_hours`).
    #[schema(minimum = 15, maximum = 1440, multiple_of = 15)]
    duration_minutes: Option<u32>,
    /// The older spelling: run length in hours, 0.25–24 in quarter hours.
    #[schema(minimum = 0.25, maximum = 24, multiple_of = 0.25)]
    duration_hours: Option<f64>,
    /// How many non-overlapping start times (1–10, default 3); the older name `num_slots` is
    /// accepted.
    #[serde(alias = "num_slots")]
    #[schema(minimum = 1, maximum = 10)]
    count: Option<u32>,
    /// Earliest start (default now): RFC 3339 with offset, or local in `time_zone`.
    earliest_start: Option<String>,
    /// The run must end by then (default: as far as prices are known or forecast).
    latest_end: Option<String>,
    /// IANA zone for local times in the request and the answer (default: the region's).
    time_zone: Option<String>,
    /// Appliance power, to price each run (optional).
    #[schema(exclusive_minimum = 0, maximum = 1000)]
    power_kw: Option<f64>,
    /// Search the forecast beyond the published prices too (default true).
    include_forecast: Option<bool>,
}

/// One candidate run.
#[derive(Debug, Serialize, ToSchema)]
pub struct StartTimeDto {
    rank: usize,
    #[schema(value_type = String, format = DateTime)]
    start: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    end: Timestamp,
    /// Start in the request's time zone, e.g. "2026-01-16T02:15:00+01:00[Europe/Berlin]".
    start_local: String,
    /// Time-weighted average price over the run, per the region's unit.
    #[schema(value_type = String)]
    avg_price: Decimal,
    /// Cost of the run at `power_kw`, in the region's currency.
    #[schema(value_type = Option<String>)]
    cost: Option<Decimal>,
    /// `day_ahead` (published prices), `forecast`, or `mixed`.
    kind: &'static str,
}

/// The cheapest start times.
#[derive(Debug, Serialize, ToSchema)]
pub struct OptimalTimesResponse {
    #[schema(value_type = String)]
    region: Region,
    duration_minutes: u32,
    #[schema(value_type = String, format = DateTime)]
    earliest_start: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    latest_end: Timestamp,
    #[schema(value_type = String)]
    currency: Currency,
    #[schema(value_type = String)]
    unit: EnergyUnit,
    #[schema(value_type = Option<String>, format = DateTime)]
    published_until: Option<Timestamp>,
    /// The forecast model searched beyond the published prices, if any.
    forecast_model: Option<String>,
    times: Vec<StartTimeDto>,
    #[schema(value_type = String, format = DateTime)]
    generated_at: Timestamp,
    /// The older keys: the run length asked, the runs as `optimal_slots`, and how much cheaper
    /// the best run is than the average price over the searched span, in percent.
    requested_duration_hours: f64,
    optimal_slots: Vec<OlderSlot>,
    #[schema(value_type = Option<String>)]
    potential_savings_percent: Option<Decimal>,
}

/// A run as the older API listed it.
#[derive(Debug, Serialize, ToSchema)]
pub struct OlderSlot {
    start_time: String,
    end_time: String,
    duration_hours: f64,
    /// Per the region's unit, as `avg_price`.
    #[schema(value_type = String)]
    average_price: Decimal,
    /// Cost of the run at `power_kw` (at 1 kW when no power was given).
    #[schema(value_type = String)]
    total_cost: Decimal,
    rank: usize,
}

/// The N cheapest start times over known and forecast prices.
#[utoipa::path(post, path = "/predict/optimal-times", request_body = OptimalTimesRequest, tag = "ml",
    responses((status = 200, body = OptimalTimesResponse), (status = 400, body = ErrorResponse),
              (status = 422, body = ErrorResponse), (status = 503, body = ErrorResponse)))]
pub async fn predict_optimal_times(
    State(state): State<AppState>,
    AppJson(request): AppJson<OptimalTimesRequest>,
) -> Result<Json<OptimalTimesResponse>, ApiError> {
    let region = ml_region(&state, &request.region)?;
    let minutes = duration_minutes(request.duration_minutes, request.duration_hours)?;
    let run_length = run_slots(
        if request.duration_minutes.is_some() {
            "duration_minutes"
        } else {
            "duration_hours"
        },
        minutes,
    )?;
    let count = request.count.unwrap_or(3);
    if !(1..=10).contains(&count) {
        return Err(ApiError::invalid_field(
            "count",
            format!("must be between 1 and 10, got {count}"),
        ));
    }
    if let Some(power) = request.power_kw
        && !(power > 0.0 && power <= 1000.0)
    {
        return Err(ApiError::invalid_field(
            "power_kw",
            "must be above 0 and at most 1000",
        ));
    }
    let tz = time_zone("time_zone", request.time_zone.as_deref(), region)?;
    let now = state.now();
    let earliest = match &request.earliest_start {
        None => now,
        Some(text) => not_past(
            "earliest_start",
            body_instant("earliest_start", text, &tz)?,
            now,
        )?,
    };
    let ahead = ahead(&state, region, request.include_forecast.unwrap_or(true)).await?;
    let horizon_end = ahead.end().ok_or(ApiError::PriceUnavailable {
        region,
        state: "without prices ahead".into(),
    })?;
    let latest_end = match &request.latest_end {
        None => horizon_end,
        Some(text) => body_instant("latest_end", text, &tz)?,
    };
    if latest_end > horizon_end {
        return Err(ApiError::invalid_field(
            "latest_end",
            format!("{latest_end} is beyond the known and forecast prices (until {horizon_end})"),
        ));
    }
    let first = ceil_to_slot(earliest);
    let run = SignedDuration::from_mins(i64::from(minutes));
    if latest_end < first + run {
        return Err(ApiError::invalid_field(
            "latest_end",
            format!("leaves less than {minutes} minutes after the earliest start {first}"),
        ));
    }
    let slots = ahead.quarter_hours(first, latest_end);
    let prices: Vec<f64> = slots.iter().map(|s| s.price_per_kwh).collect();
    let runs = cheapest_runs(&prices, run_length, count as usize);
    let times: Vec<StartTimeDto> = runs
        .iter()
        .enumerate()
        .map(|(i, run)| describe(i + 1, &slots[run.clone()], &ahead, &tz, request.power_kw))
        .collect();
    let hours = f64::from(minutes) / 60.0;
    let optimal_slots = runs
        .iter()
        .zip(&times)
        .map(|(run, time)| {
            let per_kwh = mean(&prices[run.clone()]);
            OlderSlot {
                start_time: time.start.to_string(),
                end_time: time.end.to_string(),
                duration_hours: hours,
                average_price: time.avg_price,
                total_cost: Decimal::from_f64(per_kwh * request.power_kw.unwrap_or(1.0) * hours)
                    .unwrap_or_default()
                    .round_dp(4),
                rank: time.rank,
            }
        })
        .collect();
    let potential_savings_percent = runs.first().and_then(|best| {
        let average = mean(&prices);
        (average > 0.0).then(|| {
            Decimal::from_f64((average - mean(&prices[best.clone()])) / average * 100.0)
                .unwrap_or_default()
                .round_dp(2)
        })
    });
    Ok(Json(OptimalTimesResponse {
        region,
        duration_minutes: minutes,
        requested_duration_hours: hours,
        optimal_slots,
        potential_savings_percent,
        earliest_start: first,
        latest_end,
        currency: ahead.currency,
        unit: ahead.unit,
        published_until: ahead.published_until,
        forecast_model: ahead.forecast_model.clone(),
        times,
        generated_at: now,
    }))
}

fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len().max(1) as f64
}

/// The run length from `duration_minutes` or the older `duration_hours` (exactly one).
fn duration_minutes(minutes: Option<u32>, hours: Option<f64>) -> Result<u32, ApiError> {
    match (minutes, hours) {
        (Some(minutes), None) => Ok(minutes),
        (None, Some(hours)) if hours.is_finite() && hours > 0.0 && hours <= 24.0 => {
            let minutes = hours * 60.0;
            if (minutes / 15.0).fract() != 0.0 {
                return Err(ApiError::invalid_field(
                    "duration_hours",
                    format!("must be a whole number of quarter hours, got {hours}"),
                ));
            }
            Ok(minutes as u32)
        }
        (None, Some(hours)) => Err(ApiError::invalid_field(
            "duration_hours",
            format!("must be above 0 and at most 24, got {hours}"),
        )),
        (None, None) => Err(ApiError::invalid_field(
            "duration_minutes",
            "required (or the older duration_hours)",
        )),
        (Some(_), Some(_)) => Err(ApiError::invalid_field(
            "duration_hours",
            "send duration_minutes or duration_hours, not both",
        )),
    }
}

fn describe(
    rank: usize,
    run: &[Slot],
    ahead: &Ahead,
    tz: &jiff::tz::TimeZone,
    power_kw: Option<f64>,
) -> StartTimeDto {
    let per_kwh = run.iter().map(|s| s.price_per_kwh).sum::<f64>() / run.len() as f64;
    let (unit_factor, decimals) = (ahead.unit.kwh(), ahead.unit.price_decimals());
    let hours = run.len() as f64 * f64::from(SLOT_MINUTES) / 60.0;
    let start = run[0].start;
    StartTimeDto {
        rank,
        start,
        end: start + SignedDuration::from_mins(i64::from(SLOT_MINUTES) * run.len() as i64),
        start_local: start.to_zoned(tz.clone()).to_string(),
        avg_price: Decimal::from_f64(per_kwh * unit_factor)
            .unwrap_or_default()
            .round_dp(decimals),
        cost: power_kw.map(|p| {
            Decimal::from_f64(per_kwh * p * hours)
                .unwrap_or_default()
                .round_dp(4)
        }),
        kind: kind_of(run),
    }
}
