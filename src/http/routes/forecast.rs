//! Forecasts from the ForecastActor's memory: `GET /prices/forecast`, `POST /ml/predict/price`
//! (the same steps, with an optional later start) and `GET /ml/predict/model-info`.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use jiff::{SignedDuration, Timestamp};
use rust_decimal::Decimal;
use rust_decimal::prelude::FromPrimitive;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use wattline_actors::domain::{Currency, EnergyUnit, Region};
use wattline_actors::forecaster::{ForecastLookup, ModelState, ModelSummary, RegionForecast};

use crate::error::ApiError;
use crate::http::compat::{OlderPrediction, ml_region};
use crate::http::dto::ErrorResponse;
use crate::http::extract::{AppJson, AppQuery};
use crate::http::params::{body_instant, bounded, not_past, time_zone};
use crate::http::state::AppState;
use crate::http::tier::check_forecast_reach;
use wattline_actors::domain::horizon::MAX_INTERVAL_MINUTES;

/// Longest forecast horizon, in hours.
const MAX_HOURS: u32 = 168;

/// Routes under `/api/v1/prices`.
pub fn prices_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_price_forecast))
}

/// Routes under `/api/v1/ml`.
pub fn ml_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(predict_price))
        .routes(routes!(get_model_info))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ForecastQuery {
    region: String,
    /// Hours ahead of now (1–168, default 24).
    #[param(minimum = 1, maximum = 168)]
    hours: Option<u32>,
}

/// Forecast request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PredictPriceRequest {
    /// A region code; the older upper-case `UK`, `GERMANY`, `FRANCE`, `SPAIN` are accepted too.
    region: String,
    /// Hours of forecast from `start` (1–168, default 24); `start + hours` must be within 168 h
    /// of now. The older name `hours_ahead` is accepted.
    #[serde(alias = "hours_ahead")]
    #[schema(minimum = 1, maximum = 168)]
    hours: Option<u32>,
    /// The older flag: with `false`, the older `predictions` carry no confidence bounds.
    include_confidence: Option<bool>,
    /// From when (default now): RFC 3339 with offset, or a local date-time in `time_zone`.
    start: Option<String>,
    /// IANA zone of a local `start` (default: the region's).
    time_zone: Option<String>,
}

/// One forecast interval. Prices are decimal strings in the region's currency per unit.
#[derive(Debug, Serialize, ToSchema)]
pub struct ForecastStepDto {
    #[schema(value_type = String, format = DateTime)]
    start: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    end: Timestamp,
    #[schema(value_type = String, example = "74.31")]
    predicted_price: Decimal,
    /// Lower bound of the prediction interval.
    #[schema(value_type = String)]
    lower: Decimal,
    /// Upper bound of the prediction interval.
    #[schema(value_type = String)]
    upper: Decimal,
    /// Days after the newest published day (1 = the first unpublished day).
    lead_days: u32,
}

/// The model behind a forecast.
#[derive(Debug, Serialize, ToSchema)]
pub struct ForecastModelDto {
    kind: String,
    version: String,
    #[schema(value_type = String, format = DateTime)]
    calibrated_at: Timestamp,
    /// Last local day of the training data.
    #[schema(value_type = String, format = Date)]
    data_to: jiff::civil::Date,
}

/// Forecast steps beyond the published day-ahead prices.
#[derive(Debug, Serialize, ToSchema)]
pub struct ForecastResponse {
    #[schema(value_type = String)]
    region: Region,
    hours: u32,
    #[schema(value_type = String, format = DateTime)]
    from: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    to: Timestamp,
    /// End of the published prices: steps start at or after it (published prices are served by
    /// `/prices/current` and `/prices/history`, never forecast).
    #[schema(value_type = Option<String>, format = DateTime)]
    published_until: Option<Timestamp>,
    #[schema(value_type = String)]
    currency: Currency,
    #[schema(value_type = String)]
    unit: EnergyUnit,
    /// Quantiles of the prediction interval, e.g. [0.1, 0.9].
    interval: [f64; 2],
    model: ForecastModelDto,
    steps: Vec<ForecastStepDto>,
    /// Always "forecast": these are model outputs, not market prices.
    kind: &'static str,
    #[schema(value_type = String, format = DateTime)]
    generated_at: Timestamp,
    /// The older API's keys for the same forecast (`GET /prices/forecast`: `forecast`,
    /// `horizon_hours`, `confidence`, `source`; `POST /ml/predict/price`: `forecast_time`,
    /// `model_version`, `predictions`, `accuracy_mape`).
    #[serde(flatten)]
    older: OlderForecast,
}

