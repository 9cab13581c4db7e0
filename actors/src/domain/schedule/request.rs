//! A scheduling request as people state it (names, minutes or kWh, instants, a price cap in the
//! region's unit) turned into a [`Problem`] on the 15-minute grid of the prices ahead, checked
//! field by field; and the costs of starting each appliance at its earliest start, the baseline
//! savings are measured against.

use jiff::{SignedDuration, Timestamp};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;

use super::{Appliance, Infeasible, Problem, RunMode};
use crate::domain::horizon::{Ahead, SLOT_MINUTES, Slot, ceil_to_slot, run_slots};

/// Most appliances in one request.
pub const MAX_APPLIANCES: usize = 20;
/// Hours of one grid slot.
pub const SLOT_HOURS: f64 = SLOT_MINUTES as f64 / 60.0;

/// One appliance as requested.
#[derive(Debug, Clone, PartialEq)]
pub struct ApplianceRequest {
    pub name: String,
    pub power_kw: f64,
    /// Run time in minutes; or `energy_kwh`.
    pub duration_minutes: Option<u32>,
    pub energy_kwh: Option<f64>,
    /// Default now.
    pub earliest_start: Option<Timestamp>,
    /// Default 24 h after the earliest start (or the horizon's end).
    pub deadline: Option<Timestamp>,
    pub splittable: bool,
    /// Shortest block of a splittable run, in minutes (default 15).
    pub min_run_minutes: Option<u32>,
    /// Never run in an interval priced above this (region currency per region unit).
    pub max_price: Option<Decimal>,
}

/// A scheduling request.
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduleRequest {
    pub appliances: Vec<ApplianceRequest>,
    pub power_limit_kw: Option<f64>,
    /// Pairs of appliance names that must never run at the same time.
    pub exclusions: Vec<[String; 2]>,
}

/// A field of the request that cannot be used, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid `{field}`: {message}")]
pub struct InvalidRequest {
    /// The field's path in the request, e.g. `appliances[1].deadline`.
    pub field: String,
    pub message: String,
}

fn invalid(field: impl Into<String>, message: impl Into<String>) -> InvalidRequest {
    InvalidRequest {
        field: field.into(),
        message: message.into(),
    }
}

/// A request on the grid, ready to solve.
#[derive(Debug, Clone)]
pub struct Planned {
    pub problem: Problem,
    /// Appliance names, by index.
    pub names: Vec<String>,
    /// The grid the problem's prices are on.
    pub slots: Vec<Slot>,
}

