//! The heuristic: place the least flexible appliances first, each at its cheapest plan in the
//! room the others leave (power headroom, exclusions), then re-place each appliance against all
//! the others until no move saves anything.

use super::{Problem, single};

/// Rounds of re-placement after the first pass.
const IMPROVEMENT_ROUNDS: usize = 8;

/// A feasible plan, or `None` when greedy placement runs out of room.
pub(super) fn solve(problem: &Problem, allowed: &[Vec<bool>]) -> Option<Vec<Vec<usize>>> {
    let count = problem.appliances.len();
    let mut order: Vec<usize> = (0..count).collect();
    // Fewest spare slots first; among equals, the heavier load first.
    order.sort_by(|&a, &b| {
        let slack = |i: usize| {
            allowed[i]
                .iter()
                .filter(|x| **x)
                .count()
                .saturating_sub(problem.appliances[i].slots)
        };
        slack(a).cmp(&slack(b)).then(
            problem.appliances[b]
                .power_kw
                .total_cmp(&problem.appliances[a].power_kw),
        )
    });
    let mut plan: Vec<Option<Vec<usize>>> = vec![None; count];
    for &a in &order {
        plan[a] = Some(place(problem, allowed, &plan, a)?);
    }
    let mut plan: Vec<Vec<usize>> = plan.into_iter().map(|p| p.unwrap_or_default()).collect();
    for _ in 0..IMPROVEMENT_ROUNDS {
        let mut improved = false;
        for a in 0..count {
            let current = problem.cost(a, &plan[a]);
            let mut others: Vec<Option<Vec<usize>>> = plan.iter().cloned().map(Some).collect();
            others[a] = None;
            if let Some(better) = place(problem, allowed, &others, a)
                && problem.cost(a, &better) < current - 1e-9
            {
                plan[a] = better;
                improved = true;
            }
        }
        if !improved {
            break;
        }
    }
    Some(plan)
}

/// The cheapest plan of appliance `a` in the room the placed appliances leave.
fn place(
    problem: &Problem,
    allowed: &[Vec<bool>],
    placed: &[Option<Vec<usize>>],
    a: usize,
) -> Option<Vec<usize>> {
    let n = problem.prices.len();
    let mut room = allowed[a].clone();
    if let Some(limit) = problem.power_limit_kw {
        let mut load = vec![0.0; n];
        for (i, slots) in placed.iter().enumerate() {
            for &t in slots.iter().flatten() {
                load[t] += problem.appliances[i].power_kw;
            }
        }
        for (t, free) in room.iter_mut().enumerate() {
            *free &= load[t] + problem.appliances[a].power_kw <= limit + 1e-9;
        }
    }
    for &(x, y) in &problem.exclusions {
        let other = if x == a {
            y
        } else if y == a {
            x
        } else {
            continue;
        };
        for &t in placed[other].iter().flatten() {
            room[t] = false;
        }
    }
    single::best(&problem.appliances[a], &problem.prices, &room)
}