/// The older keys of a forecast answer (only those of the route asked are present).
#[derive(Debug, Default, Serialize, ToSchema)]
pub struct OlderForecast {
    #[serde(skip_serializing_if = "Option::is_none")]
    horizon_hours: Option<u32>,
    /// Nominal coverage of the prediction interval (0.8 for 10–90 %).
    #[serde(skip_serializing_if = "Option::is_none")]
    confidence: Option<f64>,
    /// `model`: these prices come from the forecast model.
    #[serde(skip_serializing_if = "Option::is_none")]
    source: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    forecast: Option<OlderForecastBody>,
    #[serde(skip_serializing_if = "Option::is_none")]
    forecast_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    model_version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    predictions: Option<Vec<OlderPrediction>>,
    /// The older `accuracy_mape`, measured as sMAPE in percent (plain MAPE is unbounded near the
    /// zero and negative prices these markets have): live once stored forecasts met realised
    /// prices, else null.
    #[serde(skip_serializing_if = "Option::is_none")]
    accuracy_mape: Option<Option<f64>>,
}

/// The older nested `forecast` object of `GET /prices/forecast`.
#[derive(Debug, Serialize, ToSchema)]
pub struct OlderForecastBody {
    id: String,
    #[schema(value_type = String)]
    region: Region,
    generated_at: String,
    horizon_hours: u32,
    prices: Vec<OlderPrediction>,
    confidence: f64,
    model_version: String,
    source_api: &'static str,
}

/// Forecast of the next `hours` hours beyond the published prices, with prediction intervals.
/// Beyond `billing.free_forecast_hours` (48) the caller must be pro or business (bearer token)
/// or send an API key: otherwise 403 `tier_limit`.
#[utoipa::path(get, path = "/forecast", params(ForecastQuery), tag = "prices",
    security((), ("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = ForecastResponse), (status = 400, body = ErrorResponse),
              (status = 401, body = ErrorResponse), (status = 403, body = ErrorResponse),
              (status = 503, body = ErrorResponse)))]
pub async fn get_price_forecast(
    State(state): State<AppState>,
    headers: HeaderMap,
    AppQuery(q): AppQuery<ForecastQuery>,
) -> Result<Json<ForecastResponse>, ApiError> {
    let region = state.region(&q.region)?;
    let hours = bounded("hours", q.hours.unwrap_or(24), 1, MAX_HOURS)?;
    check_forecast_reach(&state, &headers, hours).await?;
    let now = state.now();
    let mut response = forecast_response(&state, region, now, hours).await?;
    let confidence = response.confidence();
    response.older = OlderForecast {
        horizon_hours: Some(hours),
        confidence: Some(confidence),
        source: Some("model"),
        forecast: Some(OlderForecastBody {
            id: format!("{}-{}", response.model.version, region.code()),
            region,
            generated_at: response.generated_at.to_string(),
            horizon_hours: hours,
            prices: response.predictions(true),
            confidence,
            model_version: response.model.version.clone(),
            source_api: "wattline",
        }),
        ..OlderForecast::default()
    };
    Ok(Json(response))
}

/// Price forecast for 1–168 hours (from now or a later start), each step with its interval.
/// Reaching past `billing.free_forecast_hours` (48) from now needs pro, business or an API key
/// (403 `tier_limit` otherwise).
#[utoipa::path(post, path = "/predict/price", request_body = PredictPriceRequest, tag = "ml",
    security((), ("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = ForecastResponse), (status = 400, body = ErrorResponse),
              (status = 401, body = ErrorResponse), (status = 403, body = ErrorResponse),
              (status = 422, body = ErrorResponse), (status = 503, body = ErrorResponse)))]
