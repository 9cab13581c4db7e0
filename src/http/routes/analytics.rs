//! Derived price views: trends and peak hours over stored history, and the cheapest windows
//! over the known future (the day-ahead prices already published, from the cache).

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use jiff::{SignedDuration, Timestamp};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use wattline_actors::domain::peak::peak_hours;
use wattline_actors::domain::stats::{TrendDirection, trend};
use wattline_actors::domain::window::{PricedInterval, cheapest_windows};
use wattline_actors::domain::{Currency, EnergyUnit, Region};

use super::prices::provenance;
use crate::error::ApiError;
use crate::http::dto::Provenance;
use crate::http::extract::AppQuery;
use crate::http::horizon;
use crate::http::params::{bounded, quarter_hours, trailing_days};
use crate::http::series::{Sources, series};
use crate::http::state::AppState;

/// A trend moves when the last third differs from the first by more than this (percent).
const TREND_THRESHOLD_PERCENT: Decimal = Decimal::from_parts(5, 0, 0, false, 0);
/// An hour is peak (off-peak) when its average is this much above (below) the overall average.
const PEAK_BAND_PERCENT: Decimal = Decimal::from_parts(10, 0, 0, false, 0);

/// Routes under `/api/v1/prices` served by this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_price_trends))
        .routes(routes!(get_peak_hours))
        .routes(routes!(find_optimal_windows))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TrendQuery {
    region: String,
    /// Days back from now (1–90, default 7).
    #[param(minimum = 1, maximum = 90)]
    days: Option<u32>,
}

/// Direction and size of the price movement over a period.
#[derive(Debug, Serialize, ToSchema)]
pub struct TrendResponse {
    #[schema(value_type = String)]
    region: Region,
    period_days: u32,
    /// `increasing`, `decreasing` or `stable`; absent with fewer than three prices.
    #[schema(value_type = Option<String>)]
    direction: Option<TrendDirection>,
    #[schema(value_type = Option<String>)]
    change_percent: Option<Decimal>,
    /// Average of the first third of the period.
    #[schema(value_type = Option<String>)]
    start_price: Option<Decimal>,
    /// Average of the last third of the period.
    #[schema(value_type = Option<String>)]
    end_price: Option<Decimal>,
    data_points: usize,
    #[schema(value_type = String, format = DateTime)]
    generated_at: Timestamp,
    #[serde(flatten)]
    provenance: Provenance,
}

/// Price trend: the last third of the period against the first third (±5 % is stable).
#[utoipa::path(get, path = "/trends", params(TrendQuery), tag = "prices",
    responses((status = 200, body = TrendResponse), (status = 400, body = crate::http::dto::ErrorResponse)))]