impl ScheduleRequest {
    /// The problem on the grid of `ahead` from the first slot at or after `now`.
    pub fn plan(&self, ahead: &Ahead, now: Timestamp) -> Result<Planned, InvalidRequest> {
        if self.appliances.is_empty() || self.appliances.len() > MAX_APPLIANCES {
            return Err(invalid(
                "appliances",
                format!("give between 1 and {MAX_APPLIANCES} appliances"),
            ));
        }
        if let Some(limit) = self.power_limit_kw
            && !(limit > 0.0 && limit.is_finite())
        {
            return Err(invalid("power_limit_kw", "must be a positive number"));
        }
        let horizon_end = ahead
            .end()
            .ok_or_else(|| invalid("region", "has no prices ahead yet"))?;
        let origin = ceil_to_slot(now);
        let slots = ahead.quarter_hours(origin, horizon_end);
        let index_of = |at: Timestamp| {
            (at.duration_since(origin).as_secs().max(0) / (i64::from(SLOT_MINUTES) * 60)) as usize
        };
        let per_kwh = 1.0 / ahead.unit.kwh();
        let mut names: Vec<String> = Vec::with_capacity(self.appliances.len());
        let mut appliances = Vec::with_capacity(self.appliances.len());
        for (i, a) in self.appliances.iter().enumerate() {
            let at = |f: &str| format!("appliances[{i}].{f}");
            let name = a.name.trim();
            if name.is_empty() || name.len() > 64 {
                return Err(invalid(at("name"), "must be 1–64 characters"));
            }
            if names.iter().any(|n| n == name) {
                return Err(invalid(
                    at("name"),
                    format!("duplicate appliance name '{name}'"),
                ));
            }
            if !(a.power_kw > 0.0 && a.power_kw <= 1000.0) {
                return Err(invalid(at("power_kw"), "must be above 0 and at most 1000"));
            }
            let slots_needed = match (a.duration_minutes, a.energy_kwh) {
                (Some(_), Some(_)) => {
                    return Err(invalid(
                        at("duration_minutes"),
                        "give duration_minutes or energy_kwh, not both",
                    ));
                }
                (None, None) => {
                    return Err(invalid(
                        at("duration_minutes"),
                        "give duration_minutes or energy_kwh",
                    ));
                }
                (Some(m), None) => {
                    run_slots(m).map_err(|e| invalid(at("duration_minutes"), e.to_string()))?
                }
                (None, Some(e)) => {
                    if !(e > 0.0 && e.is_finite()) {
                        return Err(invalid(at("energy_kwh"), "must be a positive number"));
                    }
                    let slots = (e / (a.power_kw * SLOT_HOURS) - 1e-9).ceil() as usize;
                    if slots > 96 {
                        return Err(invalid(
                            at("energy_kwh"),
                            "needs more than 24 hours at this power",
                        ));
                    }
                    slots.max(1)
                }
            };
            let earliest = match a.earliest_start {
                None => now,
                Some(at_) => not_past(&at("earliest_start"), at_, now)?,
            };
            let earliest = ceil_to_slot(earliest);
            let deadline = a
                .deadline
                .unwrap_or_else(|| (earliest + SignedDuration::from_hours(24)).min(horizon_end));
            if deadline <= earliest {
                return Err(invalid(at("deadline"), "must be after the earliest start"));
            }
            if deadline > horizon_end {
                return Err(invalid(
                    at("deadline"),
                    format!(
                        "{deadline} is beyond the known and forecast prices (until {horizon_end})"
                    ),
                ));
            }
            let mode = if a.splittable {
                let m = a.min_run_minutes.unwrap_or(SLOT_MINUTES);
                if m == 0 || m % SLOT_MINUTES != 0 || (m / SLOT_MINUTES) as usize > slots_needed {
                    return Err(invalid(
                        at("min_run_minutes"),
                        "must be a multiple of 15, at most the run time",
                    ));
                }
                RunMode::Splittable {
                    min_run: (m / SLOT_MINUTES) as usize,
                }
            } else {
                if a.min_run_minutes.is_some() {
                    return Err(invalid(
                        at("min_run_minutes"),
                        "only applies to splittable appliances",
                    ));
                }
                RunMode::Contiguous
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
        let mut exclusions = Vec::with_capacity(self.exclusions.len());
        for (i, [a, b]) in self.exclusions.iter().enumerate() {
            let find = |n: &str| names.iter().position(|x| x == n.trim());
            match (find(a), find(b)) {
                (Some(x), Some(y)) if x != y => exclusions.push((x, y)),
                (Some(_), Some(_)) => {
                    return Err(invalid(
                        format!("exclusions[{i}]"),
                        "an appliance cannot exclude itself",
                    ));
                }
                _ => {
                    return Err(invalid(
                        format!("exclusions[{i}]"),
                        "names an appliance that is not in the request",
                    ));
                }
            }
        }
        Ok(Planned {
            problem: Problem {
                prices: slots.iter().map(|s| s.price_per_kwh).collect(),
                slot_hours: SLOT_HOURS,
                appliances,
                power_limit_kw: self.power_limit_kw,
                exclusions,
            },
            names,
            slots,
        })
    }
}

/// `at`, unless it lies more than one grid slot in the past (a request built "now" arrives a
/// little later; further back is a mistake).
pub fn not_past(field: &str, at: Timestamp, now: Timestamp) -> Result<Timestamp, InvalidRequest> {
    let slot = SignedDuration::from_mins(i64::from(SLOT_MINUTES));
    if at < now - slot {
        return Err(invalid(field, format!("{at} is in the past")));
    }
    Ok(at.max(now))
}

impl Planned {
    /// What each appliance would cost started at its earliest start (the savings baseline).
    pub fn baselines(&self) -> Vec<f64> {
        let problem = &self.problem;
        problem
            .appliances
            .iter()
            .enumerate()
            .map(|(a, appliance)| {
                let end = (appliance.earliest + appliance.slots).min(problem.prices.len());
                problem.cost(a, &(appliance.earliest..end).collect::<Vec<_>>())
            })
            .collect()
    }

    /// Why no schedule satisfies the request, naming the appliance at fault.
    pub fn explain(&self, infeasible: &Infeasible) -> String {
        infeasible.describe(|a| format!("'{}'", self.names.get(a).map_or("?", String::as_str)))
    }
}
