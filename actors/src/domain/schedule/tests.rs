use super::*;
use crate::rng::SplitMix64;

/// Every valid plan of one appliance on its own (small horizons only).
fn plans_of(problem: &Problem, a: usize) -> Vec<Vec<usize>> {
    let appliance = &problem.appliances[a];
    let allowed = appliance.allowed(&problem.prices);
    let n = problem.prices.len();
    (0u32..1 << n)
        .filter(|mask| mask.count_ones() as usize == appliance.slots)
        .map(|mask| (0..n).filter(|t| mask & (1 << t) != 0).collect::<Vec<_>>())
        .filter(|slots| {
            slots.iter().all(|t| allowed[*t])
                && runs(slots).iter().all(|r| r.len() >= appliance.min_run())
        })
        .collect()
}

/// The cheapest feasible plan by trying every combination.
fn brute_force(problem: &Problem) -> Option<f64> {
    let options: Vec<Vec<Vec<usize>>> = (0..problem.appliances.len())
        .map(|a| plans_of(problem, a))
        .collect();
    let mut best: Option<f64> = None;
    let mut choice = vec![0usize; options.len()];
    if options.iter().any(|o| o.is_empty()) {
        return None;
    }
    loop {
        let plan: Vec<Vec<usize>> = choice
            .iter()
            .zip(&options)
            .map(|(c, o)| o[*c].clone())
            .collect();
        if problem.check(&plan).is_ok() {
            let cost: f64 = plan
                .iter()
                .enumerate()
                .map(|(a, s)| problem.cost(a, s))
                .sum();
            best = Some(best.map_or(cost, |b: f64| b.min(cost)));
        }
        let mut i = 0;
        loop {
            if i == choice.len() {
                return best;
            }
            choice[i] += 1;
            if choice[i] < options[i].len() {
                break;
            }
            choice[i] = 0;
            i += 1;
        }
    }
}

fn random_problem(rng: &mut SplitMix64) -> Problem {
    let n = 8 + (rng.next_u64() % 3) as usize;
    let prices: Vec<f64> = (0..n)
        .map(|_| (rng.normal() * 0.1 + 0.2) * 100.0)
        .map(|p: f64| p.round() / 100.0)
        .collect();
    let count = 2 + (rng.next_u64() % 2) as usize;
    let appliances = (0..count)
        .map(|_| {
            let slots = 1 + (rng.next_u64() % 3) as usize;
            let earliest = (rng.next_u64() % 3) as usize;
            let deadline = n - (rng.next_u64() % 2) as usize;
            let mode = if rng.next_u64().is_multiple_of(2) {
                RunMode::Contiguous
            } else {
                RunMode::Splittable {
                    min_run: 1 + (rng.next_u64() % 2) as usize,
                }
            };
            let price_cap = if rng.next_u64().is_multiple_of(4) {
                Some(0.25)
            } else {
                None
            };
            Appliance {
                power_kw: [1.0, 2.0, 3.0][(rng.next_u64() % 3) as usize],
                slots,
                earliest,
                deadline,
                mode,
                price_cap,
            }
        })
        .collect();
    let power_limit_kw = if rng.next_u64().is_multiple_of(3) {
        None
    } else {
        Some(3.0 + (rng.next_u64() % 3) as f64)
    };
    let exclusions = if rng.next_u64().is_multiple_of(2) {
        vec![(0, 1)]
    } else {
        Vec::new()
    };
    Problem {
        prices,
        slot_hours: 0.25,
        appliances,
        power_limit_kw,
        exclusions,
    }
}

#[test]
fn exact_answers_match_exhaustive_search_and_satisfy_every_constraint() {
    let mut rng = SplitMix64::new(2024);
    let (mut solved, mut infeasible, mut coupled) = (0, 0, 0);
    for _ in 0..150 {
        let problem = random_problem(&mut rng);
        let expected = brute_force(&problem);
        match (problem.solve(&SolveLimits::default()), expected) {
            (Ok(schedule), Some(best)) => {
                problem.check(&schedule.slots).unwrap();
                assert_eq!(schedule.status, SolverStatus::Optimal, "{problem:?}");
                assert!(
                    (schedule.total - best).abs() < 1e-9,
                    "{} vs {best} for {problem:?}",
                    schedule.total
                );
                assert!(schedule.lower_bound <= schedule.total + 1e-9);
                coupled += usize::from(schedule.method != Method::Independent);
                solved += 1;
            }
            (Err(_), None) => infeasible += 1,
            (got, expected) => panic!("solver {got:?}, exhaustive {expected:?} for {problem:?}"),
        }
    }
    assert!(
        solved > 80 && infeasible > 0 && coupled > 10,
        "{solved} solved, {infeasible} infeasible, {coupled} coupled"
    );
}

