//! Appliance scheduling over a price horizon of equal slots: each appliance runs for a number of
//! slots at its rated power between its earliest start and deadline, contiguously or split into
//! runs of a minimum length, never in a slot above its price cap; together they stay under a
//! shared power limit, and mutually exclusive appliances never run in the same slot.
//!
//! Solving goes from cheap to expensive and says which answer it gives:
//! 1. every appliance at its own optimum; if those fit together, that is optimal (it meets the
//!    lower bound that ignores the shared constraints);
//! 2. small problems: an exact MILP (branch & bound, `microlp`), seeded with the greedy plan;
//! 3. large problems, or a MILP stopped by its limits: the greedy plan with local improvement,
//!    reported as heuristic with its gap to the lower bound.

mod exact;
mod greedy;
pub mod request;
mod single;

use serde::Serialize;

pub use single::{best_contiguous, best_splittable, cheapest_runs};

/// How an appliance may run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunMode {
    /// One uninterrupted run.
    Contiguous,
    /// Any set of slots whose runs each last at least `min_run` slots.
    Splittable { min_run: usize },
}

/// One appliance, in slot units.
#[derive(Debug, Clone, PartialEq)]
pub struct Appliance {
    pub power_kw: f64,
    /// Slots it must run.
    pub slots: usize,
    /// First slot it may run in.
    pub earliest: usize,
    /// It must have finished before this slot.
    pub deadline: usize,
    pub mode: RunMode,
    /// It never runs in a slot priced above this.
    pub price_cap: Option<f64>,
}

impl Appliance {
    /// Slots it may use on its own: inside its window and under its cap.
    fn allowed(&self, prices: &[f64]) -> Vec<bool> {
        (0..prices.len())
            .map(|t| {
                t >= self.earliest
                    && t < self.deadline
                    && self.price_cap.is_none_or(|cap| prices[t] <= cap)
            })
            .collect()
    }

    fn min_run(&self) -> usize {
        match self.mode {
            RunMode::Contiguous => self.slots,
            RunMode::Splittable { min_run } => min_run.clamp(1, self.slots.max(1)),
        }
    }
}

/// A scheduling problem. Prices are per kWh (any currency); costs come out as price × kWh.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    pub prices: Vec<f64>,
    pub slot_hours: f64,
    pub appliances: Vec<Appliance>,
    pub power_limit_kw: Option<f64>,
    /// Pairs of appliances (by index) that never run in the same slot.
    pub exclusions: Vec<(usize, usize)>,
}

/// Bounds on the exact solver.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SolveLimits {
    /// Problems with more binary variables than this go to the heuristic.
    pub max_exact_binaries: usize,
    /// Branch & bound nodes before the exact solver settles for its best plan.
    pub node_limit: u64,
    pub time_limit: std::time::Duration,
}

impl Default for SolveLimits {
    fn default() -> Self {
        SolveLimits {
            max_exact_binaries: 4_000,
            node_limit: 5_000,
            time_limit: std::time::Duration::from_secs(2),
        }
    }
}

/// How good the answer is.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum SolverStatus {
    /// Proven cheapest.
    Optimal,
    /// Feasible; at most `gap` (relative) above the cheapest possible.
    Heuristic { gap: f64 },
}

/// Which method produced the plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// Each appliance at its own optimum; the shared constraints were not binding.
    Independent,
    /// Mixed-integer programme, branch & bound.
    Milp,
    /// Greedy placement with local improvement.
    Greedy,
}

/// A feasible plan.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    /// Per appliance, the slots it runs in, ascending.
    pub slots: Vec<Vec<usize>>,
    /// Per appliance, price × kWh.
    pub costs: Vec<f64>,
    pub total: f64,
    /// No plan can cost less than this.
    pub lower_bound: f64,
    pub status: SolverStatus,
    pub method: Method,
}

/// Which constraint cannot be met.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Infeasible {
    #[error("appliance {appliance}: its window holds fewer slots than its run needs")]
    Window { appliance: usize },
    #[error(
        "appliance {appliance}: not enough slots priced under its price cap (in runs of its minimum length)"
    )]
    PriceCap { appliance: usize },
    #[error("appliance {appliance}: its power alone exceeds the power limit")]
    PowerLimit { appliance: usize },
    #[error("the appliances cannot all run under the shared power limit")]
    SharedPowerLimit,
    #[error("the mutual exclusions leave no room for every appliance")]
    Exclusions,
    #[error("the power limit and exclusions together leave no room for every appliance")]
    Combined,
    #[error("no plan found within the solver's limits")]
    NotFound,
}