pub async fn get_price_trends(
    State(state): State<AppState>,
    AppQuery(q): AppQuery<TrendQuery>,
) -> Result<Json<TrendResponse>, ApiError> {
    let region = state.region(&q.region)?;
    let days = bounded("days", q.days.unwrap_or(7), 1, 90)?;
    let now = state.now();
    let (start, end) = trailing_days(now, days);
    let points = series(&state, region, start, end, Sources::Served).await?;
    let t = trend(&points, TREND_THRESHOLD_PERCENT);
    Ok(Json(TrendResponse {
        region,
        period_days: days,
        direction: t.as_ref().map(|t| t.direction),
        change_percent: t.as_ref().and_then(|t| t.change_percent),
        start_price: t.as_ref().map(|t| t.start_price),
        end_price: t.as_ref().map(|t| t.end_price),
        data_points: points.len(),
        generated_at: now,
        provenance: provenance(&state, region, &points),
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PeakQuery {
    region: String,
    /// Days back from now (1–30, default 7).
    #[param(minimum = 1, maximum = 30)]
    days: Option<u32>,
}

/// Peak and off-peak local hours.
#[derive(Debug, Serialize, ToSchema)]
pub struct PeakHoursResponse {
    #[schema(value_type = String)]
    region: Region,
    period_days: u32,
    /// Hours are local to this zone.
    time_zone: &'static str,
    peak_hours: Vec<i8>,
    off_peak_hours: Vec<i8>,
    /// Local hour → time-weighted average price.
    #[schema(value_type = Object)]
    average_by_hour: BTreeMap<i8, Decimal>,
    #[schema(value_type = Option<String>)]
    overall_average: Option<Decimal>,
    #[schema(value_type = Option<String>)]
    peak_premium_percent: Option<Decimal>,
    #[schema(value_type = String, format = DateTime)]
    generated_at: Timestamp,
    #[serde(flatten)]
    provenance: Provenance,
}

/// Local hours whose average is 10 % above (peak) or below (off-peak) the period's average.
#[utoipa::path(get, path = "/peak-hours", params(PeakQuery), tag = "prices",
    responses((status = 200, body = PeakHoursResponse), (status = 400, body = crate::http::dto::ErrorResponse)))]
pub async fn get_peak_hours(
    State(state): State<AppState>,
    AppQuery(q): AppQuery<PeakQuery>,
) -> Result<Json<PeakHoursResponse>, ApiError> {
    let region = state.region(&q.region)?;
    let days = bounded("days", q.days.unwrap_or(7), 1, 30)?;
    let now = state.now();
    let (start, end) = trailing_days(now, days);
    let points = series(&state, region, start, end, Sources::Served).await?;
    let analysis = peak_hours(&points, PEAK_BAND_PERCENT);
    Ok(Json(PeakHoursResponse {
        region,
        period_days: days,
        time_zone: region.time_zone_name(),
        peak_hours: analysis
            .as_ref()
            .map(|a| a.peak_hours.clone())
            .unwrap_or_default(),
        off_peak_hours: analysis
            .as_ref()
            .map(|a| a.off_peak_hours.clone())
            .unwrap_or_default(),
        average_by_hour: analysis
            .as_ref()
            .map(|a| a.average_by_hour.clone())
            .unwrap_or_default(),
        overall_average: analysis.as_ref().map(|a| a.overall_average),
        peak_premium_percent: analysis.and_then(|a| a.peak_premium_percent),
        generated_at: now,
        provenance: provenance(&state, region, &points),
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct WindowQuery {
    region: String,
    /// Length of the run in hours, a multiple of 0.25 up to 24 (default 2).
    #[param(value_type = Option<f64>, minimum = 0.25, maximum = 24, multiple_of = 0.25, example = 2)]
    duration_hours: Option<Decimal>,
    /// How far ahead to search, in hours (1–168, default 24).
    #[param(minimum = 1, maximum = 168)]
    within_hours: Option<u32>,
    /// How many non-overlapping windows to return (1–10, default 5).
    #[param(minimum = 1, maximum = 10)]
    count: Option<u32>,
    /// Search the forecast beyond the published prices too (default true).
    include_forecast: Option<bool>,
}

/// One cheapest window.
#[derive(Debug, Serialize, ToSchema)]
pub struct WindowDto {
    rank: usize,
    #[schema(value_type = String, format = DateTime)]
    start: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    end: Timestamp,
    /// Time-weighted average price over the window.
    #[schema(value_type = String)]
    avg_price: Decimal,
    intervals: usize,
    /// Which prices the window is made of: `day_ahead` (published), `forecast`, or `mixed`.
    kind: &'static str,
    /// The price of each interval in the window, in order (the older API's `prices`).
    #[schema(value_type = Vec<String>)]
    prices: Vec<Decimal>,
}

/// The cheapest windows ahead.
#[derive(Debug, Serialize, ToSchema)]
pub struct WindowsResponse {
    #[schema(value_type = String)]
    region: Region,
    #[schema(value_type = String)]
    duration_hours: Decimal,
    within_hours: u32,
    /// End of the last known or forecast price: windows cannot reach past it.
    #[schema(value_type = Option<String>, format = DateTime)]
    horizon_end: Option<Timestamp>,
    /// End of the published prices; windows after it use the forecast.
    #[schema(value_type = Option<String>, format = DateTime)]
    published_until: Option<Timestamp>,
    /// The forecast model used beyond the published prices, if any.
    forecast_model: Option<String>,
    #[schema(value_type = Option<String>)]
    currency: Option<Currency>,
    #[schema(value_type = Option<String>)]
    unit: Option<EnergyUnit>,
    windows: Vec<WindowDto>,
    #[schema(value_type = String, format = DateTime)]
    generated_at: Timestamp,
    #[serde(flatten)]
    provenance: Provenance,
}

/// Cheapest contiguous windows over the known future (the current interval onwards), extended
/// by the forecast beyond the published prices unless `include_forecast=false`.
#[utoipa::path(get, path = "/optimal-windows", params(WindowQuery), tag = "prices",
    responses((status = 200, body = WindowsResponse), (status = 400, body = crate::http::dto::ErrorResponse)))]
pub async fn find_optimal_windows(
    State(state): State<AppState>,
    AppQuery(q): AppQuery<WindowQuery>,
) -> Result<Json<WindowsResponse>, ApiError> {
    let region = state.region(&q.region)?;
    let duration_hours = q.duration_hours.unwrap_or(Decimal::TWO);
    let minutes = quarter_hours("duration_hours", duration_hours, 24)?;
    let within_hours = bounded("within_hours", q.within_hours.unwrap_or(24), 1, 168)?;
    let count = bounded("count", q.count.unwrap_or(5), 1, 10)? as usize;
    let now = state.now();
    let until = now + SignedDuration::from_hours(i64::from(within_hours));
    let ahead = horizon::ahead(&state, region, q.include_forecast.unwrap_or(true)).await?;
    let searched: Vec<_> = ahead
        .intervals
        .iter()
        .filter(|p| p.end() <= until)
        .cloned()
        .collect();
    let windows = cheapest_windows(&searched, minutes, count);
    let published: Vec<_> = state
        .latest()
        .snapshot()
        .series(region)
        .iter()
        .filter(|p| p.end() > now && p.end() <= until)
        .cloned()
        .collect();
    let kind = |start: Timestamp, end: Timestamp| match ahead.published_until {
        Some(published) if end <= published => "day_ahead",
        Some(published) if start < published => "mixed",
        _ => "forecast",
    };
    Ok(Json(WindowsResponse {
        region,
        duration_hours,
        within_hours,
        horizon_end: ahead.end(),
        published_until: ahead.published_until,
        forecast_model: ahead
            .forecast_model
            .clone()
            .filter(|_| searched.iter().any(|i| i.forecast)),
        currency: (!searched.is_empty()).then_some(ahead.currency),
        unit: (!searched.is_empty()).then_some(ahead.unit),
        windows: windows
            .into_iter()
            .enumerate()
            .map(|(i, w)| WindowDto {
                rank: i + 1,
                start: w.start,
                end: w.end,
                avg_price: w.avg_price,
                intervals: w.intervals,
                kind: kind(w.start, w.end),
                prices: searched
                    .iter()
                    .filter(|i| i.start >= w.start && i.start < w.end)
                    .map(|i| i.price)
                    .collect(),
            })
            .collect(),
        generated_at: now,
        provenance: provenance(&state, region, &published),
    }))
}
