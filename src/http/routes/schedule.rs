//! `POST /optimization/schedule` and `POST /ml/predict/savings`: several appliances on the
//! 15-minute grid of known and forecast prices, under a shared power limit and mutual
//! exclusions. The plan comes from the exact MILP when the problem is small and from the stated
//! heuristic beyond; savings are against starting each appliance at its earliest start.

use axum::Json;
use axum::extract::State;
use jiff::{SignedDuration, Timestamp};
use rust_decimal::Decimal;
use rust_decimal::prelude::{FromPrimitive, ToPrimitive};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use wattline_actors::domain::horizon::{Ahead, SLOT_MINUTES, Slot, kind_of};
use wattline_actors::domain::schedule::request::SLOT_HOURS;
use wattline_actors::domain::schedule::{self, Method, Schedule, SolverStatus, runs};
use wattline_actors::domain::{Currency, Region};

use crate::error::ApiError;
use crate::http::compat::ml_region;
use crate::http::dto::ErrorResponse;
use crate::http::extract::AppJson;
use crate::http::horizon::ahead;
use crate::http::params::{body_instant, time_zone};
use crate::http::state::AppState;

/// Routes under `/api/v1/optimization`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(optimize_schedule))
}

/// Routes under `/api/v1/ml`.
pub fn ml_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(predict_savings))
}

/// How an appliance may run.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum RunModeDto {
    /// One uninterrupted run (default).
    Contiguous,
    /// Any blocks of at least `min_run_minutes`.
    Splittable,
}

/// One appliance to schedule.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApplianceRequest {
    /// Unique within the request.
    name: String,
    /// Rated power while running, kW.
    #[schema(exclusive_minimum = 0, maximum = 1000)]
    power_kw: f64,
    /// Run time in minutes (a multiple of 15); or give `duration_hours` or `energy_kwh`.
    #[schema(minimum = 15, maximum = 1440, multiple_of = 15)]
    duration_minutes: Option<u32>,
    /// Run time in hours (the older spelling), above 0 and at most 24; rounded up to whole
    /// quarter hours.
    #[schema(exclusive_minimum = 0, maximum = 24)]
    duration_hours: Option<f64>,
    /// Energy needed; run time = energy / power, rounded up to whole quarter-hours (at most 24 h).
    #[schema(exclusive_minimum = 0)]
    energy_kwh: Option<f64>,
    /// Default now. RFC 3339 with offset, or local in `time_zone`.
    earliest_start: Option<String>,
    /// Must have finished by then. Default: 24 h after the earliest start (or the horizon end).
    /// The older name `latest_end` is accepted.
    #[serde(alias = "latest_end")]
    deadline: Option<String>,
    mode: Option<RunModeDto>,
    /// The older flag: `true` runs in one block (`mode: contiguous`), `false` may split.
    continuous: Option<bool>,
    /// Shortest block of a splittable run (multiple of 15, default 15).
    #[schema(minimum = 15, maximum = 1440, multiple_of = 15)]
    min_run_minutes: Option<u32>,
    /// Never run in an interval priced above this (region currency per region unit).
    #[schema(value_type = Option<String>)]
    max_price: Option<Decimal>,
}

/// A scheduling request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleRequest {
    /// A region code; the older upper-case `UK`, `GERMANY`, `FRANCE`, `SPAIN` are accepted too
    /// (the same appliance request works on `/ml/predict/savings` and here).
    region: String,
    appliances: Vec<ApplianceRequest>,
    /// Shared limit on the summed power of running appliances, kW.
    #[schema(exclusive_minimum = 0)]
    power_limit_kw: Option<f64>,
    /// Pairs of appliance names that must never run at the same time.
    #[serde(default)]
    exclusions: Vec<[String; 2]>,
    /// IANA zone for local times in the request and the answer (default: the region's).
    time_zone: Option<String>,
    /// Use forecast prices beyond the published ones (default true).
    include_forecast: Option<bool>,
}

/// One block of running.
#[derive(Debug, Serialize, ToSchema)]
pub struct RunDto {
    #[schema(value_type = String, format = DateTime)]
    start: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    end: Timestamp,
    start_local: String,
    end_local: String,
}

/// An appliance's plan. Money is a decimal string in `currency`.
#[derive(Debug, Serialize, ToSchema)]
pub struct AppliancePlanDto {
    name: String,
    runs: Vec<RunDto>,
    minutes: u32,
    energy_kwh: f64,
    #[schema(value_type = String)]
    cost: Decimal,
    /// Cost when started at its earliest start instead.
    #[schema(value_type = String)]
    baseline_cost: Decimal,
    #[schema(value_type = String)]
    savings: Decimal,
    /// `day_ahead`, `forecast` or `mixed`: which prices the plan relies on.
    prices: &'static str,
    why: String,
}