impl Infeasible {
    /// The request field at fault (for the API's error details).
    pub fn constraint(&self) -> &'static str {
        match self {
            Infeasible::Window { .. } => "window",
            Infeasible::PriceCap { .. } => "price_cap",
            Infeasible::PowerLimit { .. } | Infeasible::SharedPowerLimit => "power_limit_kw",
            Infeasible::Exclusions => "exclusions",
            Infeasible::Combined => "power_limit_kw+exclusions",
            Infeasible::NotFound => "solver_limits",
        }
    }

    /// The reason in words, with the appliance at fault named by `name` (its index otherwise,
    /// as `Display` does).
    pub fn describe(&self, name: impl Fn(usize) -> String) -> String {
        match self {
            Infeasible::Window { appliance } => format!(
                "{}: its window holds fewer slots than its run needs",
                name(*appliance)
            ),
            Infeasible::PriceCap { appliance } => format!(
                "{}: not enough slots priced under its price cap (in runs of its minimum length)",
                name(*appliance)
            ),
            Infeasible::PowerLimit { appliance } => format!(
                "{}: its power alone exceeds the power limit",
                name(*appliance)
            ),
            other => other.to_string(),
        }
    }

    /// The appliance at fault, if one is.
    pub fn appliance(&self) -> Option<usize> {
        match self {
            Infeasible::Window { appliance }
            | Infeasible::PriceCap { appliance }
            | Infeasible::PowerLimit { appliance } => Some(*appliance),
            _ => None,
        }
    }
}

impl Problem {
    /// Cost of running appliance `a` in `slots`.
    pub fn cost(&self, a: usize, slots: &[usize]) -> f64 {
        let energy = self.appliances[a].power_kw * self.slot_hours;
        slots.iter().map(|&t| self.prices[t] * energy).sum()
    }

    /// Checks a plan against every constraint; `Err` names the first one broken.
    pub fn check(&self, plan: &[Vec<usize>]) -> Result<(), String> {
        let n = self.prices.len();
        let mut load = vec![0.0; n];
        let mut occupied = vec![vec![false; n]; self.appliances.len()];
        for (a, (appliance, slots)) in self.appliances.iter().zip(plan).enumerate() {
            if slots.len() != appliance.slots {
                return Err(format!(
                    "appliance {a} runs {} slots, needs {}",
                    slots.len(),
                    appliance.slots
                ));
            }
            let allowed = appliance.allowed(&self.prices);
            for &t in slots {
                if t >= n || !allowed[t] || occupied[a][t] {
                    return Err(format!(
                        "appliance {a} uses slot {t} outside its window or cap, or twice"
                    ));
                }
                occupied[a][t] = true;
                load[t] += appliance.power_kw;
            }
            for run in runs(slots) {
                if run.len() < appliance.min_run() {
                    return Err(format!(
                        "appliance {a} has a run of {} slots, minimum {}",
                        run.len(),
                        appliance.min_run()
                    ));
                }
            }
        }
        if let Some(limit) = self.power_limit_kw
            && let Some(t) = load.iter().position(|l| *l > limit + 1e-9)
        {
            return Err(format!(
                "slot {t} draws {} kW over the {limit} kW limit",
                load[t]
            ));
        }
        for &(a, b) in &self.exclusions {
            if let Some(t) = (0..n).find(|t| occupied[a][*t] && occupied[b][*t]) {
                return Err(format!("appliances {a} and {b} both run in slot {t}"));
            }
        }
        Ok(())
    }

    /// Finds the cheapest plan (or a stated approximation of it).
    pub fn solve(&self, limits: &SolveLimits) -> Result<Schedule, Infeasible> {
        self.solve_or_diagnose(limits, true)
    }

