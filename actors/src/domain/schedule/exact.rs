//! The exact solver: the schedule as a mixed-integer programme, solved by branch & bound.
//!
//! A contiguous appliance has one binary per feasible start (exactly one chosen); a splittable
//! one has a binary per usable slot (exactly `slots` chosen) and, with a minimum run L > 1, a
//! run-start binary z_t ≥ x_t − x_{t−1} where L usable slots follow, with the turn-on
//! inequalities x_t ≥ z_{t−L+1} + … + z_t (tighter than summing each run’s slots).
//! Appliances that can never share a slot (excluded, or over the power limit together) get one
//! row per slot and maximal clique of that conflict graph; the weighted power row stays only
//! where compatible appliances could still overload the limit together. Before any of that, choices that cannot be part of a plan cheaper than the greedy one are dropped (see
//! [`candidates`]), which keeps the programme small.

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

/// What the model may use of one appliance.
pub(super) enum Candidate {
    /// Starts of a contiguous run.
    Starts(Vec<usize>),
    /// Usable slots of a splittable run.
    Slots(Vec<bool>),
}

/// A known plan's total and each appliance's own optimum (ignoring the shared constraints):
/// together they bound what any cheaper plan may contain.
#[derive(Debug, Clone, Copy)]
pub(super) struct Incumbent<'a> {
    pub total: f64,
    pub own: &'a [f64],
}

/// Every appliance's usable starts or slots. With an incumbent, a choice is dropped when it
/// alone makes the total exceed the incumbent's: its cost (or a lower bound of every plan that
/// contains it) plus the other appliances' own optima. Every cheaper plan survives, so the
/// model stays exact, and it shrinks to the few choices near each appliance's optimum.
pub(super) fn candidates(
    problem: &Problem,
    allowed: &[Vec<bool>],
    incumbent: Option<Incumbent<'_>>,
) -> Vec<Candidate> {
    let own_sum: f64 = incumbent.map_or(0.0, |i| i.own.iter().sum());
    let tolerance = incumbent.map_or(0.0, |i| 1e-9 * (1.0 + i.total.abs()));
    problem
        .appliances
        .iter()
        .enumerate()
        .map(|(a, appliance)| {
            let budget = incumbent.map(|i| i.total - (own_sum - i.own[a]) + tolerance);
            let energy = appliance.power_kw * problem.slot_hours;
            match appliance.mode {
                RunMode::Contiguous => {
                    let mut list = starts(&allowed[a], appliance.slots);
                    if let Some(budget) = budget {
                        list.retain(|&s| {
                            problem.prices[s..s + appliance.slots].iter().sum::<f64>() * energy
                                <= budget
                        });
                    }
                    Candidate::Starts(list)
                }
                RunMode::Splittable { .. } => {
                    let mut mask = allowed[a].clone();
                    if let (Some(budget), Some(incumbent)) = (budget, incumbent) {
                        let mut sorted: Vec<f64> = (0..mask.len())
                            .filter(|t| mask[*t])
                            .map(|t| problem.prices[t])
                            .collect();
                        sorted.sort_by(f64::total_cmp);
                        if sorted.len() >= appliance.slots {
                            let cheapest: f64 = sorted[..appliance.slots].iter().sum();
                            let last = sorted[appliance.slots - 1];
                            for (t, keep) in mask.iter_mut().enumerate().filter(|(_, k)| **k) {
                                // The cheapest plan through slot t, ignoring runs and others.
                                let through =
                                    (cheapest - last + problem.prices[t].max(last)) * energy;
                                *keep = through.max(incumbent.own[a]) <= budget;
                            }
                        }
                    }
                    Candidate::Slots(mask)
                }
            }
        })
        .collect()
}

/// Binary variables the model would have.
pub(super) fn binaries(problem: &Problem, candidates: &[Candidate]) -> usize {
    problem
        .appliances
        .iter()
        .zip(candidates)
        .map(|(a, candidate)| match candidate {
            Candidate::Starts(list) => list.len(),
            Candidate::Slots(mask) => {
                let n = mask.iter().filter(|x| **x).count();
                if a.min_run() > 1 { 2 * n } else { n }
            }
        })
        .sum()
}

