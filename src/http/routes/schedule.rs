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
use wattline_actors::domain::schedule::{
    Appliance, Infeasible, Method, Problem, RunMode, Schedule, SolverStatus, runs,
};
use wattline_actors::domain::{Currency, Region};

use super::optimal_times::kind_of;
use crate::error::ApiError;
use crate::http::dto::ErrorResponse;
use crate::http::extract::AppJson;
use crate::http::horizon::{
    Ahead, ForecastPart, SLOT_MINUTES, Slot, ahead, ceil_to_slot, run_slots,
};
use crate::http::params::{body_instant, not_past, time_zone};
use crate::http::state::AppState;

/// Most appliances in one request.
const MAX_APPLIANCES: usize = 20;
const SLOT_HOURS: f64 = SLOT_MINUTES as f64 / 60.0;

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
    power_kw: f64,
    /// Run time in minutes (a multiple of 15); or give `energy_kwh`.
    duration_minutes: Option<u32>,
    /// Energy needed; run time = energy / power, rounded up to whole quarter-hours.
    energy_kwh: Option<f64>,
    /// Default now. RFC 3339 with offset, or local in `time_zone`.
    earliest_start: Option<String>,
    /// Must have finished by then. Default: 24 h after the earliest start (or the horizon end).
    deadline: Option<String>,
    mode: Option<RunModeDto>,
    /// Shortest block of a splittable run (multiple of 15, default 15).
    min_run_minutes: Option<u32>,
    /// Never run in an interval priced above this (region currency per region unit).
    #[schema(value_type = Option<String>)]
    max_price: Option<Decimal>,
}