    fn solve_or_diagnose(
        &self,
        limits: &SolveLimits,
        diagnose: bool,
    ) -> Result<Schedule, Infeasible> {
        let allowed: Vec<Vec<bool>> = self
            .appliances
            .iter()
            .map(|a| a.allowed(&self.prices))
            .collect();
        let mut own = Vec::with_capacity(self.appliances.len());
        for (a, appliance) in self.appliances.iter().enumerate() {
            if appliance.deadline.min(self.prices.len()) < appliance.earliest + appliance.slots
                || appliance.slots == 0
            {
                return Err(Infeasible::Window { appliance: a });
            }
            if self
                .power_limit_kw
                .is_some_and(|limit| appliance.power_kw > limit + 1e-9)
            {
                return Err(Infeasible::PowerLimit { appliance: a });
            }
            let best = single::best(appliance, &self.prices, &allowed[a])
                .ok_or(Infeasible::PriceCap { appliance: a })?;
            own.push(best);
        }
        let own_costs: Vec<f64> = own
            .iter()
            .enumerate()
            .map(|(a, slots)| self.cost(a, slots))
            .collect();
        let lower_bound: f64 = own_costs.iter().sum();
        if self.check(&own).is_ok() {
            return Ok(self.schedule(own, lower_bound, SolverStatus::Optimal, Method::Independent));
        }
        let greedy = greedy::solve(self, &allowed);
        let incumbent = greedy.as_ref().map(|plan| exact::Incumbent {
            total: plan.iter().enumerate().map(|(a, s)| self.cost(a, s)).sum(),
            own: &own_costs,
        });
        let candidates = exact::candidates(self, &allowed, incumbent);
        if exact::binaries(self, &candidates) <= limits.max_exact_binaries {
            match exact::solve(self, &candidates, greedy.as_deref(), limits) {
                exact::Outcome::Optimal(plan) => {
                    return Ok(self.schedule(
                        plan,
                        lower_bound,
                        SolverStatus::Optimal,
                        Method::Milp,
                    ));
                }
                exact::Outcome::Feasible { plan, gap } => {
                    let schedule = self.schedule(
                        plan,
                        lower_bound,
                        SolverStatus::Heuristic { gap },
                        Method::Milp,
                    );
                    return Ok(self.better(schedule, greedy, lower_bound));
                }
                exact::Outcome::Infeasible if diagnose => return Err(self.diagnose(limits)),
                exact::Outcome::Infeasible => return Err(Infeasible::Combined),
                exact::Outcome::Unknown => {}
            }
        }
        match greedy {
            Some(plan) => {
                let total: f64 = plan.iter().enumerate().map(|(a, s)| self.cost(a, s)).sum();
                let gap = relative_gap(total, lower_bound);
                let status = if gap <= 1e-12 {
                    SolverStatus::Optimal
                } else {
                    SolverStatus::Heuristic { gap }
                };
                Ok(self.schedule(plan, lower_bound, status, Method::Greedy))
            }
            None => Err(Infeasible::NotFound),
        }
    }

    /// Keeps the cheaper of a MILP incumbent and the greedy plan.
    fn better(
        &self,
        milp: Schedule,
        greedy: Option<Vec<Vec<usize>>>,
        lower_bound: f64,
    ) -> Schedule {
        let Some(plan) = greedy else { return milp };
        let total: f64 = plan.iter().enumerate().map(|(a, s)| self.cost(a, s)).sum();
        if total < milp.total - 1e-9 {
            let gap = relative_gap(total, lower_bound);
            self.schedule(
                plan,
                lower_bound,
                SolverStatus::Heuristic { gap },
                Method::Greedy,
            )
        } else {
            milp
        }
    }

    /// Which shared constraint makes an infeasible problem infeasible.
    fn diagnose(&self, limits: &SolveLimits) -> Infeasible {
        let without = |power: bool, exclusions: bool| Problem {
            power_limit_kw: if power { self.power_limit_kw } else { None },
            exclusions: if exclusions {
                self.exclusions.clone()
            } else {
                Vec::new()
            },
            ..self.clone()
        };
        let feasible = |p: Problem| p.solve_or_diagnose(limits, false).is_ok();
        match (
            feasible(without(true, false)),
            feasible(without(false, true)),
        ) {
            (false, _) => Infeasible::SharedPowerLimit,
            (true, false) => Infeasible::Exclusions,
            (true, true) => Infeasible::Combined,
        }
    }

    fn schedule(
        &self,
        mut slots: Vec<Vec<usize>>,
        lower_bound: f64,
        status: SolverStatus,
        method: Method,
    ) -> Schedule {
        slots.iter_mut().for_each(|s| s.sort_unstable());
        let costs: Vec<f64> = slots
            .iter()
            .enumerate()
            .map(|(a, s)| self.cost(a, s))
            .collect();
        let total = costs.iter().sum();
        Schedule {
            slots,
            costs,
            total,
            lower_bound,
            status,
            method,
        }
    }
}

/// (cost − bound) / |bound|, 0 when the bound is met.
fn relative_gap(cost: f64, bound: f64) -> f64 {
    ((cost - bound) / bound.abs().max(1e-9)).max(0.0)
}

/// Maximal runs of consecutive slots in a sorted list.
pub fn runs(slots: &[usize]) -> Vec<&[usize]> {
    let mut out = Vec::new();
    let mut begin = 0;
    for i in 1..=slots.len() {
        if i == slots.len() || slots[i] != slots[i - 1] + 1 {
            if i > begin {
                out.push(&slots[begin..i]);
            }
            begin = i;
        }
    }
    out
}

#[cfg(test)]
mod tests;