pub(super) fn solve(
    problem: &Problem,
    candidates: &[Candidate],
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
        match &candidates[a] {
            Candidate::Starts(list) => {
                let vars: Vec<(usize, Variable)> = list
                    .iter()
                    .copied()
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
            Candidate::Slots(mask) => {
                let x: Vec<(usize, Variable)> = (0..n)
                    .filter(|t| mask[*t])
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
                    // A run may only start where min_run allowed slots follow.
                    let mut z_at = vec![None; n];
                    for &(t, _) in &x {
                        if t + min_run <= n && (t..t + min_run).all(|u| by_slot[u].is_some()) {
                            let zt = lp.add_binary_var(0.0);
                            z_at[t] = Some(zt);
                            z.push((t, zt));
                        }
                    }
                    for &(t, xt) in &x {
                        // A run starts at t if t is on and t − 1 is not: x_t − x_{t−1} ≤ z_t.
                        let mut start = vec![(xt, 1.0)];
                        if let Some(prev) = t.checked_sub(1).and_then(|p| by_slot[p]) {
                            start.push((prev, -1.0));
                        }
                        if let Some(zt) = z_at[t] {
                            start.push((zt, -1.0));
                        }
                        lp.add_constraint(start.as_slice(), ComparisonOp::Le, 0.0);
                        // Every run started in the last min_run slots is still on (the
                        // turn-on inequality, tighter than summing the run's slots).
                        let mut on: Vec<(Variable, f64)> = vec![(xt, 1.0)];
                        on.extend(
                            ((t + 1).saturating_sub(min_run)..=t)
                                .filter_map(|u| z_at[u].map(|v| (v, -1.0))),
                        );
                        if on.len() > 1 {
                            lp.add_constraint(on.as_slice(), ComparisonOp::Ge, 0.0);
                        }
                    }
                }
                models.push(Model::Slots { x, z });
            }
        }
        occupancy.push(occ);
    }
    // Appliances that can never share a slot (excluded, or together over the power limit)
    // get one row per slot and maximal clique: at most one of them runs. In the relaxation
    // this is far tighter than the weighted power row, which is kept only where two
    // compatible appliances could still overload the limit together.
    let conflicts = conflict_graph(problem);
    let cliques = maximal_cliques(&conflicts);
    let mut seen = std::collections::HashSet::new();
    #[expect(
        clippy::needless_range_loop,
        reason = "t indexes the inner, per-slot vectors"
    )]
    for t in 0..n {
        seen.clear();
        for clique in &cliques {
            let present: Vec<usize> = clique
                .iter()
                .copied()
                .filter(|a| !occupancy[*a][t].is_empty())
                .collect();
            if present.len() < 2 || !seen.insert(present.clone()) {
                continue;
            }
            let row: Vec<(Variable, f64)> = present
                .iter()
                .flat_map(|a| occupancy[*a][t].iter().map(|v| (*v, 1.0)))
                .collect();
            lp.add_constraint(row.as_slice(), ComparisonOp::Le, 1.0);
        }
        let Some(limit) = problem.power_limit_kw else {
            continue;
        };
        let present: Vec<usize> = (0..problem.appliances.len())
            .filter(|a| !occupancy[*a][t].is_empty())
            .collect();
        let possible: f64 = present
            .iter()
            .map(|a| problem.appliances[*a].power_kw)
            .sum();
        let compatible_pair = present
            .iter()
            .enumerate()
            .any(|(i, a)| present[i + 1..].iter().any(|b| !conflicts[*a][*b]));
        if possible <= limit + 1e-9 || !compatible_pair {
            continue;
        }
        let row: Vec<(Variable, f64)> = present
            .iter()
            .flat_map(|a| {
                occupancy[*a][t]
                    .iter()
                    .map(|v| (*v, problem.appliances[*a].power_kw))
            })
            .collect();
        lp.add_constraint(row.as_slice(), ComparisonOp::Le, limit);
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
    let stats = outcome.stats();
    tracing::debug!(
        nodes = stats.nodes_solved,
        pivots = stats.lp_iterations,
        elapsed_ms = stats.elapsed.as_millis() as u64,
        gap = ?stats.gap,
        reason = ?outcome.termination_reason(),
        "Schedule MILP finished."
    );
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

/// conflicts[a][b]: appliances a and b may never run in the same slot.
fn conflict_graph(problem: &Problem) -> Vec<Vec<bool>> {
    let k = problem.appliances.len();
    let mut conflicts = vec![vec![false; k]; k];
    for &(a, b) in &problem.exclusions {
        conflicts[a][b] = true;
        conflicts[b][a] = true;
    }
    if let Some(limit) = problem.power_limit_kw {
        for (a, first) in problem.appliances.iter().enumerate() {
            for (b, second) in problem.appliances.iter().enumerate().skip(a + 1) {
                if first.power_kw + second.power_kw > limit + 1e-9 {
                    conflicts[a][b] = true;
                    conflicts[b][a] = true;
                }
            }
        }
    }
    conflicts
}

/// Maximal cliques of two or more appliances (Bron–Kerbosch with pivoting; requests hold a
/// few dozen appliances at most).
fn maximal_cliques(conflicts: &[Vec<bool>]) -> Vec<Vec<usize>> {
    fn extend(
        conflicts: &[Vec<bool>],
        clique: &mut Vec<usize>,
        mut candidates: Vec<usize>,
        mut excluded: Vec<usize>,
        out: &mut Vec<Vec<usize>>,
    ) {
        if candidates.is_empty() && excluded.is_empty() {
            if clique.len() >= 2 {
                out.push(clique.clone());
            }
            return;
        }
        let pivot = candidates
            .iter()
            .chain(&excluded)
            .copied()
            .max_by_key(|u| candidates.iter().filter(|v| conflicts[*u][**v]).count());
        let Some(pivot) = pivot else { return };
        let branch: Vec<usize> = candidates
            .iter()
            .copied()
            .filter(|v| !conflicts[pivot][*v])
            .collect();
        for v in branch {
            clique.push(v);
            let next_candidates = candidates
                .iter()
                .copied()
                .filter(|u| conflicts[v][*u])
                .collect();
            let next_excluded = excluded
                .iter()
                .copied()
                .filter(|u| conflicts[v][*u])
                .collect();
            extend(conflicts, clique, next_candidates, next_excluded, out);
            clique.pop();
            candidates.retain(|u| *u != v);
            excluded.push(v);
        }
    }
    let mut out = Vec::new();
    extend(
        conflicts,
        &mut Vec::new(),
        (0..conflicts.len()).collect(),
        Vec::new(),
        &mut out,
    );
    out
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

#[cfg(test)]
mod tests {
    use super::maximal_cliques;

    fn graph(k: usize, edges: &[(usize, usize)]) -> Vec<Vec<bool>> {
        let mut g = vec![vec![false; k]; k];
        for &(a, b) in edges {
            g[a][b] = true;
            g[b][a] = true;
        }
        g
    }

    fn sorted(mut cliques: Vec<Vec<usize>>) -> Vec<Vec<usize>> {
        cliques.iter_mut().for_each(|c| c.sort_unstable());
        cliques.sort();
        cliques
    }

    #[test]
    fn finds_every_maximal_clique_once() {
        // A triangle 0-1-2 with a tail 2-3, and 4 on its own.
        let g = graph(5, &[(0, 1), (1, 2), (0, 2), (2, 3)]);
        assert_eq!(sorted(maximal_cliques(&g)), vec![vec![0, 1, 2], vec![2, 3]]);
    }

    #[test]
    fn no_conflicts_means_no_cliques() {
        assert!(maximal_cliques(&graph(4, &[])).is_empty());
        let complete = graph(4, &[(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)]);
        assert_eq!(sorted(maximal_cliques(&complete)), vec![vec![0, 1, 2, 3]]);
    }
}