fn flat(prices: &[f64], appliances: Vec<Appliance>) -> Problem {
    Problem {
        prices: prices.to_vec(),
        slot_hours: 1.0,
        appliances,
        power_limit_kw: None,
        exclusions: Vec::new(),
    }
}

fn contiguous(power_kw: f64, slots: usize, earliest: usize, deadline: usize) -> Appliance {
    Appliance {
        power_kw,
        slots,
        earliest,
        deadline,
        mode: RunMode::Contiguous,
        price_cap: None,
    }
}

#[test]
fn infeasible_requests_name_the_constraint_that_fails() {
    let prices = [0.3, 0.1, 0.2, 0.4];
    let limits = SolveLimits::default();
    let short = flat(&prices, vec![contiguous(1.0, 3, 2, 4)]);
    assert_eq!(
        short.solve(&limits),
        Err(Infeasible::Window { appliance: 0 })
    );
    let mut capped = flat(&prices, vec![contiguous(1.0, 2, 0, 4)]);
    capped.appliances[0].price_cap = Some(0.15);
    assert_eq!(
        capped.solve(&limits),
        Err(Infeasible::PriceCap { appliance: 0 })
    );
    let mut heavy = flat(&prices, vec![contiguous(5.0, 1, 0, 4)]);
    heavy.power_limit_kw = Some(3.0);
    assert_eq!(
        heavy.solve(&limits),
        Err(Infeasible::PowerLimit { appliance: 0 })
    );
    let mut shared = flat(
        &prices,
        vec![contiguous(2.0, 3, 0, 4), contiguous(2.0, 3, 0, 4)],
    );
    shared.power_limit_kw = Some(3.0);
    assert_eq!(shared.solve(&limits), Err(Infeasible::SharedPowerLimit));
    let mut excluded = flat(
        &prices,
        vec![contiguous(1.0, 3, 0, 4), contiguous(1.0, 2, 0, 4)],
    );
    excluded.exclusions = vec![(0, 1)];
    assert_eq!(excluded.solve(&limits), Err(Infeasible::Exclusions));
}

#[test]
fn binding_power_limit_moves_the_second_appliance_and_stays_exact() {
    // Both want slots 1–2; the limit lets only one of them run there.
    let prices = [0.30, 0.05, 0.06, 0.20, 0.25, 0.40];
    let mut problem = flat(
        &prices,
        vec![contiguous(2.0, 2, 0, 6), contiguous(3.0, 2, 0, 6)],
    );
    problem.power_limit_kw = Some(4.0);
    let schedule = problem.solve(&SolveLimits::default()).unwrap();
    problem.check(&schedule.slots).unwrap();
    assert_eq!(schedule.method, Method::Milp);
    assert_eq!(schedule.status, SolverStatus::Optimal);
    // The heavier appliance gets the cheap slots: 3·0.11 + 2·0.45 < 2·0.11 + 3·0.45.
    assert_eq!(schedule.slots, vec![vec![3, 4], vec![1, 2]]);
    assert!(schedule.total > schedule.lower_bound);
}

#[test]
fn large_problems_use_the_heuristic_and_report_a_gap() {
    let mut rng = SplitMix64::new(5);
    let prices: Vec<f64> = (0..672)
        .map(|t| 0.2 + 0.1 * ((t as f64) / 14.0).sin() + 0.02 * rng.normal())
        .collect();
    let appliances = (0..5)
        .map(|i| Appliance {
            power_kw: 1.0 + i as f64,
            slots: 8 + 4 * i,
            earliest: 0,
            deadline: 672,
            mode: if i % 2 == 0 {
                RunMode::Contiguous
            } else {
                RunMode::Splittable { min_run: 4 }
            },
            price_cap: None,
        })
        .collect();
    let problem = Problem {
        prices,
        slot_hours: 0.25,
        appliances,
        power_limit_kw: Some(6.0),
        exclusions: vec![(0, 2)],
    };
    let limits = SolveLimits {
        max_exact_binaries: 100,
        ..SolveLimits::default()
    };
    let schedule = problem.solve(&limits).unwrap();
    problem.check(&schedule.slots).unwrap();
    assert_eq!(schedule.method, Method::Greedy);
    match schedule.status {
        SolverStatus::Heuristic { gap } => assert!(gap >= 0.0 && gap.is_finite()),
        SolverStatus::Optimal => assert!((schedule.total - schedule.lower_bound).abs() < 1e-9),
    }
}