/// The solver's verdict.
#[derive(Debug, Serialize, ToSchema)]
pub struct SolverDto {
    /// `optimal` (proven) or `heuristic`.
    status: &'static str,
    /// Heuristic only: the plan costs at most this much (relative) above the optimum.
    gap: Option<f64>,
    /// `independent` (no shared constraint binds), `milp` or `greedy`.
    #[schema(value_type = String)]
    method: Method,
    /// No plan can cost less than this.
    #[schema(value_type = String)]
    lower_bound: Decimal,
}

/// The whole plan.
#[derive(Debug, Serialize, ToSchema)]
pub struct ScheduleResponse {
    #[schema(value_type = String)]
    region: Region,
    #[schema(value_type = String)]
    currency: Currency,
    slot_minutes: u32,
    appliances: Vec<AppliancePlanDto>,
    #[schema(value_type = String)]
    total_cost: Decimal,
    #[schema(value_type = String)]
    baseline_cost: Decimal,
    #[schema(value_type = String)]
    total_savings: Decimal,
    /// What savings are measured against.
    baseline: &'static str,
    solver: SolverDto,
    #[schema(value_type = Option<String>, format = DateTime)]
    published_until: Option<Timestamp>,
    forecast_model: Option<String>,
    #[schema(value_type = String, format = DateTime)]
    generated_at: Timestamp,
}

/// Savings summary of the same plan.
#[derive(Debug, Serialize, ToSchema)]
pub struct SavingsResponse {
    #[schema(value_type = String)]
    region: Region,
    #[schema(value_type = String)]
    currency: Currency,
    baseline: &'static str,
    #[schema(value_type = String)]
    baseline_cost: Decimal,
    #[schema(value_type = String)]
    optimized_cost: Decimal,
    #[schema(value_type = String)]
    savings: Decimal,
    savings_percent: Option<f64>,
    appliances: Vec<ApplianceSavingsDto>,
    solver: SolverDto,
    #[schema(value_type = String, format = DateTime)]
    generated_at: Timestamp,
    /// The older keys: `baseline_cost`, `savings` and each appliance's plan by name.
    #[schema(value_type = String)]
    unoptimized_cost: Decimal,
    #[schema(value_type = String)]
    savings_amount: Decimal,
    optimized_schedule: std::collections::BTreeMap<String, OlderPlan>,
}

/// An appliance's plan as the older API gave it: first start, last end, cost and the average
/// price paid (currency per kWh).
#[derive(Debug, Serialize, ToSchema)]
pub struct OlderPlan {
    start_time: String,
    end_time: String,
    #[schema(value_type = String)]
    cost: Decimal,
    #[schema(value_type = Option<String>)]
    average_price: Option<Decimal>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ApplianceSavingsDto {
    name: String,
    #[schema(value_type = String)]
    baseline_cost: Decimal,
    #[schema(value_type = String)]
    cost: Decimal,
    #[schema(value_type = String)]
    savings: Decimal,
}

/// Plans several appliances at least cost under their windows, price caps, a shared power
/// limit and mutual exclusions.
#[utoipa::path(post, path = "/schedule", request_body = ScheduleRequest, tag = "optimization",
    responses((status = 200, body = ScheduleResponse), (status = 400, body = ErrorResponse),
              (status = 422, body = ErrorResponse), (status = 503, body = ErrorResponse)))]
pub async fn optimize_schedule(
    State(state): State<AppState>,
    AppJson(request): AppJson<ScheduleRequest>,
) -> Result<Json<ScheduleResponse>, ApiError> {
    let region = ml_region(&state, &request.region)?;
    let planned = plan(&state, region, request).await?;
    Ok(Json(planned.into_response(state.now())))
}

/// What scheduling saves against starting each appliance at its earliest start.
#[utoipa::path(post, path = "/predict/savings", request_body = ScheduleRequest, tag = "ml",
    responses((status = 200, body = SavingsResponse), (status = 400, body = ErrorResponse),
              (status = 422, body = ErrorResponse), (status = 503, body = ErrorResponse)))]
