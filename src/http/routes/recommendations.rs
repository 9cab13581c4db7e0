//! `/api/v1/recommendations` (bearer): computed from the user's stored preferences, the
//! catalogue, the published prices and the forecast; each answer says why.

use axum::Json;
use axum::extract::State;
use jiff::{SignedDuration, Timestamp};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use wattline_actors::domain::preferences::{Preferences, ShapeName};
use wattline_actors::domain::tariff::per_kwh;
use wattline_actors::domain::window::cheapest_windows;
use wattline_actors::domain::{Currency, EnergyUnit, Region};

use crate::error::ApiError;
use crate::http::bearer::Bearer;
use crate::http::dto::ErrorResponse;
use crate::http::extract::AppQuery;
use crate::http::horizon;
use crate::http::params::quarter_hours;
use crate::http::routes::preferences::stored;
use crate::http::routes::suppliers::{CompareRequest, ComparisonDto, run_comparison};
use crate::http::state::AppState;

/// Routes under `/api/v1/recommendations`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(switching))
        .routes(routes!(usage))
}

/// Whether (and where) to switch.
#[derive(Debug, Serialize, ToSchema)]
pub struct SwitchingRecommendation {
    region: String,
    current_tariff_id: String,
    /// The current tariff's annual cost for the stored profile.
    #[schema(value_type = Option<String>)]
    current_annual_cost: Option<Decimal>,
    /// The cheapest tariff, when it is not the current one.
    recommended_tariff_id: Option<String>,
    recommended_supplier_id: Option<String>,
    #[schema(value_type = Option<String>)]
    recommended_annual_cost: Option<Decimal>,
    /// Per year, in the tariffs' currency.
    #[schema(value_type = String)]
    annual_saving: Decimal,
    why: String,
    /// The comparison it rests on.
    comparison: ComparisonDto,
}

/// The cheapest tariff for the stored profile against the current one, with the yearly saving.
#[utoipa::path(get, path = "/switching", tag = "recommendations", security(("bearer" = [])),
    responses((status = 200, body = SwitchingRecommendation), (status = 401, body = ErrorResponse),
              (status = 422, body = ErrorResponse)))]
pub async fn switching(
    State(state): State<AppState>,
    Bearer(claims): Bearer,
) -> Result<Json<SwitchingRecommendation>, ApiError> {
    let prefs = stored(&state, &claims.sub).await?;
    let mut missing = Vec::new();
    if prefs.region.is_none() {
        missing.push("region");
    }
    if prefs.current_tariff_id.is_none() {
        missing.push("current_tariff_id");
    }
    let (Some(region), Some(current)) = (prefs.region, prefs.current_tariff_id.clone()) else {
        return Err(ApiError::IncompleteProfile { missing });
    };
    let comparison = run_comparison(&state, comparison_request(region, &prefs, &current)).await?;
    let current_cost = comparison
        .tariffs
        .iter()
        .find(|t| t.tariff_id == current)
        .map(|t| t.annual_cost);
    let best = comparison.tariffs.first();
    let (recommended, why, saving) = match (best, current_cost) {
        (None, _) => (
            None,
            "no tariff of the region could be priced for your profile".to_string(),
            Decimal::ZERO,
        ),
        (Some(best), Some(current_cost))
            if best.tariff_id == current || best.annual_cost >= current_cost =>
        {
            (
                None,
                format!(
                    "your tariff is already the cheapest of the {} priced for {} kWh a year ({} shape)",
                    comparison.tariffs.len(),
                    comparison.profile.annual_kwh,
                    comparison.profile.shape
                ),
                Decimal::ZERO,
            )
        }
        (Some(best), Some(current_cost)) => (
            Some(best),
            format!(
                "{} ({}) costs {} {} a year for {} kWh ({} shape) against {} on your tariff; \
                 {} tariffs compared{}",
                best.tariff_name,
                best.supplier_id,
                best.annual_cost,
                best.currency,
                comparison.profile.annual_kwh,
                comparison.profile.shape,
                current_cost,
                comparison.tariffs.len(),
                if comparison.prices.days > 0.0 {
                    format!(
                        ", wholesale-tracking ones over {} days of stored prices",
                        comparison.prices.days
                    )
                } else {
                    String::new()
                }
            ),
            current_cost - best.annual_cost,
        ),
        (Some(best), None) => (
            Some(best),
            format!(
                "your current tariff is no longer offered or cannot be priced; {} ({}) is the \
                 cheapest at {} {} a year",
                best.tariff_name, best.supplier_id, best.annual_cost, best.currency
            ),
            Decimal::ZERO,
        ),
    };
    Ok(Json(SwitchingRecommendation {
        region: region.code().into(),
        current_tariff_id: current,
        current_annual_cost: current_cost,
        recommended_tariff_id: recommended.map(|r| r.tariff_id.clone()),
        recommended_supplier_id: recommended.map(|r| r.supplier_id.clone()),
        recommended_annual_cost: recommended.map(|r| r.annual_cost),
        annual_saving: saving,
        why,
        comparison,
    }))
}

fn comparison_request(region: Region, prefs: &Preferences, current: &str) -> CompareRequest {
    let consumption = &prefs.consumption;
    CompareRequest {
        region: region.code().into(),
        annual_kwh: consumption.annual_kwh,
        shape: Some(consumption.shape),
        hourly_weights: match consumption.shape {
            ShapeName::Custom => consumption.hourly_weights.clone(),
            _ => None,
        },
        consumption_csv: None,
        tariff_type: None,
        green_only: prefs.green_only,
        current_tariff_id: Some(current.to_string()),
    }
}

