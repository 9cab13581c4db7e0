//! The exact solver: the schedule as a mixed-integer programme, solved by branch & bound.
//!
//! A contiguous appliance has one binary per feasible start (exactly one chosen); a splittable
//! one has a binary per allowed slot (exactly `slots` chosen) and, with a minimum run L > 1, a
//! run-start binary per slot: z_t ≥ x_t − x_{t−1} and x_t + … + x_{t+L−1} ≥ L·z_t. The shared
//! power limit and the exclusions are rows over the slots where they can bind.

use std::panic::AssertUnwindSafe;

use microlp::{
    ComparisonOp, OptimizationDirection, Problem as Lp, SolutionStatus, SolveOptions, Variable,
};

use super::{Problem, RunMode, SolveLimits};

pub(super) enum Outcome {
    Optimal(Vec<Vec<usize>>),
    Feasible {
        plan: Vec<Vec<usize>>,
        gap: f64,
    },
    Infeasible,
    /// The solver stopped without a plan (limits, or a numerical failure).
    Unknown,
}

/// How one appliance is modelled.
enum Model {
    /// (start, variable) per feasible start.
    Starts(Vec<(usize, Variable)>),
    /// (slot, variable) per allowed slot, and run-start variables by slot when min_run > 1.
    Slots {
        x: Vec<(usize, Variable)>,
        z: Vec<(usize, Variable)>,
    },
}

/// Feasible starts of a contiguous run of `len` allowed slots.
fn starts(allowed: &[bool], len: usize) -> Vec<usize> {
    let mut out = Vec::new();
    let mut streak = 0;
    for (t, a) in allowed.iter().enumerate() {
        streak = if *a { streak + 1 } else { 0 };
        if streak >= len {
            out.push(t + 1 - len);
        }
    }
    out
}

/// Binary variables the model of `problem` would have.
pub(super) fn binaries(problem: &Problem, allowed: &[Vec<bool>]) -> usize {
    problem
        .appliances
        .iter()
        .zip(allowed)
        .map(|(a, allowed)| match a.mode {
            RunMode::Contiguous => starts(allowed, a.slots).len(),
            RunMode::Splittable { .. } => {
                let n = allowed.iter().filter(|x| **x).count();
                if a.min_run() > 1 { 2 * n } else { n }
            }
        })
        .sum()
}