pub async fn predict_savings(
    State(state): State<AppState>,
    AppJson(request): AppJson<ScheduleRequest>,
) -> Result<Json<SavingsResponse>, ApiError> {
    let region = ml_region(&state, &request.region)?;
    let planned = plan(&state, region, request).await?;
    let response = planned.into_response(state.now());
    let percent = response
        .baseline_cost
        .to_f64()
        .filter(|b| *b > 0.0)
        .map(|b| {
            let saved = response.total_savings.to_f64().unwrap_or(0.0);
            (saved / b * 1000.0).round() / 10.0
        });
    let optimized_schedule = response
        .appliances
        .iter()
        .filter_map(|a| {
            let (first, last) = (a.runs.first()?, a.runs.last()?);
            let average_price = (a.energy_kwh > 0.0)
                .then(|| a.cost.to_f64().map(|c| money(c / a.energy_kwh)))
                .flatten();
            Some((
                a.name.clone(),
                OlderPlan {
                    start_time: first.start.to_string(),
                    end_time: last.end.to_string(),
                    cost: a.cost,
                    average_price,
                },
            ))
        })
        .collect();
    Ok(Json(SavingsResponse {
        unoptimized_cost: response.baseline_cost,
        savings_amount: response.total_savings,
        optimized_schedule,
        region: response.region,
        currency: response.currency,
        baseline: response.baseline,
        baseline_cost: response.baseline_cost,
        optimized_cost: response.total_cost,
        savings: response.total_savings,
        savings_percent: percent,
        appliances: response
            .appliances
            .into_iter()
            .map(|a| ApplianceSavingsDto {
                name: a.name,
                baseline_cost: a.baseline_cost,
                cost: a.cost,
                savings: a.savings,
            })
            .collect(),
        solver: response.solver,
        generated_at: response.generated_at,
    }))
}

/// A solved request with what is needed to describe it.
struct Planned {
    region: Region,
    plan: schedule::request::Planned,
    schedule: Schedule,
    baselines: Vec<f64>,
    ahead: Ahead,
    tz: jiff::tz::TimeZone,
}

/// Reads the request's instants (local times in its zone), builds the problem on the price grid
/// and solves it off the async threads (the exact solver may take up to its time limit).
async fn plan(
    state: &AppState,
    region: Region,
    request: ScheduleRequest,
) -> Result<Planned, ApiError> {
    let tz = time_zone("time_zone", request.time_zone.as_deref(), region)?;
    let mut appliances = Vec::with_capacity(request.appliances.len());
    for (i, a) in request.appliances.into_iter().enumerate() {
        let instant = |field: &str, text: Option<&String>| {
            text.map(|t| body_instant(&format!("appliances[{i}].{field}"), t, &tz))
                .transpose()
        };
        let duration_minutes = match (a.duration_minutes, a.duration_hours) {
            (minutes, None) => minutes,
            (None, Some(hours)) => Some(older_duration(i, hours)?),
            (Some(_), Some(_)) => {
                return Err(ApiError::invalid_field(
                    format!("appliances[{i}].duration_hours"),
                    "send duration_minutes or duration_hours, not both",
                ));
            }
        };
        let splittable = match (a.mode, a.continuous) {
            (Some(mode), _) => mode == RunModeDto::Splittable,
            (None, Some(continuous)) => !continuous,
            (None, None) => false,
        };
        appliances.push(schedule::request::ApplianceRequest {
            earliest_start: instant("earliest_start", a.earliest_start.as_ref())?,
            deadline: instant("deadline", a.deadline.as_ref())?,
            name: a.name,
            power_kw: a.power_kw,
            duration_minutes,
            energy_kwh: a.energy_kwh,
            splittable,
            min_run_minutes: a.min_run_minutes,
            max_price: a.max_price,
        });
    }
    let wanted = schedule::request::ScheduleRequest {
        appliances,
        power_limit_kw: request.power_limit_kw,
        exclusions: request.exclusions,
    };
    let ahead = ahead(state, region, request.include_forecast.unwrap_or(true)).await?;
    if ahead.end().is_none() {
        return Err(ApiError::PriceUnavailable {
            region,
            state: "without prices ahead".into(),
        });
    }
    let plan = wanted.plan(&ahead, state.now())?;
    let limits = *state.optimization();
    let solving = plan.problem.clone();
    let schedule = tokio::task::spawn_blocking(move || solving.solve(&limits))
        .await
        .map_err(|e| ApiError::Internal(format!("scheduler task: {e}")))?
        .map_err(|infeasible| ApiError::Infeasible {
            constraint: infeasible.constraint(),
            appliance: infeasible
                .appliance()
                .and_then(|a| plan.names.get(a).cloned()),
            reason: plan.explain(&infeasible),
        })?;
    Ok(Planned {
        region,
        baselines: plan.baselines(),
        plan,
        schedule,
        ahead,
        tz,
    })
}