/// A scheduling request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleRequest {
    region: String,
    appliances: Vec<ApplianceRequest>,
    /// Shared limit on the summed power of running appliances, kW.
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
    let planned = plan(&state, request).await?;
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
    let planned = plan(&state, request).await?;
    let response = planned.into_response(state.now());
    let percent = response
        .baseline_cost
        .to_f64()
        .filter(|b| *b > 0.0)
        .map(|b| {
            let saved = response.total_savings.to_f64().unwrap_or(0.0);
            (saved / b * 1000.0).round() / 10.0
        });
    Ok(Json(SavingsResponse {
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
    names: Vec<String>,
    problem: Problem,
    schedule: Schedule,
    slots: Vec<Slot>,
    baselines: Vec<f64>,
    ahead: Ahead,
    tz: jiff::tz::TimeZone,
}

/// Validates the request, builds the problem on the price grid and solves it off the async
/// threads (the exact solver may take up to its time limit).
async fn plan(state: &AppState, request: ScheduleRequest) -> Result<Planned, ApiError> {
    let region = state.region(&request.region)?;
    if request.appliances.is_empty() || request.appliances.len() > MAX_APPLIANCES {
        return Err(ApiError::invalid_field(
            "appliances",
            format!("give between 1 and {MAX_APPLIANCES} appliances"),
        ));
    }
    if let Some(limit) = request.power_limit_kw
        && !(limit > 0.0 && limit.is_finite())
    {
        return Err(ApiError::invalid_field(
            "power_limit_kw",
            "must be a positive number",
        ));
    }
    let tz = time_zone("time_zone", request.time_zone.as_deref(), region)?;
    let now = state.now();
    let ahead = ahead(state, region, request.include_forecast.unwrap_or(true)).await?;
    let horizon_end = ahead.end().ok_or(ApiError::PriceUnavailable {
        region,
        state: "without prices ahead".into(),
    })?;
    let origin = ceil_to_slot(now);
    let slots = ahead.quarter_hours(origin, horizon_end);
    let index_of = |at: Timestamp| {
        (at.duration_since(origin).as_secs().max(0) / (i64::from(SLOT_MINUTES) * 60)) as usize
    };
    let per_kwh = 1.0 / ahead.unit.kwh();
    let mut names: Vec<String> = Vec::with_capacity(request.appliances.len());
    let mut appliances = Vec::with_capacity(request.appliances.len());
    for (i, a) in request.appliances.iter().enumerate() {
        let at = |f: &str| format!("appliances[{i}].{f}");
        let name = a.name.trim();
        if name.is_empty() || name.len() > 64 {
            return Err(ApiError::invalid_field(
                at("name"),
                "must be 1–64 characters",
            ));
        }
        if names.iter().any(|n| n == name) {
            return Err(ApiError::invalid_field(
                at("name"),
                format!("duplicate appliance name '{name}'"),
            ));
        }
        if !(a.power_kw > 0.0 && a.power_kw <= 1000.0) {
            return Err(ApiError::invalid_field(
                at("power_kw"),
                "must be above 0 and at most 1000",
            ));
        }
        let slots_needed = match (a.duration_minutes, a.energy_kwh) {
            (Some(_), Some(_)) => {
                return Err(ApiError::invalid_field(
                    at("duration_minutes"),
                    "give duration_minutes or energy_kwh, not both",
                ));
            }
            (None, None) => {
                return Err(ApiError::invalid_field(
                    at("duration_minutes"),
                    "give duration_minutes or energy_kwh",
                ));
            }
            (Some(m), None) => run_slots(&at("duration_minutes"), m)?,
            (None, Some(e)) => {
                if !(e > 0.0 && e.is_finite()) {
                    return Err(ApiError::invalid_field(
                        at("energy_kwh"),
                        "must be a positive number",
                    ));
                }
                let slots = (e / (a.power_kw * SLOT_HOURS) - 1e-9).ceil() as usize;
                if slots > 96 {
                    return Err(ApiError::invalid_field(
                        at("energy_kwh"),
                        "needs more than 24 hours at this power",
                    ));
                }
                slots.max(1)
            }
        };
        let earliest = match &a.earliest_start {
            None => now,
            Some(text) => not_past(
                &at("earliest_start"),
                body_instant(&at("earliest_start"), text, &tz)?,
                now,
            )?,
        };
        let earliest = ceil_to_slot(earliest);
        let deadline = match &a.deadline {
            None => (earliest + SignedDuration::from_hours(24)).min(horizon_end),
            Some(text) => body_instant(&at("deadline"), text, &tz)?,
        };
        if deadline <= earliest {
            return Err(ApiError::invalid_field(
                at("deadline"),
                "must be after the earliest start",
            ));
        }
        if deadline > horizon_end {
            return Err(ApiError::invalid_field(
                at("deadline"),
                format!("{deadline} is beyond the known and forecast prices (until {horizon_end})"),
            ));
        }
        let mode = match a.mode.unwrap_or(RunModeDto::Contiguous) {
            RunModeDto::Contiguous => {
                if a.min_run_minutes.is_some() {
                    return Err(ApiError::invalid_field(
                        at("min_run_minutes"),
                        "only applies to splittable appliances",
                    ));
                }
                RunMode::Contiguous
            }
            RunModeDto::Splittable => {
                let m = a.min_run_minutes.unwrap_or(SLOT_MINUTES);
                if m == 0 || m % SLOT_MINUTES != 0 || (m / SLOT_MINUTES) as usize > slots_needed {
                    return Err(ApiError::invalid_field(
                        at("min_run_minutes"),
                        "must be a multiple of 15, at most the run time",
                    ));
                }
                RunMode::Splittable {
                    min_run: (m / SLOT_MINUTES) as usize,
                }
            }
        };
        appliances.push(Appliance {
            power_kw: a.power_kw,
            slots: slots_needed,
            earliest: index_of(earliest),
            // Whole slots only (rounded down): a run must end by the deadline.
            deadline: index_of(deadline),
            mode,
            price_cap: a.max_price.and_then(|p| p.to_f64()).map(|p| p * per_kwh),
        });
        names.push(name.to_string());
    }
    let mut exclusions = Vec::with_capacity(request.exclusions.len());
    for (i, [a, b]) in request.exclusions.iter().enumerate() {
        let find = |n: &str| names.iter().position(|x| x == n.trim());
        match (find(a), find(b)) {
            (Some(x), Some(y)) if x != y => exclusions.push((x, y)),
            (Some(_), Some(_)) => {
                return Err(ApiError::invalid_field(
                    format!("exclusions[{i}]"),
                    "an appliance cannot exclude itself",
                ));
            }
            _ => {
                return Err(ApiError::invalid_field(
                    format!("exclusions[{i}]"),
                    "names an appliance that is not in the request",
                ));
            }
        }
    }
    let problem = Problem {
        prices: slots.iter().map(|s| s.price_per_kwh).collect(),
        slot_hours: SLOT_HOURS,
        appliances,
        power_limit_kw: request.power_limit_kw,
        exclusions,
    };
    let limits = *state.optimization();
    let solving = problem.clone();
    let schedule = tokio::task::spawn_blocking(move || solving.solve(&limits))
        .await
        .map_err(|e| ApiError::Internal(format!("scheduler task: {e}")))?
        .map_err(|infeasible| infeasible_error(&infeasible, &names))?;
    let baselines = problem
        .appliances
        .iter()
        .enumerate()
        .map(|(a, appliance)| {
            let end = (appliance.earliest + appliance.slots).min(problem.prices.len());
            problem.cost(a, &(appliance.earliest..end).collect::<Vec<_>>())
        })
        .collect();
    Ok(Planned {
        region,
        names,
        problem,
        schedule,
        slots,
        baselines,
        ahead,
        tz,
    })
}

fn infeasible_error(infeasible: &Infeasible, names: &[String]) -> ApiError {
    ApiError::Infeasible {
        constraint: infeasible.constraint(),
        appliance: infeasible.appliance().and_then(|a| names.get(a).cloned()),
        reason: match infeasible.appliance().and_then(|a| names.get(a)) {
            // Name the appliance instead of its index.
            Some(name) => infeasible.to_string().replacen(
                &format!("appliance {}", infeasible.appliance().unwrap_or(0)),
                &format!("'{name}'"),
                1,
            ),
            None => infeasible.to_string(),
        },
    }
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
                let appliance = &self.problem.appliances[a];
                let blocks: Vec<RunDto> = runs(used)
                    .into_iter()
                    .map(|block| {
                        let start = self.slots[block[0]].start;
                        let end = self.slots[block[block.len() - 1]].start + slot;
                        RunDto { start, end, start_local: local(start), end_local: local(end) }
                    })
                    .collect();
                let cost = self.schedule.costs[a];
                let baseline = self.baselines[a];
                let energy = appliance.power_kw * SLOT_HOURS * used.len() as f64;
                let used_slots: Vec<Slot> = used.iter().map(|t| self.slots[*t]).collect();
                let prices = kind_of(&used_slots);
                let avg = |c: f64| c / energy * unit_factor;
                let when = blocks.iter().map(|b| format!("{}–{}", clock(b.start), clock(b.end))).collect::<Vec<_>>().join(", ");
                let mut why = format!(
                    "Runs {when} at an average {:.2} {}/{} against {:.2} when started at the earliest start ({}); saves {:.2} {}.",
                    avg(cost),
                    self.ahead.currency.as_str(),
                    self.ahead.unit.as_str(),
                    avg(baseline),
                    clock(self.slots[appliance.earliest.min(self.slots.len() - 1)].start),
                    baseline - cost,
                    self.ahead.currency.as_str(),
                );
                if prices != "day_ahead" {
                    why.push_str(" Relies on forecast prices, which may still change.");
                }
                AppliancePlanDto {
                    name: self.names[a].clone(),
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
            forecast_model: match &self.ahead.forecast {
                ForecastPart::Included(f) => Some(f.model.version.clone()),
                _ => None,
            },
            generated_at: now,
        }
    }
}