/// Which appliance run to plan.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct UsageQuery {
    /// A stored appliance's name (its power and duration are used), or any name with
    /// `duration_hours`.
    appliance: Option<String>,
    /// 0.25–24 in quarter hours (default: the stored appliance's).
    #[param(value_type = Option<f64>)]
    duration_hours: Option<Decimal>,
}

/// When to run an appliance.
#[derive(Debug, Serialize, ToSchema)]
pub struct UsageRecommendation {
    region: String,
    appliance: Option<String>,
    duration_hours: f64,
    /// The stored appliance's power (1 kW when none is stored).
    power_kw: f64,
    #[schema(value_type = String, format = DateTime)]
    start: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    end: Timestamp,
    /// `day_ahead` (published prices only), `forecast` or `mixed`.
    basis: &'static str,
    /// Average price of the recommended window and of starting now, per `unit`.
    #[schema(value_type = String)]
    average_price: Decimal,
    #[schema(value_type = String)]
    start_now_average_price: Decimal,
    #[schema(value_type = String)]
    currency: Currency,
    #[schema(value_type = String)]
    unit: EnergyUnit,
    /// Money saved against starting now, in `currency` (wholesale prices: before retail margins).
    #[schema(value_type = String)]
    saving: Decimal,
    why: String,
}

/// The cheapest start in the next 24 hours from the published prices and the forecast, with the
/// saving against starting now.
#[utoipa::path(get, path = "/usage", params(UsageQuery), tag = "recommendations", security(("bearer" = [])),
    responses((status = 200, body = UsageRecommendation), (status = 401, body = ErrorResponse),
              (status = 422, body = ErrorResponse)))]
pub async fn usage(
    State(state): State<AppState>,
    Bearer(claims): Bearer,
    AppQuery(query): AppQuery<UsageQuery>,
) -> Result<Json<UsageRecommendation>, ApiError> {
    let prefs = stored(&state, &claims.sub).await?;
    let stored_appliance = query.appliance.as_deref().and_then(|a| prefs.appliance(a));
    let mut missing = Vec::new();
    if prefs.region.is_none() {
        missing.push("region");
    }
    let duration = match (query.duration_hours, stored_appliance) {
        (Some(hours), _) => Some(hours),
        (None, Some(a)) => Decimal::try_from(a.duration_hours).ok(),
        (None, None) => {
            missing.push("duration_hours (or a stored appliance named by `appliance`)");
            None
        }
    };
    let (Some(region), Some(duration)) = (prefs.region, duration) else {
        return Err(ApiError::IncompleteProfile { missing });
    };
    let minutes = quarter_hours("duration_hours", duration, 24)?;
    let region = state.region(region.code())?;
    let power_kw = stored_appliance.map_or(1.0, |a| a.power_kw);
    let now = state.now();
    let until = now + SignedDuration::from_hours(24 + i64::from(minutes) / 60);
    let ahead = horizon::ahead(&state, region, true).await?;
    let searched: Vec<_> = ahead
        .intervals
        .iter()
        .filter(|p| p.start + SignedDuration::from_mins(i64::from(p.minutes)) <= until)
        .cloned()
        .collect();
    let best = cheapest_windows(&searched, minutes, 1).into_iter().next();
    // Starting now: the window from the current interval on.
    let mut covered = 0;
    let first = searched
        .iter()
        .take_while(|p| {
            let take = covered < minutes;
            covered += p.minutes;
            take
        })
        .count();
    let now_window = cheapest_windows(&searched[..first], minutes, 1)
        .into_iter()
        .next();
    let (Some(best), Some(now_window)) = (best, now_window) else {
        return Err(ApiError::PriceUnavailable {
            region,
            state: format!(
                "without {} hours of published or forecast prices ahead",
                duration
            ),
        });
    };
    let kwh = Decimal::try_from(power_kw).unwrap_or(Decimal::ONE) * duration;
    let saving =
        ((per_kwh(now_window.avg_price, ahead.unit) - per_kwh(best.avg_price, ahead.unit)) * kwh)
            .round_dp(2);
    let basis = match ahead.published_until {
        Some(published) if best.end <= published => "day_ahead",
        Some(published) if best.start < published => "mixed",
        _ => "forecast",
    };
    let why = if best.start == now_window.start {
        format!("now is already the cheapest time to run {duration} h in the next 24 hours")
    } else {
        format!(
            "the {duration} h from {} average {} {}/{} against {} if started now: {} {} less for {} kWh ({})",
            best.start,
            best.avg_price.round_dp(2),
            ahead.currency,
            ahead.unit,
            now_window.avg_price.round_dp(2),
            saving,
            ahead.currency,
            kwh.round_dp(2),
            match basis {
                "day_ahead" => "published prices",
                "mixed" => "published prices and the forecast",
                _ => "the forecast",
            }
        )
    };
    Ok(Json(UsageRecommendation {
        region: region.code().into(),
        appliance: query.appliance,
        duration_hours: duration.try_into().unwrap_or_default(),
        power_kw,
        start: best.start,
        end: best.end,
        basis,
        average_price: best.avg_price,
        start_now_average_price: now_window.avg_price,
        currency: ahead.currency,
        unit: ahead.unit,
        saving,
        why,
    }))
}