/// The older `duration_hours` (0, 24] as minutes, rounded up to whole quarter hours.
fn older_duration(index: usize, hours: f64) -> Result<u32, ApiError> {
    if !(hours.is_finite() && hours > 0.0 && hours <= 24.0) {
        return Err(ApiError::invalid_field(
            format!("appliances[{index}].duration_hours"),
            format!("must be above 0 and at most 24, got {hours}"),
        ));
    }
    let quarters = (hours * 4.0 - 1e-9).ceil().max(1.0) as u32;
    Ok(quarters * SLOT_MINUTES)
}

fn money(value: f64) -> Decimal {
    Decimal::from_f64(value).unwrap_or_default().round_dp(4)
}

impl Planned {
    fn into_response(self, now: Timestamp) -> ScheduleResponse {
        let slot = SignedDuration::from_mins(i64::from(SLOT_MINUTES));
        let local = |t: Timestamp| {
            t.to_zoned(self.tz.clone())
                .strftime("%Y-%m-%dT%H:%M:%S%:z")
                .to_string()
        };
        let clock = |t: Timestamp| t.to_zoned(self.tz.clone()).strftime("%a %H:%M").to_string();
        let unit_factor = self.ahead.unit.kwh();
        let appliances: Vec<AppliancePlanDto> = self
            .schedule
            .slots
            .iter()
            .enumerate()
            .map(|(a, used)| {
                let appliance = &self.plan.problem.appliances[a];
                let blocks: Vec<RunDto> = runs(used)
                    .into_iter()
                    .map(|block| {
                        let start = self.plan.slots[block[0]].start;
                        let end = self.plan.slots[block[block.len() - 1]].start + slot;
                        RunDto { start, end, start_local: local(start), end_local: local(end) }
                    })
                    .collect();
                let cost = self.schedule.costs[a];
                let baseline = self.baselines[a];
                let energy = appliance.power_kw * SLOT_HOURS * used.len() as f64;
                let used_slots: Vec<Slot> = used.iter().map(|t| self.plan.slots[*t]).collect();
                let prices = kind_of(&used_slots);
                let avg = |c: f64| c / energy * unit_factor;
                let when = blocks.iter().map(|b| format!("{}–{}", clock(b.start), clock(b.end))).collect::<Vec<_>>().join(", ");
                let mut why = format!(
                    "Runs {when} at an average {:.2} {}/{} against {:.2} when started at the earliest start ({}); saves {:.2} {}.",
                    avg(cost),
                    self.ahead.currency.as_str(),
                    self.ahead.unit.as_str(),
                    avg(baseline),
                    clock(self.plan.slots[appliance.earliest.min(self.plan.slots.len() - 1)].start),
                    baseline - cost,
                    self.ahead.currency.as_str(),
                );
                if prices != "day_ahead" {
                    why.push_str(" Relies on forecast prices, which may still change.");
                }
                AppliancePlanDto {
                    name: self.plan.names[a].clone(),
                    runs: blocks,
                    minutes: used.len() as u32 * SLOT_MINUTES,
                    energy_kwh: (energy * 1000.0).round() / 1000.0,
                    cost: money(cost),
                    baseline_cost: money(baseline),
                    savings: money(baseline - cost),
                    prices,
                    why,
                }
            })
            .collect();
        let total = self.schedule.total;
        let baseline: f64 = self.baselines.iter().sum();
        ScheduleResponse {
            region: self.region,
            currency: self.ahead.currency,
            slot_minutes: SLOT_MINUTES,
            appliances,
            total_cost: money(total),
            baseline_cost: money(baseline),
            total_savings: money(baseline - total),
            baseline: "each appliance started at its earliest start",
            solver: SolverDto {
                status: match self.schedule.status {
                    SolverStatus::Optimal => "optimal",
                    SolverStatus::Heuristic { .. } => "heuristic",
                },
                gap: match self.schedule.status {
                    SolverStatus::Optimal => None,
                    SolverStatus::Heuristic { gap } => Some(gap),
                },
                method: self.schedule.method,
                lower_bound: money(self.schedule.lower_bound),
            },
            published_until: self.ahead.published_until,
            forecast_model: self.ahead.forecast_model.clone(),
            generated_at: now,
        }
    }
}