pub async fn predict_price(
    State(state): State<AppState>,
    headers: HeaderMap,
    AppJson(request): AppJson<PredictPriceRequest>,
) -> Result<Json<ForecastResponse>, ApiError> {
    let region = ml_region(&state, &request.region)?;
    let hours = request.hours.unwrap_or(24);
    if !(1..=MAX_HOURS).contains(&hours) {
        return Err(ApiError::invalid_field(
            "hours",
            format!("must be between 1 and {MAX_HOURS}, got {hours}"),
        ));
    }
    let now = state.now();
    let start = match &request.start {
        None => now,
        Some(text) => {
            let tz = time_zone("time_zone", request.time_zone.as_deref(), region)?;
            not_past("start", body_instant("start", text, &tz)?, now)?
        }
    };
    let to = start + hours_span(hours);
    if to > now + hours_span(MAX_HOURS) {
        return Err(ApiError::invalid_field(
            "hours",
            format!("start + hours reaches past {MAX_HOURS} hours from now"),
        ));
    }
    let reach = (to.duration_since(now).as_secs().max(0) as u64).div_ceil(3600) as u32;
    check_forecast_reach(&state, &headers, reach).await?;
    let mut response = forecast_response(&state, region, start, hours).await?;
    let live = state
        .forecasts()?
        .status()
        .await?
        .into_iter()
        .find(|s| s.region == region)
        .and_then(|s| s.model)
        .and_then(|m| m.live_accuracy)
        .map(|a| a.smape);
    response.older = OlderForecast {
        forecast_time: Some(response.generated_at.to_string()),
        model_version: Some(response.model.version.clone()),
        predictions: Some(response.predictions(request.include_confidence.unwrap_or(true))),
        accuracy_mape: Some(live),
        ..OlderForecast::default()
    };
    Ok(Json(response))
}

impl ForecastResponse {
    /// Nominal coverage of the interval, e.g. 0.8.
    fn confidence(&self) -> f64 {
        ((self.interval[1] - self.interval[0]) * 100.0).round() / 100.0
    }

    /// The steps as the older API listed them.
    fn predictions(&self, with_bounds: bool) -> Vec<OlderPrediction> {
        self.steps
            .iter()
            .map(|s| OlderPrediction {
                timestamp: s.start.to_string(),
                predicted_price: s.predicted_price,
                confidence_lower: with_bounds.then_some(s.lower),
                confidence_upper: with_bounds.then_some(s.upper),
                currency: self.currency.to_string(),
            })
            .collect()
    }
}

fn hours_span(hours: u32) -> SignedDuration {
    SignedDuration::from_hours(i64::from(hours))
}

/// The region's forecast, or why there is none yet.
pub async fn ready_forecast(
    state: &AppState,
    region: Region,
) -> Result<Arc<RegionForecast>, ApiError> {
    match state.forecasts()?.forecast(region).await? {
        ForecastLookup::Ready(forecast) => Ok(forecast),
        ForecastLookup::NotReady(not_ready) => {
            let statuses = state.forecasts()?.status().await?;
            Err(ApiError::ModelNotReady {
                region,
                ready: statuses.iter().filter(|s| s.model.is_some()).count(),
                of: statuses.len(),
                state: not_ready,
            })
        }
    }
}