pub(super) fn solve(
    problem: &Problem,
    allowed: &[Vec<bool>],
    hint: Option<&[Vec<usize>]>,
    limits: &SolveLimits,
) -> Outcome {
    let n = problem.prices.len();
    // Scale the objective so its largest coefficient is about 1 (the solver's tolerances are
    // absolute); the argmin does not change.
    let scale = problem
        .appliances
        .iter()
        .map(|a| a.power_kw * problem.slot_hours)
        .fold(0.0, f64::max)
        * problem.prices.iter().fold(0.0, |m: f64, p| m.max(p.abs()));
    let scale = if scale > 0.0 { 1.0 / scale } else { 1.0 };
    let mut lp = Lp::new(OptimizationDirection::Minimize);
    let mut models = Vec::with_capacity(problem.appliances.len());
    // occupancy[a][t]: the variables whose sum says appliance a runs in slot t.
    let mut occupancy: Vec<Vec<Vec<Variable>>> = Vec::with_capacity(problem.appliances.len());
    for (a, appliance) in problem.appliances.iter().enumerate() {
        let energy = appliance.power_kw * problem.slot_hours;
        let mut occ = vec![Vec::new(); n];
        match appliance.mode {
            RunMode::Contiguous => {
                let vars: Vec<(usize, Variable)> = starts(&allowed[a], appliance.slots)
                    .into_iter()
                    .map(|s| {
                        let cost: f64 =
                            problem.prices[s..s + appliance.slots].iter().sum::<f64>() * energy;
                        (s, lp.add_binary_var(cost * scale))
                    })
                    .collect();
                let row: Vec<(Variable, f64)> = vars.iter().map(|(_, v)| (*v, 1.0)).collect();
                lp.add_constraint(row.as_slice(), ComparisonOp::Eq, 1.0);
                for &(s, v) in &vars {
                    for slot in &mut occ[s..s + appliance.slots] {
                        slot.push(v);
                    }
                }
                models.push(Model::Starts(vars));
            }
            RunMode::Splittable { .. } => {
                let x: Vec<(usize, Variable)> = (0..n)
                    .filter(|t| allowed[a][*t])
                    .map(|t| (t, lp.add_binary_var(problem.prices[t] * energy * scale)))
                    .collect();
                let row: Vec<(Variable, f64)> = x.iter().map(|(_, v)| (*v, 1.0)).collect();
                lp.add_constraint(row.as_slice(), ComparisonOp::Eq, appliance.slots as f64);
                let mut by_slot = vec![None; n];
                for &(t, v) in &x {
                    by_slot[t] = Some(v);
                    occ[t].push(v);
                }
                let min_run = appliance.min_run();
                let mut z = Vec::new();
                if min_run > 1 {
                    for &(t, xt) in &x {
                        let zt = lp.add_binary_var(0.0);
                        z.push((t, zt));
                        // A run starts at t if t is on and t − 1 is not.
                        let mut start = vec![(xt, 1.0), (zt, -1.0)];
                        if let Some(prev) = t.checked_sub(1).and_then(|p| by_slot[p]) {
                            start.push((prev, -1.0));
                        }
                        lp.add_constraint(start.as_slice(), ComparisonOp::Le, 0.0);
                        // …and then lasts at least min_run slots.
                        let mut run: Vec<(Variable, f64)> = (t..(t + min_run).min(n))
                            .filter_map(|u| by_slot[u].map(|v| (v, 1.0)))
                            .collect();
                        run.push((zt, -(min_run as f64)));
                        lp.add_constraint(run.as_slice(), ComparisonOp::Ge, 0.0);
                    }
                }
                models.push(Model::Slots { x, z });
            }
        }
        occupancy.push(occ);
    }
    if let Some(limit) = problem.power_limit_kw {
        for t in 0..n {
            let possible: f64 = problem
                .appliances
                .iter()
                .zip(&occupancy)
                .filter(|(_, occ)| !occ[t].is_empty())
                .map(|(a, _)| a.power_kw)
                .sum();
            if possible <= limit + 1e-9 {
                continue;
            }
            let row: Vec<(Variable, f64)> = problem
                .appliances
                .iter()
                .zip(&occupancy)
                .flat_map(|(a, occ)| occ[t].iter().map(move |v| (*v, a.power_kw)))
                .collect();
            lp.add_constraint(row.as_slice(), ComparisonOp::Le, limit);
        }
    }
    for &(a, b) in &problem.exclusions {
        for (in_a, in_b) in occupancy[a].iter().zip(&occupancy[b]) {
            if in_a.is_empty() || in_b.is_empty() {
                continue;
            }
            let row: Vec<(Variable, f64)> = in_a.iter().chain(in_b).map(|v| (*v, 1.0)).collect();
            lp.add_constraint(row.as_slice(), ComparisonOp::Le, 1.0);
        }
    }
    let mut options = SolveOptions::default();
    options.time_limit = Some(limits.time_limit);
    options.node_limit = Some(limits.node_limit);
    options.warm_start = hint.map(|plan| warm_start(&models, plan));
    // The solver is young; a panic inside it must cost this request its exact answer, not the
    // worker thread.
    let outcome = match std::panic::catch_unwind(AssertUnwindSafe(|| lp.solve_with(options))) {
        Ok(Ok(outcome)) => outcome,
        Ok(Err(microlp::Error::Infeasible)) => return Outcome::Infeasible,
        Ok(Err(error)) => {
            tracing::warn!(%error, "Schedule MILP failed; using the heuristic.");
            return Outcome::Unknown;
        }
        Err(_) => {
            tracing::warn!("Schedule MILP panicked; using the heuristic.");
            return Outcome::Unknown;
        }
    };
    let Some(solution) = outcome.solution() else {
        return Outcome::Unknown;
    };
    let plan: Vec<Vec<usize>> = models
        .iter()
        .zip(&problem.appliances)
        .map(|(model, appliance)| match model {
            Model::Starts(vars) => vars
                .iter()
                .find(|(_, v)| solution.var_value_raw(*v) > 0.5)
                .map(|(s, _)| (*s..*s + appliance.slots).collect())
                .unwrap_or_default(),
            Model::Slots { x, .. } => x
                .iter()
                .filter(|(_, v)| solution.var_value_raw(*v) > 0.5)
                .map(|(t, _)| *t)
                .collect(),
        })
        .collect();
    if problem.check(&plan).is_err() {
        // Never hand out a plan that breaks a constraint, whatever the solver believed.
        return Outcome::Unknown;
    }
    match solution.status() {
        SolutionStatus::Optimal => Outcome::Optimal(plan),
        _ => Outcome::Feasible {
            plan,
            gap: solution.gap().unwrap_or(f64::INFINITY),
        },
    }
}

/// The solver's variables set to a known plan.
fn warm_start(models: &[Model], plan: &[Vec<usize>]) -> Vec<(Variable, f64)> {
    let mut values = Vec::new();
    for (model, slots) in models.iter().zip(plan) {
        match model {
            Model::Starts(vars) => {
                let start = slots.iter().min().copied();
                values.extend(
                    vars.iter()
                        .map(|(s, v)| (*v, if Some(*s) == start { 1.0 } else { 0.0 })),
                );
            }
            Model::Slots { x, z } => {
                let on = |t: usize| slots.binary_search(&t).is_ok();
                values.extend(x.iter().map(|(t, v)| (*v, if on(*t) { 1.0 } else { 0.0 })));
                values.extend(z.iter().map(|(t, v)| {
                    let starts_run = on(*t) && (*t == 0 || !on(*t - 1));
                    (*v, if starts_run { 1.0 } else { 0.0 })
                }));
            }
        }
    }
    values
}