async fn forecast_response(
    state: &AppState,
    region: Region,
    from: Timestamp,
    hours: u32,
) -> Result<ForecastResponse, ApiError> {
    let forecast = ready_forecast(state, region).await?;
    let to = from + hours_span(hours);
    let published_until = state
        .latest()
        .snapshot()
        .series(region)
        .iter()
        .filter(|p| p.duration_minutes <= MAX_INTERVAL_MINUTES)
        .map(|p| p.end())
        .max()
        .filter(|end| *end > state.now());
    let beyond = published_until.unwrap_or(from);
    let decimals = forecast.unit.price_decimals();
    let money = |v: f64| Decimal::from_f64(v).unwrap_or_default().round_dp(decimals);
    let steps = forecast
        .steps
        .iter()
        .filter(|s| s.start >= beyond && s.end() > from && s.start < to)
        .map(|s| ForecastStepDto {
            start: s.start,
            end: s.end(),
            predicted_price: money(s.predicted),
            lower: money(s.lower),
            upper: money(s.upper),
            lead_days: s.lead_days,
        })
        .collect();
    let interval = state.settings().forecast.interval_low;
    Ok(ForecastResponse {
        region,
        hours,
        from,
        to,
        published_until,
        currency: forecast.currency,
        unit: forecast.unit,
        interval: [interval, state.settings().forecast.interval_high],
        model: ForecastModelDto {
            kind: forecast.model.kind.clone(),
            version: forecast.model.version.clone(),
            calibrated_at: forecast.model.calibrated_at,
            data_to: forecast.model.data_to,
        },
        steps,
        kind: "forecast",
        generated_at: state.now(),
        older: OlderForecast::default(),
    })
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ModelInfoQuery {
    /// One region (default: every enabled region).
    region: Option<String>,
}

/// One region's model.
#[derive(Debug, Serialize, ToSchema)]
pub struct RegionModelDto {
    #[schema(value_type = String)]
    region: Region,
    /// `state`: `pending`, `calibrating`, `ready`, `not_enough_history` (with `have_days` and
    /// `need_days`) or `failed` (with `reason`).
    #[serde(flatten)]
    #[schema(value_type = Object)]
    state: ModelState,
    /// The model serving now: version, training window, windows, last recalibration, the
    /// out-of-sample MAE behind its intervals and the live accuracy of its stored forecasts.
    #[schema(value_type = Option<Object>)]
    model: Option<ModelSummary>,
}

/// Every region's forecast model.
#[derive(Debug, Serialize, ToSchema)]
pub struct ModelInfoResponse {
    /// The model family and what it uses.
    kind: &'static str,
    description: String,
    interval: [f64; 2],
    /// Days the live accuracy looks back over.
    accuracy_days: usize,
    regions: Vec<RegionModelDto>,
    #[schema(value_type = String, format = DateTime)]
    generated_at: Timestamp,
    /// The older API's single-model keys, for the region asked (or, without one, the most
    /// recently calibrated model).
    model_version: Option<String>,
    model_type: &'static str,
    forecast_horizon_hours: u32,
    update_frequency: &'static str,
    training_frequency: &'static str,
    /// When that model was calibrated.
    #[schema(value_type = Option<String>, format = DateTime)]
    last_updated: Option<Timestamp>,
    /// Its live sMAPE in percent, once stored forecasts met realised prices (else null).
    accuracy_mape: Option<f64>,
}

/// Model kind, version, training window, last recalibration and live accuracy per region.
#[utoipa::path(get, path = "/predict/model-info", params(ModelInfoQuery), tag = "ml",
    responses((status = 200, body = ModelInfoResponse), (status = 400, body = ErrorResponse), (status = 503, body = ErrorResponse)))]
pub async fn get_model_info(
    State(state): State<AppState>,
    AppQuery(q): AppQuery<ModelInfoQuery>,
) -> Result<Json<ModelInfoResponse>, ApiError> {
    let only = q
        .region
        .as_deref()
        .map(|r| ml_region(&state, r))
        .transpose()?;
    let statuses = state.forecasts()?.status().await?;
    let settings = &state.settings().forecast;
    let newest = statuses
        .iter()
        .filter(|s| only.is_none_or(|r| r == s.region))
        .filter_map(|s| s.model.as_ref())
        .max_by_key(|m| m.calibrated_at)
        .cloned();
    Ok(Json(ModelInfoResponse {
        model_version: newest.as_ref().map(|m| m.version.clone()),
        model_type: "lear",
        forecast_horizon_hours: settings.horizon_days.get() as u32 * 24,
        update_frequency: "recalibrated when a new day of prices is stored",
        training_frequency: "daily",
        last_updated: newest.as_ref().map(|m| m.calibrated_at),
        accuracy_mape: newest
            .as_ref()
            .and_then(|m| m.live_accuracy.as_ref())
            .map(|a| a.smape),
        kind: "lear",
        description: format!(
            "LEAR (Lago et al. 2021): per-period lasso on prices of d-1, d-2, d-3, d-7 and weekday dummies, \
             median/MAD + asinh scaled, penalty by {} on the LARS path, recalibrated daily on windows of {:?} days \
             (capped by the history held), combined per period with weights 1/MSE over each window's last {} \
             published days; intervals from recent out-of-sample errors per period and lead day.",
            settings.criterion.name(),
            settings.windows,
            settings.combine_days
        ),
        interval: [settings.interval_low, settings.interval_high],
        accuracy_days: settings.accuracy_days.get(),
        regions: statuses
            .into_iter()
            .filter(|s| only.is_none_or(|r| r == s.region))
            .map(|s| RegionModelDto {
                region: s.region,
                state: s.state,
                model: s.model,
            })
            .collect(),
        generated_at: state.now(),
    }))
}
